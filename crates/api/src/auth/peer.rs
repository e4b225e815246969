//! Who is on the other end of a connection. TCP callers authenticate with encrypted headers;
//! unix-socket callers (the local CLI) are trusted by their kernel-reported uid instead
//! (spec task-engine §8.3), so the listener kind travels with every request.

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, UnixListener};

/// The peer of a connection, attached to each request as `ConnectInfo<Peer>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    /// A unix-socket peer; `uid` is `None` when SO_PEERCRED could not be read.
    Unix {
        uid: Option<u32>,
    },
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        Peer::Unix {
            uid: stream.io().peer_cred().ok().map(|c| c.uid()),
        }
    }
}
