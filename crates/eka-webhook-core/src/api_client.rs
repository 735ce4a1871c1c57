//! Client of the Eka Care API: login, a token shared per credentials, the four detail fetches.
//!
//! One HTTP client (connection pool, keep-alive) serves the whole process. Tokens are cached per
//! (base URL, client id, client secret, api key), shared by every SDK instance with the same
//! credentials; a burst of concurrent calls performs one login, and a 401 invalidates the token
//! the failed call used (once, however many calls saw it) and retries once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};
use thiserror::Error;

use crate::config::{is_loopback_host, ApiCredentials};
use crate::secret::Secret;
use crate::telemetry::Telemetry;

/// Everything but RFC 3986 unreserved characters is encoded in an id's path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub const LOGIN_PATH: &str = "/connect-auth/v1/account/login";

/// Attempts of an idempotent GET: transient failures (connection errors, 429, 502/503/504) are
/// retried with exponential backoff and jitter; a timeout is not (it already waited long).
const MAX_GET_ATTEMPTS: u32 = 3;
const RETRY_BASE_DELAY: Duration = Duration::from_millis(100);
/// A `Retry-After` longer than this is capped: a webhook should not wait on it for long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The largest API response read; the API's answers are a few KiB, so more is a fault (or a
/// hostile endpoint) and is refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ApiError {
    #[error("Eka Care API returned HTTP {status} for {endpoint}{detail}")]
    Status {
        status: u16,
        endpoint: String,
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error("Eka Care API request to {endpoint} timed out after {timeout_ms} ms")]
    Timeout { endpoint: String, timeout_ms: u128 },
    #[error("Eka Care API request to {endpoint} failed: {message}")]
    Network { endpoint: String, message: String },
    #[error("Eka Care API returned an invalid response for {endpoint}: {message}")]
    InvalidResponse { endpoint: String, message: String },
    #[error("invalid Eka Care API base URL: {0}")]
    InvalidBaseUrl(String),
    /// Redirects are never followed: the bearer token and credentials must only go to the
    /// configured host.
    #[error(
        "Eka Care API answered {endpoint} with a redirect (HTTP {status}{location}); \
         redirects are not followed, check 'apiBaseUrl'"
    )]
    Redirect {
        status: u16,
        endpoint: String,
        location: String,
    },
    #[error("Eka Care API response for {endpoint} is larger than the {limit} bytes allowed")]
    TooLarge { endpoint: String, limit: usize },
    /// An id that cannot be one URL path segment: empty, `.` or `..` (a URL cannot carry those
    /// as a segment, so the request would go to another endpoint). Never sent.
    #[error("invalid {resource} id {id:?}: an id must not be empty, \".\" or \"..\"")]
    InvalidId { resource: &'static str, id: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failed login: retried only after the login backoff, never by a GET's own retries.
    fn is_login_failure(&self) -> bool {
        match self {
            ApiError::Status { endpoint, .. }
            | ApiError::Timeout { endpoint, .. }
            | ApiError::Network { endpoint, .. }
            | ApiError::InvalidResponse { endpoint, .. }
            | ApiError::Redirect { endpoint, .. }
            | ApiError::TooLarge { endpoint, .. } => endpoint == LOGIN_PATH,
            ApiError::InvalidBaseUrl(_) | ApiError::InvalidId { .. } => false,
        }
    }
}

/// A login shared by every caller that needs a token while it runs.
type LoginFuture = Shared<BoxFuture<'static, Result<(Secret, u64), ApiError>>>;

/// The token currently in use for one set of credentials, with a generation number so that a
/// 401 only invalidates the token that actually failed. Guarded by a plain mutex that is never
/// held across an await: a hanging login must not stall callers behind a lock.
#[derive(Default)]
struct TokenSlot {
    token: Option<(Secret, u64)>,
    generation: u64,
    /// The login in progress, which every caller without a token awaits.
    login: Option<LoginFuture>,
    /// The last login's failure, answered to every caller until `retry_at`.
    failure: Option<LoginFailure>,
}

struct LoginFailure {
    error: ApiError,
    retry_at: Instant,
    /// The pause after this one fails again (doubling up to `MAX_LOGIN_BACKOFF`).
    next_backoff: Duration,
}

/// After a failed login, callers get the same error for this long before one logs in again;
/// each further failure doubles the pause, up to `MAX_LOGIN_BACKOFF`.
pub const FIRST_LOGIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_LOGIN_BACKOFF: Duration = Duration::from_secs(30);

type TokenCache = Mutex<TokenSlot>;

fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("eka-webhook-sdk-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("building the HTTP client cannot fail with this configuration")
    })
}

fn token_cache_for(credentials: &ApiCredentials) -> Arc<TokenCache> {
    type Key = (String, String, Secret, Option<Secret>);
    static CACHES: OnceLock<Mutex<HashMap<Key, Arc<TokenCache>>>> = OnceLock::new();
    let key = (
        credentials.api_base_url.clone(),
        credentials.client_id.clone(),
        credentials.client_secret.clone(),
        credentials.api_key.clone(),
    );
    let mut caches = CACHES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    caches.entry(key).or_default().clone()
}

#[derive(Clone)]
pub struct EkaApiClient {
    credentials: ApiCredentials,
    base_url: Url,
    tokens: Arc<TokenCache>,
    /// The SDK instance's counters: every part that records (the pipeline, reminders) already
    /// holds this client, and its clones share them.
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for EkaApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EkaApiClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl EkaApiClient {
    pub fn new(credentials: ApiCredentials) -> Result<Self, ApiError> {
        let base_url = Url::parse(credentials.api_base_url.trim_end_matches('/'))
            .map_err(|e| ApiError::InvalidBaseUrl(format!("{}: {e}", credentials.api_base_url)))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(ApiError::InvalidBaseUrl(format!(
                "{} is not an http(s) URL",
                credentials.api_base_url
            )));
        }
        // The client secret and tokens travel in these requests: plain http only on this machine.
        if base_url.scheme() == "http" && !base_url.host_str().is_some_and(is_loopback_host) {
            return Err(ApiError::InvalidBaseUrl(format!(
                "{} uses http; only https is allowed, except for loopback hosts \
                 (127.0.0.0/8, ::1, localhost)",
                credentials.api_base_url
            )));
        }
        let tokens = token_cache_for(&credentials);
        Ok(Self {
            credentials,
            base_url,
            tokens,
            telemetry: Arc::default(),
        })
    }

    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    pub fn credentials(&self) -> &ApiCredentials {
        &self.credentials
    }

    /// `GET /dr/v1/appointment/{id}`, unwrapping `data` when it is an object.
    pub async fn get_appointment_details(
        &self,
        id: &str,
        partner_id: Option<&str>,
    ) -> Result<Value, ApiError> {
        let query: Vec<(&str, &str)> = partner_id
            .map(|p| vec![("partner_id", p)])
            .unwrap_or_default();
        let body = self
            .get(
                &["dr", "v1", "appointment", id_segment("appointment", id)?],
                &query,
            )
            .await?;
        Ok(unwrap_member(body, "data"))
    }

    /// `GET /dr/v1/patient/{id}`.
    pub async fn get_patient_details(&self, id: &str) -> Result<Value, ApiError> {
        self.get(&["dr", "v1", "patient", id_segment("patient", id)?], &[])
            .await
    }

    /// `GET /dr/v1/doctor/{id}`, unwrapping `doctor`.
    pub async fn get_doctor_details(&self, id: &str) -> Result<Value, ApiError> {
        Ok(unwrap_member(
            self.get(&["dr", "v1", "doctor", id_segment("doctor", id)?], &[])
                .await?,
            "doctor",
        ))
    }

    /// `GET /dr/v1/business/clinic/{id}`, unwrapping `clinic`.
    pub async fn get_clinic_details(&self, id: &str) -> Result<Value, ApiError> {
        Ok(unwrap_member(
            self.get(
                &["dr", "v1", "business", "clinic", id_segment("clinic", id)?],
                &[],
            )
            .await?,
            "clinic",
        ))
    }

    /// The base URL plus `segments`, each percent-encoded as one path segment. Encoded here
    /// rather than by `Url`'s segment API, which drops tabs and newlines (WHATWG parsing) and so
    /// would fetch a different id. A URL cannot carry a `.` or `..` segment (parsing resolves
    /// them), so ids go through `id_segment` first.
    fn url(&self, segments: &[&str]) -> Url {
        let mut path = self.base_url.path().trim_end_matches('/').to_string();
        for segment in segments {
            path.push('/');
            path.extend(percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT));
        }
        let mut url = self.base_url.clone();
        url.set_path(&path);
        url
    }

    /// An authenticated GET, retried on transient failures (see `retry_delay`).
    async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value, ApiError> {
        let url = self.url(segments);
        let endpoint = url.path().to_string();
        let mut attempt = 1;
        loop {
            match self.get_once(&url, &endpoint, query).await {
                Err(err) if attempt < MAX_GET_ATTEMPTS && !err.is_login_failure() => {
                    let Some(delay) = retry_delay(&err, attempt) else {
                        return Err(err);
                    };
                    crate::logger::warn(&format!(
                        "WebhookSDK: retrying {endpoint} in {} ms after: {err}",
                        delay.as_millis()
                    ));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One authenticated GET: one re-login and retry when the token is rejected.
    async fn get_once(
        &self,
        url: &Url,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let (token, generation) = self.token().await?;
        match self.send_authenticated(url, endpoint, query, &token).await {
            Err(ApiError::Status { status: 401, .. }) => {
                self.invalidate(generation);
                let (token, _) = self.token().await?;
                self.send_authenticated(url, endpoint, query, &token).await
            }
            other => other,
        }
    }

    async fn send_authenticated(
        &self,
        url: &Url,
        endpoint: &str,
        query: &[(&str, &str)],
        token: &Secret,
    ) -> Result<Value, ApiError> {
        let request = http_client()
            .request(Method::GET, url.clone())
            .query(query)
            .bearer_auth(token.expose())
            .header("client-id", &self.credentials.client_id);
        self.send(request, endpoint).await
    }

    /// One HTTP request, counted and timed.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<Value, ApiError> {
        let started = std::time::Instant::now();
        let result = self.exchange(request, endpoint).await;
        self.telemetry
            .api_call(endpoint, result.as_ref().map(|_| ()), started.elapsed());
        result
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<Value, ApiError> {
        let timeout = self.credentials.request_timeout;
        let network_error = |e: reqwest::Error| {
            if e.is_timeout() {
                ApiError::Timeout {
                    endpoint: endpoint.to_string(),
                    timeout_ms: timeout.as_millis(),
                }
            } else {
                ApiError::Network {
                    endpoint: endpoint.to_string(),
                    message: describe_reqwest_error(&e),
                }
            }
        };
        let mut response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| format!(" to {}", truncate(l, 200)))
                .unwrap_or_default();
            let status = status.as_u16();
            return Err(ApiError::Redirect {
                status,
                endpoint: endpoint.to_string(),
                location,
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let too_large = || ApiError::TooLarge {
            endpoint: endpoint.to_string(),
            limit: MAX_RESPONSE_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                endpoint: endpoint.to_string(),
                detail: error_detail(status, &bytes),
                retry_after,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidResponse {
            endpoint: endpoint.to_string(),
            message: format!("body is not JSON ({e})"),
        })
    }

    /// The cached token, or the outcome of the one login in flight (started here when there is
    /// none). After a failed login, its error is answered until the backoff has passed.
    async fn token(&self) -> Result<(Secret, u64), ApiError> {
        let login = {
            let mut slot = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(token) = &slot.token {
                return Ok(token.clone());
            }
            if let Some(failure) = slot
                .failure
                .as_ref()
                .filter(|f| Instant::now() < f.retry_at)
            {
                return Err(failure.error.clone());
            }
            slot.login.get_or_insert_with(|| self.start_login()).clone()
        };
        login.await
    }

    /// The login as a task of its own, so that it finishes (and records its outcome) even when
    /// every caller waiting for it has gone, e.g. cut off by `webhookTimeoutMs`.
    fn start_login(&self) -> LoginFuture {
        let task = tokio::spawn(self.clone().login_and_store());
        async move {
            task.await.unwrap_or_else(|e| {
                let message = format!("login task failed: {e}");
                Err(ApiError::Network {
                    endpoint: LOGIN_PATH.to_string(),
                    message,
                })
            })
        }
        .boxed()
        .shared()
    }

    /// Logs in (bounded by the request timeout) and records the outcome for every caller.
    async fn login_and_store(self) -> Result<(Secret, u64), ApiError> {
        let outcome = self.login().await;
        let mut slot = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        slot.login = None;
        match outcome {
            Ok(access_token) => {
                slot.generation += 1;
                let token = (access_token, slot.generation);
                slot.token = Some(token.clone());
                slot.failure = None;
                Ok(token)
            }
            Err(error) => {
                let backoff = slot
                    .failure
                    .as_ref()
                    .map_or(FIRST_LOGIN_BACKOFF, |f| f.next_backoff);
                crate::logger::warn(&format!(
                    "WebhookSDK: login failed; the next login is tried in {} ms: {error}",
                    backoff.as_millis()
                ));
                slot.failure = Some(LoginFailure {
                    error: error.clone(),
                    retry_at: Instant::now() + backoff,
                    next_backoff: (backoff * 2).min(MAX_LOGIN_BACKOFF),
                });
                Err(error)
            }
        }
    }

    fn invalidate(&self, generation: u64) {
        let mut slot = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if slot.token.as_ref().is_some_and(|(_, g)| *g == generation) {
            slot.token = None;
        }
    }

    async fn login(&self) -> Result<Secret, ApiError> {
        let url = self.url(&["connect-auth", "v1", "account", "login"]);
        let mut body = json!({
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret.expose(),
        });
        if let Some(api_key) = &self.credentials.api_key {
            body["api_key"] = Value::String(api_key.expose().to_string());
        }
        let response = self
            .send(http_client().post(url).json(&body), LOGIN_PATH)
            .await?;
        match response.get("access_token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Ok(Secret::new(token)),
            _ => Err(ApiError::InvalidResponse {
                endpoint: LOGIN_PATH.to_string(),
                message: "login response has no access_token".to_string(),
            }),
        }
    }
}

/// How long to wait before retrying a failed GET, or `None` when the failure is not transient.
fn retry_delay(error: &ApiError, attempt: u32) -> Option<Duration> {
    let backoff = || {
        let exponential = RETRY_BASE_DELAY * 2u32.pow(attempt - 1);
        exponential + Duration::from_millis(rand::random_range(0..=exponential.as_millis() as u64))
    };
    match error {
        ApiError::Network { .. } => Some(backoff()),
        ApiError::Status {
            status: 429,
            retry_after,
            ..
        } => Some(retry_after.map_or_else(backoff, |d| d.min(MAX_RETRY_AFTER))),
        ApiError::Status {
            status: 502..=504, ..
        } => Some(backoff()),
        _ => None,
    }
}

/// `id` when it can be the last path segment of `GET /dr/v1/<resource>/{id}`. An empty id, `.` or
/// `..` would turn `/dr/v1/appointment/..` into `/dr/v1/appointment` or `/dr/v1/`: another
/// endpoint, whose answer would be taken for the details (found by the pipeline fuzz target's
/// API stub).
fn id_segment<'a>(resource: &'static str, id: &'a str) -> Result<&'a str, ApiError> {
    match id {
        "" | "." | ".." => Err(ApiError::InvalidId {
            resource,
            id: id.to_string(),
        }),
        _ => Ok(id),
    }
}

/// `body[key]` when it is an object, else `body` (the Python SDK's `_unwrap`).
fn unwrap_member(body: Value, key: &str) -> Value {
    match body {
        Value::Object(mut map) if map.get(key).is_some_and(Value::is_object) => {
            map.remove(key).expect("checked above")
        }
        other => other,
    }
}

/// A short, secret-free description of an error response: its `message` (or `error`) field
/// when it has one. Bodies are never echoed whole.
fn error_detail(status: StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        ["message", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    });
    match message {
        Some(m) => format!(": {}", truncate(&m, 200)),
        None => status
            .canonical_reason()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// reqwest's Display includes the URL (no secrets in ours) but not the cause; add the innermost
/// cause, which is what says "connection refused".
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    let kind = if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match innermost {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_only_object_members() {
        assert_eq!(
            unwrap_member(json!({"data": {"a": 1}}), "data"),
            json!({"a": 1})
        );
        assert_eq!(
            unwrap_member(json!({"data": [1]}), "data"),
            json!({"data": [1]})
        );
        assert_eq!(unwrap_member(json!([1]), "data"), json!([1]));
    }

    /// A client of the API at `api_base_url`.
    fn client_at(api_base_url: &str) -> Result<EkaApiClient, ApiError> {
        EkaApiClient::new(ApiCredentials {
            api_base_url: api_base_url.into(),
            ..ApiCredentials::new("id", "secret")
        })
    }

    #[test]
    fn urls_encode_ids_as_one_segment() {
        let client = client_at("http://127.0.0.1:9/base/").unwrap();
        let url = client.url(&["dr", "v1", "appointment", "a/b c'\"é%\t\n?#"]);
        assert_eq!(
            url.path(),
            "/base/dr/v1/appointment/a%2Fb%20c%27%22%C3%A9%25%09%0A%3F%23"
        );
        assert_eq!(url.query(), None);
    }

    #[test]
    fn dot_and_empty_ids_are_refused_before_any_request() {
        let client = client_at("http://127.0.0.1:9").unwrap();
        // Without the check, URL parsing resolves the dot segments: another endpoint.
        assert_eq!(
            client.url(&["dr", "v1", "appointment", ".."]).path(),
            "/dr/v1/"
        );
        assert_eq!(
            client.url(&["dr", "v1", "appointment", "."]).path(),
            "/dr/v1/appointment/"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for id in ["", ".", ".."] {
            let err = rt
                .block_on(client.get_appointment_details(id, None))
                .unwrap_err();
            assert_eq!(
                err,
                ApiError::InvalidId {
                    resource: "appointment",
                    id: id.to_string()
                }
            );
            for err in [
                rt.block_on(client.get_patient_details(id)).unwrap_err(),
                rt.block_on(client.get_doctor_details(id)).unwrap_err(),
                rt.block_on(client.get_clinic_details(id)).unwrap_err(),
            ] {
                assert!(matches!(err, ApiError::InvalidId { .. }), "{err}");
            }
        }
        // Dots inside an id are ordinary characters.
        assert_eq!(
            client.url(&["dr", "v1", "patient", "..."]).path(),
            "/dr/v1/patient/..."
        );
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for bad in [
            "not a url",
            "ftp://x",
            "mailto:a@b",
            "http://example.com",
            "http://10.0.0.1",
        ] {
            let creds = ApiCredentials {
                api_base_url: bad.into(),
                ..ApiCredentials::new("id", "s")
            };
            assert!(
                matches!(EkaApiClient::new(creds), Err(ApiError::InvalidBaseUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let loopback = [
            "http://127.0.0.1:9",
            "http://127.8.0.1",
            "http://[::1]:9",
            "http://LocalHost:1",
        ];
        for good in loopback.into_iter().chain(["https://api.eka.care"]) {
            assert!(client_at(good).is_ok(), "{good}");
        }
        let err = client_at("http://example.com").unwrap_err().to_string();
        assert!(
            err.contains("only https is allowed, except for loopback hosts"),
            "{err}"
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status, retry_after| ApiError::Status {
            status,
            endpoint: "/x".into(),
            detail: String::new(),
            retry_after,
        };
        assert!(retry_delay(&status(503, None), 1).is_some());
        assert!(retry_delay(&status(502, None), 2).is_some());
        assert!(retry_delay(&status(500, None), 1).is_none());
        assert!(retry_delay(&status(404, None), 1).is_none());
        assert!(retry_delay(&status(401, None), 1).is_none());
        assert_eq!(
            retry_delay(&status(429, Some(Duration::from_secs(2))), 1),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_delay(&status(429, Some(Duration::from_secs(600))), 1),
            Some(MAX_RETRY_AFTER)
        );
        assert!(retry_delay(
            &ApiError::Timeout {
                endpoint: "/x".into(),
                timeout_ms: 1
            },
            1
        )
        .is_none());
        let network = ApiError::Network {
            endpoint: "/x".into(),
            message: "reset".into(),
        };
        let first = retry_delay(&network, 1).unwrap();
        let second = retry_delay(&network, 2).unwrap();
        assert!(first >= RETRY_BASE_DELAY && first <= RETRY_BASE_DELAY * 2);
        assert!(second >= RETRY_BASE_DELAY * 2 && second <= RETRY_BASE_DELAY * 4);
    }

    #[test]
    fn error_detail_uses_message_field_only() {
        assert_eq!(
            error_detail(
                StatusCode::NOT_FOUND,
                br#"{"message":"Appointment x not found"}"#
            ),
            ": Appointment x not found"
        );
        assert_eq!(
            error_detail(StatusCode::BAD_GATEWAY, b"<html>"),
            " (Bad Gateway)"
        );
    }
}
