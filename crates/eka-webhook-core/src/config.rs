//! The validated configuration of one SDK instance. The binding normalises the JS config object
//! into these types; everything downstream can rely on them being well-formed.

use std::time::Duration;

use crate::secret::Secret;

pub const DEFAULT_API_BASE_URL: &str = "https://api.eka.care";
pub const API_BASE_URL_ENV: &str = "EKA_API_BASE_URL";
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a webhook may wait on the Eka Care API in all (logins, retries, the four fetches).
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_DB_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a database statement may wait (for a lock, say) before it is given up.
pub const DEFAULT_DB_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SdkConfig {
    pub credentials: ApiCredentials,
    /// Empty: no verification. Several: any one may match (key rotation).
    pub signing_keys: Vec<Secret>,
    /// `None`: all supported events.
    pub allowed_events: Option<Vec<String>>,
    pub path: String,
    pub server: ServerLimits,
    pub persistence: Option<PersistenceConfig>,
    pub debug: bool,
    pub signature_tolerance_seconds: Option<u64>,
    /// An `onEvent` that has not settled by then answers 500 (default: wait for ever).
    pub on_event_timeout: Option<Duration>,
    /// How long the delivery ledger remembers a delivery; `None`: no ledger.
    pub delivery_ledger_ttl_seconds: Option<u64>,
    /// The Eka Care API part of a webhook past this answers 504.
    pub webhook_timeout: Duration,
    pub reminders: ReminderConfig,
    /// The HTTP doors answer a success with the Python SDK's body (appointment, patient, doctor
    /// and clinic details) instead of `{"success": true, "event": …}`.
    pub respond_with_details: bool,
}

/// What a durable reminder found too late does (`reminders.onMissed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissed {
    /// Marked `missed`; the handler is not called.
    Skip,
    /// Fired anyway (its `lateByMs` says how late).
    Fire,
}

/// The durable reminders' settings (`reminders: {…}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderConfig {
    /// How long a claimed reminder is held before another instance may fire it again.
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_attempts: u32,
    /// A reminder this far past due when first claimed follows `on_missed`.
    pub missed_grace: Duration,
    pub on_missed: OnMissed,
    /// `false`: no polling; `runDue()` fires what is due (serverless).
    pub poll: bool,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(1000),
            max_attempts: 3,
            missed_grace: Duration::from_secs(3600),
            on_missed: OnMissed::Skip,
            poll: true,
        }
    }
}

/// What the Eka Care API client needs to log in and call the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    pub api_key: Option<Secret>,
    pub api_base_url: String,
    pub request_timeout: Duration,
}

impl ApiCredentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            api_key: None,
            api_base_url: default_api_base_url(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// `EKA_API_BASE_URL` when set and non-empty, else production.
pub fn default_api_base_url() -> String {
    std::env::var(API_BASE_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_string())
}

/// Limits of the standalone server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Larger bodies get 413 without being read whole.
    pub max_body_bytes: usize,
    /// A client must send its request head within this.
    pub header_timeout: Duration,
    /// A client must send its whole body within this.
    pub body_timeout: Duration,
    /// Open connections past this are answered 503 (`Retry-After`) and closed.
    pub max_connections: usize,
    /// Webhooks being handled at once past this are answered 503 (`Retry-After`).
    pub max_in_flight: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_in_flight: 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PersistenceConfig {
    Mysql(MysqlConfig),
    Dynamodb(DynamodbConfig),
    Sqlite(SqliteConfig),
    Postgres(PostgresConfig),
}

#[derive(Debug, Clone)]
pub struct MysqlConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub database: String,
    pub ssl_mode: MysqlSslMode,
    /// The CA(s) to verify the server's certificate with (`verify-ca`, `verify-identity`),
    /// instead of the bundled web roots.
    pub ssl_ca: Option<RootCert>,
    /// A database that is down delays a webhook by at most this, never the pool's default 30 s.
    pub connect_timeout: Duration,
    /// A statement waits at most this for a lock (a metadata lock behind an `ALTER`, a row lock).
    pub query_timeout: Duration,
}

pub const DEFAULT_POSTGRES_PORT: u16 = 5432;
pub const DEFAULT_POSTGRES_SCHEMA: &str = "public";

/// PostgreSQL, from `connection: {…}` or a `postgres://` connection string (both end up here).
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Empty: none sent (trust or peer authentication).
    pub password: Secret,
    pub database: String,
    /// The schema that holds the table (the connection's `search_path`); it must exist.
    pub schema: String,
    pub ssl_mode: PostgresSslMode,
    /// The CA(s) to verify the server's certificate with, instead of the bundled web roots.
    pub ssl_root_cert: Option<RootCert>,
    pub connect_timeout: Duration,
}

/// libpq's `sslmode` values, with their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresSslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// MySQL's `--ssl-mode` values (lower-case), with their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlSslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// A TLS mode as users spell it in the config, and the default by host.
pub trait SslMode: Copy + 'static {
    const NAMED: &'static [(&'static str, Self)];
    /// A server on this machine may talk plain text; any other must prove its identity.
    const LOOPBACK_DEFAULT: Self;
    const REMOTE_DEFAULT: Self;

    fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, mode)| *mode)
    }

    fn names() -> Vec<&'static str> {
        Self::NAMED.iter().map(|(n, _)| *n).collect()
    }

    /// The mode when the config names none.
    fn default_for_host(host: &str) -> Self {
        if is_loopback_host(host) {
            Self::LOOPBACK_DEFAULT
        } else {
            Self::REMOTE_DEFAULT
        }
    }
}

impl SslMode for PostgresSslMode {
    const NAMED: &'static [(&'static str, Self)] = &[
        ("disable", Self::Disable),
        ("allow", Self::Allow),
        ("prefer", Self::Prefer),
        ("require", Self::Require),
        ("verify-ca", Self::VerifyCa),
        ("verify-full", Self::VerifyFull),
    ];
    const LOOPBACK_DEFAULT: Self = Self::Prefer;
    const REMOTE_DEFAULT: Self = Self::VerifyFull;
}

impl SslMode for MysqlSslMode {
    const NAMED: &'static [(&'static str, Self)] = &[
        ("disabled", Self::Disabled),
        ("preferred", Self::Preferred),
        ("required", Self::Required),
        ("verify-ca", Self::VerifyCa),
        ("verify-identity", Self::VerifyIdentity),
    ];
    const LOOPBACK_DEFAULT: Self = Self::Preferred;
    const REMOTE_DEFAULT: Self = Self::VerifyIdentity;
}

/// `localhost`, or an IP address in 127.0.0.0/8 or `::1` (with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A CA certificate bundle: PEM text (`ssl.ca`) or a file (`sslrootcert=` in a URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    Pem(String),
    File(String),
}

#[derive(Debug, Clone)]
pub struct DynamodbConfig {
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub endpoint: Option<String>,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// A file path, or `:memory:`.
    pub filename: String,
}
