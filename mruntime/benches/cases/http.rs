//! The `http_*` cases: the layer cases' routers served by hyper over a loopback TCP connection
//! (HTTP/1.1, keep-alive), with the requests sent by a hyper client on the same current-thread
//! runtime: what the layer costs a request that goes through a real server and its sockets.
//! The layer is added as in `layer_request` (`Router::layer`).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use super::layer::Load;

/// A runtime with the IO driver, for the sockets.
pub(crate) fn io_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current-thread runtime with IO")
}

/// Opens one keep-alive connection to `router` served by hyper, sends `load`'s requests one
/// after the other and reads each body to its end; returns the time the requests took (the
/// connection's set-up is not counted). Server, client and connection run on one task.
pub(crate) fn batch(rt: &Runtime, router: &Router, load: &Load) -> Duration {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("its address");
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let (client, (server, _)) = (client.expect("connect"), accepted.expect("accept"));
        client.set_nodelay(true).expect("nodelay");
        server.set_nodelay(true).expect("nodelay");
        let serving = hyper::server::conn::http1::Builder::new().serve_connection(
            TokioIo::new(server),
            TowerToHyperService::new(router.clone()),
        );
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(client))
                .await
                .expect("handshake");
        let requests = async move {
            let start = Instant::now();
            for _ in 0..load.requests {
                let request = Request::get(load.path)
                    .header(http::header::HOST, "bench")
                    .body(Body::empty())
                    .expect("a request");
                let response = sender.send_request(request).await.expect("a response");
                let body = response.into_body().collect().await.expect("the body");
                assert_eq!(body.to_bytes().len(), load.body_len);
            }
            // Dropping the sender closes the connection, which ends both sides.
            start.elapsed()
        };
        let (served, closed, elapsed) = tokio::join!(serving, connection, requests);
        served.expect("served");
        closed.expect("closed");
        elapsed
    })
}
