//! The standalone HTTP/1.1 server behind `sdk.listen(port)`: `POST <path>` → the pipeline with
//! the raw body (verified as received first, then in canonical form), `GET /eka-webhook-health`,
//! and the Python SDK's 404 for everything else. Bounded in what it reads and how long it waits,
//! and in how many connections and webhooks it takes on at once (503 with `Retry-After` past that).
//!
//! A request refused before its body was read (413, 503) is answered at once, then the rest of
//! its body is read and discarded for a bounded time and size before the connection closes
//! ("lingering close"): closing a socket with unread data resets it, and a client still sending
//! (Node's `fetch()`, say) would see EPIPE instead of the answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Mutex, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{SdkConfig, ServerLimits};
use crate::error::CoreError;
use crate::pipeline::Pipeline;
use crate::signature::SIGNATURE_HEADER;

pub const HEALTH_PATH: &str = "/eka-webhook-health";

/// How long, and how much, of a refused request's body is read and discarded before closing.
const LINGER_TIMEOUT: Duration = Duration::from_secs(5);
const LINGER_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// The `Retry-After` of a 503, seconds.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The webhook path; trailing slashes are ignored, as by the Python SDK.
    pub path: String,
    pub limits: ServerLimits,
    /// `respondWithDetails`: a success answers the pipeline's whole body, details included.
    pub respond_with_details: bool,
}

impl ServerOptions {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            path: normalize_path(&config.path).to_string(),
            limits: config.server.clone(),
            respond_with_details: config.respond_with_details,
        }
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
    pub fn bind(
        port: u16,
        pipeline: Arc<Pipeline>,
        options: ServerOptions,
    ) -> Result<Self, CoreError> {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (the port is already in use)"
            } else {
                ""
            };
            CoreError::Server(format!(
                "WebhookSDK: cannot listen on port {port}: {e}{hint}"
            ))
        })?;
        std_listener.set_nonblocking(true).map_err(|e| {
            CoreError::Server(format!(
                "WebhookSDK: cannot configure the listening socket: {e}"
            ))
        })?;
        let port = std_listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| CoreError::Server(format!("WebhookSDK: cannot start the server: {e}")))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, pipeline, Arc::new(options), stop_rx));
        Ok(Self {
            port,
            stop: Mutex::new(Some((stop_tx, task))),
        })
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

async fn serve(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    options: Arc<ServerOptions>,
    mut stop: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(options.limits.max_connections));
    let in_flight = Arc::new(Semaphore::new(options.limits.max_in_flight));
    let lingering_refusals = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
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
                let Ok(connection_permit) = connections.clone().try_acquire_owned() else {
                    match lingering_refusals.clone().try_acquire_owned() {
                        Ok(permit) => {
                            tokio::spawn(async move {
                                refuse_connection(stream).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            let _ = stream.try_write(BUSY_CONNECTION_RESPONSE);
                        }
                    }
                    continue;
                };
                let pipeline = pipeline.clone();
                let service_options = options.clone();
                let in_flight = in_flight.clone();
                let service = service_fn(move |request| {
                    route(request, pipeline.clone(), service_options.clone(), in_flight.clone())
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(options.limits.header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                    drop(connection_permit);
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The answer to a connection past `maxConnections`, written straight to the socket (no HTTP
/// parsing spent on it). `retry-after` is `RETRY_AFTER_SECONDS`.
const BUSY_CONNECTION_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\n\
    content-length: 45\r\n\r\n{\"error\":\"Server busy: too many connections\"}";

/// Refused connections lingering at once; past this a refusal is written and closed at once, so
/// a flood cannot hold more sockets than the cap plus this.
const MAX_LINGERING_REFUSALS: usize = 64;

/// Answers 503 and lingers briefly, so the client reads it rather than a reset.
async fn refuse_connection(mut stream: TcpStream) {
    if stream.write_all(BUSY_CONNECTION_RESPONSE).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = tokio::io::sink();
    let mut rest = (&mut stream).take(LINGER_MAX_BYTES);
    let drain = tokio::io::copy(&mut rest, &mut sink);
    let _ = tokio::time::timeout(LINGER_TIMEOUT, drain).await;
}

async fn route(
    request: Request<Incoming>,
    pipeline: Arc<Pipeline>,
    options: Arc<ServerOptions>,
    in_flight: Arc<Semaphore>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = normalize_path(request.uri().path());
    let response = match (request.method(), path) {
        (&Method::GET, HEALTH_PATH) => json_response(
            StatusCode::OK,
            &json!({"status": "ok", "service": "eka-webhook-sdk"}),
        ),
        (&Method::POST, p) if p == options.path => match in_flight.try_acquire() {
            Ok(_permit) => handle_webhook(request, &pipeline, &options).await,
            Err(_) => {
                linger(request.into_body());
                let message = "Server busy: too many requests in flight";
                let mut busy = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
                let retry_after = HeaderValue::from_static(RETRY_AFTER_SECONDS);
                busy.headers_mut().insert(RETRY_AFTER, retry_after);
                busy
            }
        },
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "Not Found", "message": format!("Expected POST {}", options.path)}),
        ),
    };
    Ok(response)
}

/// Why a body was not read whole.
enum BodyRefusal {
    TooLarge,
    Broken,
}

/// The body, up to `max_bytes`; on `TooLarge` the rest is still in `body` (for `linger`).
async fn read_body(body: &mut Incoming, max_bytes: usize) -> Result<Bytes, BodyRefusal> {
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyRefusal::Broken)?.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > max_bytes {
            return Err(BodyRefusal::TooLarge);
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes.freeze())
}

/// Reads and discards what is left of a refused request's body, for at most `LINGER_TIMEOUT`
/// and `LINGER_MAX_BYTES`, so the connection closes only after the client has sent it (or
/// given up) and reads the answer instead of a reset.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let drain = async {
            let mut discarded = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                discarded += frame.data_ref().map_or(0, |d| d.len() as u64);
                if discarded > LINGER_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIMEOUT, drain).await;
    });
}

async fn handle_webhook(
    request: Request<Incoming>,
    pipeline: &Pipeline,
    options: &ServerOptions,
) -> Response<Full<Bytes>> {
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = request.into_body();
    if declared_length.is_some_and(|len| len > options.limits.max_body_bytes as u64) {
        linger(body);
        return too_large();
    }
    let limits = &options.limits;
    let read = tokio::time::timeout(
        limits.body_timeout,
        read_body(&mut body, limits.max_body_bytes),
    );
    let bytes = match read.await {
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                "Timed out reading the request body",
            )
        }
        Ok(Err(BodyRefusal::TooLarge)) => {
            linger(body);
            return too_large();
        }
        Ok(Err(BodyRefusal::Broken)) => {
            return error_response(StatusCode::BAD_REQUEST, "Failed to read request body")
        }
        Ok(Ok(bytes)) => bytes,
    };
    let result = pipeline.handle_bytes(&bytes, signature.as_deref()).await;
    let status = StatusCode::from_u16(result.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The appointment's patient, doctor and clinic details are for `onEvent`, not for whoever
    // sent the request. Only a fresh success carries them (a duplicate's and a failure's bodies
    // have none).
    let body = match &result.event {
        Some(event) if !result.duplicate && !options.respond_with_details => {
            json!({ "success": true, "event": event.event_type })
        }
        _ => result.body,
    };
    json_response(status, &body)
}

/// 413, and the connection is not kept: what is left of the body is only drained.
fn too_large() -> Response<Full<Bytes>> {
    let mut response = error_response(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY_CONNECTION_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("\r\nretry-after: {RETRY_AFTER_SECONDS}\r\n")));
        assert!(head.ends_with(&format!("content-length: {}", body.len())));
        let error = serde_json::from_str::<Value>(body).unwrap()["error"].clone();
        assert_eq!(error, "Server busy: too many connections");
    }

    #[test]
    fn paths_ignore_trailing_slashes() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/hook/"), "/hook");
        assert_eq!(normalize_path("/hook//"), "/hook");
    }
}
