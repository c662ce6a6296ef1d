//! Requests written by hand on a raw connection: for what an HTTP client library hides
//! (stalled bodies, header timeouts, the exact response head).

use super::Server;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A connection to the sandbox listener.
pub async fn connect(s: &Server) -> TcpStream {
    let addr = s.url("").trim_start_matches("http://").to_string();
    TcpStream::connect(addr).await.unwrap()
}

/// Reads one response head from `tcp`, or `None` when the server closed the connection first.
pub async fn head_of(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).to_ascii_lowercase())
}

/// The status of one response read from `tcp` (`None`: closed first).
pub async fn status_of(tcp: &mut TcpStream) -> Option<u16> {
    status_in(&head_of(tcp).await?)
}

pub fn status_in(head: &str) -> Option<u16> {
    head.split(' ').nth(1)?.parse().ok()
}

/// Waits until the server closes `tcp` (reads return nothing), at most `within`.
pub async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The headers of an upload of `declared` bytes to `path` whose body never comes.
pub fn stalled_upload(path: &str, credentials: &str, declared: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: selo\r\nContent-Type: application/json\r\n{credentials}Content-Length: {declared}\r\n\r\n"
    )
}
