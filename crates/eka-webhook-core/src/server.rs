//! The standalone HTTP/1.1 server behind `sdk.listen(port)`: `POST <path>` → the pipeline with
//! the raw body (verified as received first, then in canonical form), `GET /eka-webhook-health`,
//! and the Python SDK's 404 for everything else. Bounded in what it reads and how long it waits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::config::ServerLimits;
use crate::error::CoreError;
use crate::pipeline::Pipeline;
use crate::signature::SIGNATURE_HEADER;

pub const HEALTH_PATH: &str = "/eka-webhook-health";

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The webhook path; trailing slashes are ignored, as by the Python SDK.
    pub path: String,
    pub limits: ServerLimits,
}

impl ServerOptions {
    pub fn new(path: &str, limits: ServerLimits) -> Self {
        Self { path: normalize_path(path).to_string(), limits }
    }
}

fn normalize_path(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// A running server. `close()` stops accepting and waits for requests in flight.
pub struct StandaloneServer {
    port: u16,
    stop: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl StandaloneServer {
    /// Binds `0.0.0.0:port` synchronously (so a port in use is an immediate error) and starts
    /// serving on the current tokio runtime.
    pub fn bind(port: u16, pipeline: Arc<Pipeline>, options: ServerOptions) -> Result<Self, CoreError> {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse { " (the port is already in use)" } else { "" };
            CoreError::Server(format!("WebhookSDK: cannot listen on port {port}: {e}{hint}"))
        })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| CoreError::Server(format!("WebhookSDK: cannot configure the listening socket: {e}")))?;
        let port = std_listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| CoreError::Server(format!("WebhookSDK: cannot start the server: {e}")))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, pipeline, Arc::new(options), stop_rx));
        Ok(Self { port, stop: Mutex::new(Some((stop_tx, task))) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Idempotent; resolves once every connection has finished.
    pub async fn close(&self) {
        if let Some((stop, task)) = self.stop.lock().await.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

async fn serve(listener: TcpListener, pipeline: Arc<Pipeline>, options: Arc<ServerOptions>, mut stop: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let pipeline = pipeline.clone();
                let service_options = options.clone();
                let service = service_fn(move |request| route(request, pipeline.clone(), service_options.clone()));
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(options.limits.header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn route(request: Request<Incoming>, pipeline: Arc<Pipeline>, options: Arc<ServerOptions>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = normalize_path(request.uri().path());
    let response = match (request.method(), path) {
        (&Method::GET, HEALTH_PATH) => json_response(StatusCode::OK, &json!({"status": "ok", "service": "eka-webhook-sdk"})),
        (&Method::POST, p) if p == options.path => handle_webhook(request, &pipeline, &options).await,
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "Not Found", "message": format!("Expected POST {}", options.path)}),
        ),
    };
    Ok(response)
}

async fn handle_webhook(request: Request<Incoming>, pipeline: &Pipeline, options: &ServerOptions) -> Response<Full<Bytes>> {
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > options.limits.max_body_bytes as u64) {
        return too_large();
    }
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(request.into_body(), options.limits.max_body_bytes);
    let bytes = match tokio::time::timeout(options.limits.body_timeout, body.collect()).await {
        Err(_) => return error_response(StatusCode::REQUEST_TIMEOUT, "Timed out reading the request body"),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return error_response(StatusCode::BAD_REQUEST, "Failed to read request body"),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let result = pipeline.handle_bytes(&bytes, signature.as_deref()).await;
    let status = StatusCode::from_u16(result.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &result.body)
}

fn too_large() -> Response<Full<Bytes>> {
    error_response(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_ignore_trailing_slashes() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/hook/"), "/hook");
        assert_eq!(normalize_path("/hook//"), "/hook");
    }
}
