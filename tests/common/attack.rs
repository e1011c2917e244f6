//! An attacker's connections on loopback, for the intake tests and `benches/edge.rs`:
//! connect from another address of 127/8 and hold a connection open the way a slow or idle
//! client does, recording how long shipgate kept it and what it answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection to `to` from `from` (e.g. `127.0.0.2`; all of 127/8 is loopback on Linux).
pub async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    let local = format!("{from}:0")
        .parse()
        .map_err(|_| std::io::Error::other("not an IPv4 address"))?;
    socket.bind(local)?;
    socket.connect(to).await
}

/// What became of one attacking connection: how long it stayed open and what it was told.
pub struct Ended {
    pub after: Duration,
    pub answer: String,
}

impl Ended {
    /// Refused at once: shipgate answered 503 (a connection cap, or the memory for bodies).
    pub fn refused(&self) -> bool {
        self.answer.starts_with("HTTP/1.1 503")
    }
}

/// Holds `stream` open, sending `drip` one byte every `every` (nothing if empty), until
/// shipgate closes it or `limit` passes.
pub async fn hold(
    mut stream: TcpStream,
    drip: &'static [u8],
    every: Duration,
    limit: Duration,
) -> Ended {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next = 0;
    let mut tick = tokio::time::interval(every);
    while started.elapsed() < limit {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick() => {
                if next < drip.len() {
                    let _ = stream.write_all(&drip[next..next + 1]).await;
                    next += 1;
                }
            }
        }
    }
    Ended {
        after: started.elapsed(),
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}
