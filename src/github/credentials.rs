//! The GitHub App's credentials, and the JWT that proves shipgate is that App.
//!
//! Owns: parsing the App's private key, signing App JWTs (RS256, `iat` 60 s in the past,
//! `exp` 9 minutes ahead, `iss` = App ID), and redacting all of it from `Debug`.
//! Must not: log or format a key, a secret or a signed token.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How far in the past `iat` is set, to absorb clock drift between shipgate and GitHub.
pub const JWT_BACKDATE_SECS: i64 = 60;
/// How far ahead `exp` is set; GitHub refuses more than 10 minutes.
pub const JWT_LIFETIME_SECS: i64 = 9 * 60;

/// The App's RSA private key, ready to sign.
#[derive(Clone)]
pub struct AppKey {
    encoding: EncodingKey,
    /// HMAC-SHA256 of a fixed label under the PEM: a 32-byte key only this App's operator
    /// has (GitHub holds the public key alone), for what shipgate encrypts at rest.
    derived: [u8; 32],
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not an RSA private key in PEM format")]
pub struct KeyError;

impl AppKey {
    /// Accepts the PKCS#1 PEM GitHub hands out (`BEGIN RSA PRIVATE KEY`) and PKCS#8.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let valid = rsa::RsaPrivateKey::from_pkcs1_pem(pem).is_ok()
            || rsa::RsaPrivateKey::from_pkcs8_pem(pem).is_ok();
        if !valid {
            return Err(KeyError);
        }
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyError)?;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(pem.as_bytes())
            .expect("HMAC takes a key of any length");
        hmac::Mac::update(&mut mac, b"shipgate: encryption at rest, v1");
        let derived = hmac::Mac::finalize(mac).into_bytes().into();
        Ok(Self { encoding, derived })
    }

    /// A 32-byte secret derived from the private key (changes when the key is rotated).
    pub fn derived_secret(&self) -> &[u8; 32] {
        &self.derived
    }
}

/// The claims of an App JWT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppJwtClaims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl AppJwtClaims {
    pub fn at(app_id: u64, now: DateTime<Utc>) -> Self {
        let now = now.timestamp();
        Self {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: app_id.to_string(),
        }
    }
}

/// Everything that identifies shipgate as one GitHub App.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    pub key: AppKey,
    pub webhook_secret: SecretString,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub slug: Option<String>,
}

impl AppCredentials {
    /// Signs a JWT that authenticates as the App (not as an installation) at `now`.
    pub fn jwt(&self, now: DateTime<Utc>) -> SecretString {
        let claims = AppJwtClaims::at(self.app_id, now);
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key.encoding)
                .expect("RS256 signing with a validated RSA key does not fail");
        SecretString::from(token)
    }

    /// The login GitHub gives the App's bot user, whose own comments and labels shipgate ignores.
    pub fn bot_login(&self) -> Option<String> {
        self.slug.as_ref().map(|slug| format!("{slug}[bot]"))
    }
}
