//! The yardstick for `bench/ingest.sh`: a bare axum handler that does only what any webhook
//! receiver must — verify `X-Hub-Signature-256` (HMAC-SHA256, constant time) and parse the
//! whole body into a `serde_json::Value` — and answers 202 without storing anything. Same
//! runtime (`tokio::runtime::Runtime::new`), same axum, same body limit as `shipgate serve`,
//! so the script can print shipgate's durable intake as a ratio of it, measured in one run.
//!
//! `cargo run --release --example bare_ingest -- ADDRESS SECRET`

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// GitHub caps payloads at 25 MB (as `shipgate serve` does).
const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

async fn receive(
    State(secret): State<&'static [u8]>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let claimed = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok());
    let Some(claimed) = claimed else {
        return StatusCode::UNAUTHORIZED;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(&body);
    if mac.verify_slice(&claimed).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(_)) => StatusCode::ACCEPTED,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(secret)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_ingest ADDRESS SECRET");
        std::process::exit(2);
    };
    let secret: &'static [u8] = Box::leak(secret.into_bytes().into_boxed_slice());
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    runtime.block_on(async move {
        let app = Router::new()
            .route("/api/github/webhooks", post(receive))
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(secret);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .expect("the address is free");
        axum::serve(listener, app).await.expect("serves");
    });
}
