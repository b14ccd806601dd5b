//! Ports on loopback, and how a client reaches a listen address.

use std::net::TcpListener;

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
    fn a_free_port_is_free() {
        let port = free_port().unwrap();
        assert!(port_is_free(port));
        let _held = TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert!(!port_is_free(port));
    }
}
