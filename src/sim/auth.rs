//! Who is calling the simulator, checked the way GitHub checks it: an App JWT must be RS256,
//! signed by the App's key, with `iss` = App ID, `iat` not in the future and `exp` at most
//! ten minutes ahead; an installation token must be one the simulator issued and not expired.
//! Must not: accept a credential GitHub would refuse.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::state::SimState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    App,
    Installation(u64),
    /// A user access token for the App: acts as that user.
    User(String),
}

/// Why a credential was refused (the 401 message GitHub would give).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: serde_json::Value,
}

/// Tolerance for an `iat` slightly ahead of GitHub's clock (`exp` gets none: more than ten
/// minutes ahead is refused).
const SKEW_SECS: i64 = 30;

pub fn verify_app_jwt(state: &SimState, token: &str, now: DateTime<Utc>) -> Result<(), Refused> {
    let key = DecodingKey::from_rsa_pem(state.app.public_key_pem.as_bytes())
        .map_err(|_| Refused("the App's public key is unusable".into()))?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| Refused("A JSON web token could not be decoded".into()))?;
    if header.alg != Algorithm::RS256 {
        return Err(Refused(format!(
            "JWT algorithm must be RS256, not {:?}",
            header.alg
        )));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    // Time claims are checked below against the simulator's clock, not the system's.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|_| Refused("A JSON web token could not be decoded (bad signature)".into()))?;
    let claims = data.claims;
    let iss_matches = match &claims.iss {
        serde_json::Value::Number(n) => n.as_u64() == Some(state.app.id),
        serde_json::Value::String(s) => *s == state.app.id.to_string() || *s == state.app.client_id,
        _ => false,
    };
    if !iss_matches {
        return Err(Refused(
            "'Issuer' claim ('iss') must be the App ID or client ID".into(),
        ));
    }
    let now = now.timestamp();
    if claims.iat > now + SKEW_SECS {
        return Err(Refused(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        ));
    }
    if claims.exp <= now {
        return Err(Refused(
            "'Expiration time' claim ('exp') is in the past".into(),
        ));
    }
    if claims.exp > now + 600 {
        return Err(Refused(
            "'Expiration time' claim ('exp') is too far in the future".into(),
        ));
    }
    if claims.exp <= claims.iat {
        return Err(Refused(
            "'Expiration time' claim ('exp') must be after 'iat'".into(),
        ));
    }
    Ok(())
}

/// Identifies the caller from an `Authorization` header value.
pub fn identify(state: &SimState, authorization: Option<&str>) -> Result<Caller, Refused> {
    let Some(value) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Refused("Bad credentials".into()))?;
    let bearer = scheme.eq_ignore_ascii_case("bearer");
    if !bearer && !scheme.eq_ignore_ascii_case("token") {
        return Err(Refused("Bad credentials".into()));
    }
    let token = token.trim();
    if token.matches('.').count() == 2 {
        if !bearer {
            return Err(Refused(
                "A JSON web token must be sent as `Authorization: Bearer <jwt>`".into(),
            ));
        }
        verify_app_jwt(state, token, state.now())?;
        return Ok(Caller::App);
    }
    if let Some(t) = state.user_tokens.get(token) {
        return if t.expires_at > state.now() {
            Ok(Caller::User(t.login.clone()))
        } else {
            Err(Refused(
                "Bad credentials (the user token has expired)".into(),
            ))
        };
    }
    match state.tokens.get(token) {
        Some(t) if t.expires_at > state.now() => Ok(Caller::Installation(t.installation_id)),
        Some(_) => Err(Refused(
            "Bad credentials (the installation token has expired)".into(),
        )),
        None => Err(Refused("Bad credentials".into())),
    }
}
