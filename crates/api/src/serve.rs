//! Serving the router on a TCP listener and on a unix socket, each with graceful shutdown.
//! Connections carry a [`Peer`] so the auth layer knows which rules apply.

use std::future::Future;

use axum::Router;
use tokio::net::{TcpListener, UnixListener};

use crate::auth::peer::Peer;

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `router` on the unix socket `listener` (the local CLI's way in).
pub async fn serve_unix(
    listener: UnixListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
