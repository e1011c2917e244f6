//! The listening socket: HTTP/1.1 connections accepted within limits an outsider cannot
//! outlast, each served by the router with its client's address attached.
//!
//! Owns: the accept loop; the connection caps (in total, and per client — see [`Client`]);
//! the header timeout, which is also the idle timeout (hyper counts it from the moment a
//! connection waits for a request: when it opens and after each response); the size of a
//! request head; raising the descriptor limit at start; graceful shutdown of open connections.
//! Must not: read bodies (handlers do, within their own budget) or wait for a slot: a
//! connection over a cap is answered 503 and closed at once.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::shares::{Client, Shares};
use crate::settings::IntakeLimits;

/// Descriptors kept for everything that is not a client connection: the database pool,
/// requests to GitHub, health probes, files.
pub const RESERVED_DESCRIPTORS: u64 = 256;
/// A request line and headers larger than this are answered 431 (GitHub's delivery headers
/// are well under 2 KiB).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The client a request came from, attached to every request as an extension.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub client: Client,
}

/// Raises this process's soft descriptor limit (`RLIMIT_NOFILE`) to its hard limit where the
/// system allows, and returns the soft limit now in force (descriptors).
pub fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct passed, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    limit.rlim_cur
}

/// The connection cap that fits under `descriptors`: at most `wanted`, and never so many that
/// the process runs out of descriptors for its own work (at least 16).
pub fn fit_connections(wanted: usize, descriptors: u64) -> usize {
    let room = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Serves `router` on `listener` until `stop` completes, then lets the open connections finish
/// the request under way (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: IntakeLimits,
    stop: impl Future<Output = ()>,
) {
    let connections = Shares::new(limits.max_connections, limits.max_connections_per_client);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    let http = Arc::new(http);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, addr) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let client = Client::of(addr.ip());
        let Some(slot) = connections.take(client, 1) else {
            refuse(stream, &connections, client);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let peer = Peer { addr, client };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(peer);
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a header timeout): nothing to answer.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over a cap with a 503 it can read, if its socket takes the bytes at
/// once, and closes it: what the client already sent is read first and the sending side shut
/// before the close, so the kernel does not reset the connection over unread bytes (and lose
/// the answer) unless the client sent more than one read takes.
fn refuse(stream: TcpStream, connections: &Shares, client: Client) {
    let (total, mine) = connections.held(client);
    let message = if mine >= connections.per_client() {
        format!(
            "too many connections from your address (at most {}); close some and try again",
            connections.per_client()
        )
    } else {
        format!(
            "shipgate has as many connections open as it serves (at most {}); try again shortly",
            connections.total()
        )
    };
    tracing::debug!(total, from_client = mine, "connection refused: over a cap");
    let body = serde_json::json!({ "message": message }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut sent = [0u8; 8192];
    let _ = stream.try_read(&mut sent);
    let _ = stream.try_write(answer.as_bytes());
    if let Ok(stream) = stream.into_std() {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_under_the_descriptor_limit() {
        assert_eq!(fit_connections(4096, 1_048_576), 4096);
        assert_eq!(fit_connections(4096, 1024), 1024 - 256);
        assert_eq!(fit_connections(4096, 100), 16);
    }
}
