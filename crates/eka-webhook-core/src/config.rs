//! The validated configuration of one SDK instance. The binding normalises the JS config object
//! into these types; everything downstream can rely on them being well-formed.

use std::time::Duration;

use crate::secret::Secret;

pub const DEFAULT_API_BASE_URL: &str = "https://api.eka.care";
pub const API_BASE_URL_ENV: &str = "EKA_API_BASE_URL";
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_DB_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
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
    /// A database that is down delays a webhook by at most this, never the pool's default 30 s.
    pub connect_timeout: Duration,
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

impl PostgresSslMode {
    pub const NAMES: [&'static str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

    pub fn from_name(name: &str) -> Option<Self> {
        use PostgresSslMode::*;
        let modes = [Disable, Allow, Prefer, Require, VerifyCa, VerifyFull];
        Self::NAMES.iter().position(|n| *n == name).map(|i| modes[i])
    }

    /// Without an explicit mode: a server on this machine may talk plain text (`prefer`),
    /// any other must prove its identity (`verify-full`).
    pub fn default_for_host(host: &str) -> Self {
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            PostgresSslMode::Prefer
        } else {
            PostgresSslMode::VerifyFull
        }
    }
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
