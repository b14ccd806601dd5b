//! Ports on loopback, how a client reaches a listen address, and the
//! one-request HTTP probe readiness checks use.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;

/// Whether nothing listens on 127.0.0.1:`port`.
#[must_use]
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port nothing listens on right now (the kernel's pick). Another program
/// may take it before ours binds it; callers that can tell retry.
///
/// # Errors
/// When no socket can be bound at all.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free TCP port")?;
    Ok(listener
        .local_addr()
        .context("finding a free TCP port")?
        .port())
}

/// The host a client on this machine uses for a listen address: a
/// wildcard is reached on loopback, an IPv6 literal is bracketed.
#[must_use]
pub fn client_host(listen: &str) -> String {
    match listen.trim_start_matches('[').trim_end_matches(']') {
        "0.0.0.0" | "" => "127.0.0.1".to_owned(),
        "::" => "[::1]".to_owned(),
        literal if literal.contains(':') => format!("[{literal}]"),
        name => name.to_owned(),
    }
}

/// `http://host:port` for a server listening on `listen`:`port`.
#[must_use]
pub fn http_base(listen: &str, port: u16) -> String {
    format!("http://{}:{port}", client_host(listen))
}

/// The status code of one `GET path` to `host`:`port` over a fresh
/// connection (1 s to connect, 2 s for the answer), or `None` when nothing
/// answers HTTP there: the readiness probe of servers, proxies and
/// Prometheus alike, which must not depend on a client library's pool.
#[must_use]
pub fn http_status(host: &str, port: u16, path: &str) -> Option<u16> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let address: SocketAddr = (host, port).to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).ok()?;
    status_code(&head)
}

/// The code in a status line's first 12 bytes (`HTTP/1.1 200`).
fn status_code(head: &[u8]) -> Option<u16> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let digits = std::str::from_utf8(rest).ok()?;
    if digits.len() != 3 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_are_reached_on_loopback() {
        assert_eq!(http_base("127.0.0.1", 8080), "http://127.0.0.1:8080");
        assert_eq!(http_base("0.0.0.0", 3000), "http://127.0.0.1:3000");
        assert_eq!(http_base("::", 8080), "http://[::1]:8080");
        assert_eq!(http_base("[::]", 8080), "http://[::1]:8080");
        assert_eq!(http_base("::1", 8080), "http://[::1]:8080");
        assert_eq!(http_base("localhost", 80), "http://localhost:80");
    }

    #[test]
    fn reads_the_status_line() {
        assert_eq!(status_code(b"HTTP/1.1 200"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 20"), None);
        assert_eq!(status_code(b"SSH-2.0-Open"), None);
        // Nothing listens on port 1.
        assert_eq!(http_status("127.0.0.1", 1, "/"), None);
    }

    #[test]
    fn a_free_port_is_free() {
        let port = free_port().unwrap();
        assert!(port_is_free(port));
        let _held = TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert!(!port_is_free(port));
    }
}
