//! Signing a person in with the App (GitHub's web application flow for GitHub Apps, with
//! PKCE): the authorize URL on GitHub's web host, and the exchange of the code GitHub sends
//! back for a user access token (`POST /login/oauth/access_token`). Source: GitHub Docs,
//! "Generating a user access token for a GitHub App".
//! GitHub answers a refused exchange with 200 and `{"error": …}`; that is an error here.
//! Must not: log the code, the verifier or the token.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// What the exchange gives.
pub struct UserAccess {
    pub token: SecretString,
    /// Seconds the token lives (GitHub's expiring user tokens: 8 h); none if it does not
    /// expire.
    pub expires_in: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// GitHub refused the code (expired, used, or the verifier does not match).
    #[error("GitHub refused the sign-in: {0}")]
    Refused(String),
    #[error("GitHub could not be reached to finish the sign-in: {0}")]
    Transport(String),
}

/// Where to send the browser: `{web}login/oauth/authorize` with the App's client id, the
/// callback, `state` and the S256 PKCE challenge.
pub fn authorize_url(
    web: &Url,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> Url {
    let mut url = web
        .join("login/oauth/authorize")
        .expect("a relative path joins");
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Exchanges `code` (with the PKCE `verifier`) for a user access token.
pub async fn exchange(
    web: &Url,
    client_id: &str,
    client_secret: &SecretString,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<UserAccess, OAuthError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| OAuthError::Transport(e.to_string()))?;
    let url = web
        .join("login/oauth/access_token")
        .expect("a relative path joins");
    let answer = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
    if !answer.status().is_success() {
        return Err(OAuthError::Transport(format!(
            "answered {}",
            answer.status()
        )));
    }
    let answer: Answer = answer
        .json()
        .await
        .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
    match (answer.access_token, answer.error) {
        (Some(token), None) => Ok(UserAccess {
            token: SecretString::from(token),
            expires_in: answer.expires_in,
        }),
        (_, error) => Err(OAuthError::Refused(
            answer
                .error_description
                .or(error)
                .unwrap_or_else(|| "no token in the answer".into()),
        )),
    }
}
