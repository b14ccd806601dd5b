//! The API's listening socket.
//!
//! Why not `std::net::TcpListener::bind`: it asks the kernel for a backlog
//! of 128 connections not yet accepted. At a launch thousands of buyers
//! connect within a second; past the backlog the kernel drops their SYNs
//! and each retries only after a second, so a quarter of a 5,000-buyer
//! flood waited a second before the server even saw it. The backlog asked
//! for here is capped by the kernel's `net.core.somaxconn` (4,096 by
//! default on current kernels).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel may hold for the server before it accepts them.
pub const BACKLOG: i32 = 4_096;

/// Binds the first address `address` resolves to, with [`BACKLOG`].
///
/// # Errors
/// When the address does not resolve or cannot be bound.
pub fn bind(address: impl ToSocketAddrs) -> anyhow::Result<TcpListener> {
    let address: SocketAddr = address
        .to_socket_addrs()
        .context("resolving the address")?
        .next()
        .context("the address resolves to nothing")?;
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As std does: a restarted server binds again at once, whatever
    // connections of the last one are still in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_a_free_port_and_accepts() {
        let listener = bind(("127.0.0.1", 0)).unwrap();
        let address = listener.local_addr().unwrap();
        assert_ne!(address.port(), 0);
        let _client = std::net::TcpStream::connect(address).unwrap();
        assert!(listener.accept().is_ok());
    }
}
