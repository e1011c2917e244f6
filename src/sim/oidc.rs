//! GitHub Actions' OIDC issuer, as the simulator plays it for the runs it executes
//! (docs.github.com: "About security hardening with OpenID Connect"): a discovery document
//! at `/oidc/.well-known/openid-configuration`, the signing keys at `/oidc/jwks`, and RS256
//! tokens with the claims GitHub puts in them (`repository`, `repository_id`, `run_id`,
//! `run_attempt`, `sha`, `ref`, `workflow_ref`, `event_name`, …). Tests take a run's claims,
//! change what they mean to break, and sign them — with the issuer's key or another. A job's
//! own way to a token is played too: [`Simulator::actions_token_request`](super::Simulator)
//! gives the `ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN` a runner would set, and
//! `GET /oidc/token?…&audience=…` with that bearer answers `{"value": <token>}`.
//! Must not: issue a token for a run the simulator does not have.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use super::Inner;
use super::keys;
use super::state::SimState;

/// The `kid` of the issuer's key.
pub const KEY_ID: &str = "sim-actions-oidc-1";

/// A token lasts this long, as GitHub's do (about five minutes), in s.
const LIFETIME_S: i64 = 300;

/// The issuer's URL (`iss`) for a simulator at `base`.
pub fn issuer(base: &url::Url) -> String {
    format!("{}oidc", base.as_str())
}

pub(crate) fn handle(
    inner: &Inner,
    method: &http::Method,
    path: &str,
    query: &str,
    authorization: Option<&str>,
) -> Option<Response> {
    let body = match path {
        "/oidc/token" => return Some(job_token(inner, query, authorization)),
        "/oidc/.well-known/openid-configuration" => {
            let iss = issuer(&inner.state.lock().expect("simulator state").base);
            json!({
                "issuer": iss,
                "jwks_uri": format!("{iss}/jwks"),
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                    "sha", "repository", "repository_id", "run_id", "run_attempt",
                    "workflow_ref", "event_name"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
            })
        }
        "/oidc/jwks" => {
            inner
                .state
                .lock()
                .expect("simulator state")
                .oidc_key_fetches += 1;
            jwks()
        }
        _ => return None,
    };
    if method != http::Method::GET {
        return Some(StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    Some(axum::Json(body).into_response())
}

/// A job asks for its token: the bearer names the run it was issued to (as the runner's
/// request token does), the query the audience.
fn job_token(inner: &Inner, query: &str, authorization: Option<&str>) -> Response {
    let mut s = inner.state.lock().expect("simulator state");
    let run = authorization
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .and_then(|t| s.job_token_requests.get(t).cloned());
    let Some((repo, run_id)) = run else {
        s.violations
            .push("OIDC token request without a job's request token".into());
        return (StatusCode::UNAUTHORIZED, "a job's request token is needed").into_response();
    };
    let audience = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v.into_owned());
    let Some(audience) = audience else {
        return (StatusCode::BAD_REQUEST, "audience is needed").into_response();
    };
    match s.oidc_claims(&repo, run_id, &audience) {
        Some(claims) => axum::Json(json!({ "value": sign(&claims) })).into_response(),
        None => (StatusCode::NOT_FOUND, "no such run").into_response(),
    }
}

/// The issuer's public keys, as a JWK set.
fn jwks() -> Value {
    let pair = keys::app_key_pair(2);
    let key = rsa::RsaPublicKey::from_pkcs1_pem(&pair.public_pem).expect("issuer key");
    let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    json!({"keys": [{
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": KEY_ID,
        "n": b64(key.n().to_bytes_be()),
        "e": b64(key.e().to_bytes_be()),
    }]})
}

impl SimState {
    /// The claims of a token GitHub would issue now to run `run_id` of `full_name` for
    /// `audience`; `None` when there is no such run.
    pub fn oidc_claims(&mut self, full_name: &str, run_id: u64, audience: &str) -> Option<Value> {
        let now = self.now().timestamp();
        let iss = issuer(&self.base);
        let jti = self.next_id();
        let repo = self.repos.get(full_name)?;
        let run = repo.runs.get(&run_id)?;
        let workflow = repo.workflows.get(&run.workflow_id)?;
        let git_ref = format!("refs/heads/{}", run.head_branch);
        Some(json!({
            "jti": format!("sim-{jti}"),
            "sub": format!("repo:{full_name}:ref:{git_ref}"),
            "aud": audience,
            "ref": git_ref,
            "sha": run.head_sha,
            "repository": full_name,
            "repository_owner": repo.owner,
            "repository_id": repo.id.to_string(),
            "repository_visibility": if repo.private { "private" } else { "public" },
            "run_id": run.id.to_string(),
            "run_number": run.run_number.to_string(),
            "run_attempt": run.attempt.to_string(),
            "actor": run.actor,
            "workflow": workflow.name,
            "event_name": run.event,
            "ref_type": "branch",
            "workflow_ref": format!("{full_name}/{}@{git_ref}", workflow.path),
            "job_workflow_ref": format!("{full_name}/{}@{git_ref}", workflow.path),
            "iss": iss,
            "nbf": now - 5,
            "iat": now,
            "exp": now + LIFETIME_S,
        }))
    }
}

/// `claims` signed RS256 with the issuer's key (`kid` [`KEY_ID`]).
pub fn sign(claims: &Value) -> String {
    sign_with(claims, &keys::app_key_pair(2).private_pem)
}

/// `claims` signed with another key that claims to be the issuer's (`kid` [`KEY_ID`]): a
/// forgery.
pub fn forge(claims: &Value) -> String {
    sign_with(claims, &keys::app_key_pair(0).private_pem)
}

fn sign_with(claims: &Value, pem: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KEY_ID.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA key");
    jsonwebtoken::encode(&header, claims, &key).expect("token signs")
}
