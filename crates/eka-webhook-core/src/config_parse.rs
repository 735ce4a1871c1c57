//! The user's config object (minus callbacks) as typed options, read by serde, and their
//! conversion into an `SdkConfig`. Unknown keys are rejected: a typo such as `signingkey` would
//! otherwise silently turn verification off. Every error names the field, and never quotes a
//! value (it may be a secret).

use std::time::Duration;

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::*;
use crate::error::CoreError;
use crate::persistence::ledger::DEFAULT_LEDGER_TTL_SECONDS;

/// The replay window when `signatureToleranceSeconds` is not given.
pub const DEFAULT_SIGNATURE_TOLERANCE_SECONDS: u64 = 300;
use crate::secret::Secret;

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::InvalidConfig(format!("WebhookSDK: {}", message.into()))
}

/// The options a user passes to `new WebhookSDK()`, as the JS glue hands them over (without
/// `onEvent`). `null` means absent, as `undefined` does in JS.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SdkOptions {
    pub client_id: Required,
    pub client_secret: Required,
    pub api_key: Option<String>,
    pub signing_key: Option<SigningKeys>,
    pub allowed_events: Option<StringList>,
    pub path: Option<String>,
    pub persistence: Option<Object<PersistenceOptions>>,
    pub debug: Option<bool>,
    pub api_base_url: Option<String>,
    pub signature_tolerance_seconds: Option<Integer<0, { 10 * 365 * 24 * 3600 }>>,
    pub request_timeout_ms: Option<Integer<1, 600_000>>,
    pub server: Option<Object<ServerOptions>>,
    pub on_event_timeout_ms: Option<Integer<1, 3_600_000>>,
    pub delivery_ledger: Option<bool>,
    pub delivery_ledger_ttl_seconds: Option<Integer<1, { 10 * 365 * 24 * 3600 }>>,
    pub webhook_timeout_ms: Option<Integer<1, 3_600_000>>,
    pub reminders: Option<Object<ReminderOptions>>,
    pub respond_with_details: Option<bool>,
    /// How long `close()` waits for `onEvent` callbacks still running before it cuts them. The
    /// JS glue does the waiting (it holds the callbacks' promises); here it is only checked.
    pub close_timeout_ms: Option<Integer<1, 3_600_000>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReminderOptions {
    pub lease_seconds: Option<Integer<1, 86_400>>,
    pub poll_interval_ms: Option<Integer<10, 3_600_000>>,
    pub max_attempts: Option<Integer<1, 100>>,
    pub missed_grace_seconds: Option<Integer<0, { 366 * 24 * 3600 }>>,
    pub on_missed: Option<OnMissedOption>,
    pub poll: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMissedOption {
    Skip,
    Fire,
}

impl From<ReminderOptions> for ReminderConfig {
    fn from(options: ReminderOptions) -> Self {
        let defaults = ReminderConfig::default();
        ReminderConfig {
            lease: options
                .lease_seconds
                .map_or(defaults.lease, |Integer(s)| Duration::from_secs(s)),
            poll_interval: millis(options.poll_interval_ms).unwrap_or(defaults.poll_interval),
            max_attempts: options
                .max_attempts
                .map_or(defaults.max_attempts, |Integer(n)| n as u32),
            missed_grace: options
                .missed_grace_seconds
                .map_or(defaults.missed_grace, |Integer(s)| Duration::from_secs(s)),
            on_missed: match options.on_missed {
                Some(OnMissedOption::Fire) => OnMissed::Fire,
                Some(OnMissedOption::Skip) => OnMissed::Skip,
                None => defaults.on_missed,
            },
            poll: options.poll.unwrap_or(defaults.poll),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerOptions {
    pub max_body_bytes: Option<Integer<1, { 1 << 30 }>>,
    pub header_timeout_ms: Option<Integer<1, 3_600_000>>,
    pub body_timeout_ms: Option<Integer<1, 3_600_000>>,
    pub max_connections: Option<Integer<1, 1_000_000>>,
    pub max_in_flight: Option<Integer<1, 1_000_000>>,
}

/// A database's connect timeout, milliseconds.
type ConnectTimeoutMs = Option<Integer<1, 600_000>>;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PersistenceOptions {
    Mysql(MysqlOptions),
    Postgres(PostgresOptions),
    Dynamodb(DynamodbOptions),
    Sqlite(SqliteOptions),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MysqlOptions {
    pub connection: Object<MysqlConnection>,
    pub connect_timeout_ms: ConnectTimeoutMs,
    pub query_timeout_ms: Option<Integer<1, 600_000>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConnection {
    pub host: Required,
    pub port: Option<Integer<1, 65535>>,
    pub user: Required,
    pub password: Option<String>,
    pub database: Required,
    pub ssl: Option<Object<SslOptions>>,
}

/// `connection` or `connectionString`, exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresOptions {
    pub connection: Option<Object<PostgresConnection>>,
    pub connection_string: Option<String>,
    pub connect_timeout_ms: ConnectTimeoutMs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConnection {
    pub host: Required,
    pub port: Option<Integer<1, 65535>>,
    pub user: Required,
    pub password: Option<String>,
    pub database: Required,
    pub schema: Option<String>,
    pub ssl: Option<Object<SslOptions>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslOptions {
    pub mode: Option<String>,
    pub ca: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DynamodbOptions {
    pub region: Required,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub endpoint: Option<String>,
    pub connect_timeout_ms: ConnectTimeoutMs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteOptions {
    pub filename: Required,
}

/// A JSON object read as `T`. serde's derived structs also accept arrays (fields by position),
/// which a config should never be.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// A required non-empty string.
pub struct Required(pub String);

impl<'de> Deserialize<'de> for Required {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if !s.is_empty() => Ok(Self(s)),
            Value::String(_) | Value::Null => {
                Err(D::Error::custom("is required (a non-empty string)"))
            }
            _ => Err(D::Error::custom("must be a string")),
        }
    }
}

/// A whole number in `MIN..=MAX` (a JS number, so an integer or a float).
pub struct Integer<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Integer<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let in_range = |n: &f64| n.fract() == 0.0 && *n >= MIN as f64 && *n <= MAX as f64;
        match Value::deserialize(deserializer)?.as_f64().filter(in_range) {
            Some(n) => Ok(Self(n as u64)),
            None => Err(D::Error::custom(format!(
                "must be an integer from {MIN} to {MAX}"
            ))),
        }
    }
}

/// An array of non-empty strings.
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Array(items) => non_empty_strings(items).map(Self).map_err(D::Error::custom),
            _ => Err(D::Error::custom("must be an array of strings")),
        }
    }
}

fn non_empty_strings(items: Vec<Value>) -> Result<Vec<String>, &'static str> {
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if !s.is_empty() => Ok(s),
            _ => Err("must contain only non-empty strings"),
        })
        .collect()
}

/// One key, or several (rotation: any one may match). `""` is refused: it is what an unset
/// environment variable reads as, and would silently turn verification off (the Python SDK
/// takes it as no key; this is a documented departure). Omit the field for unsigned mode.
pub struct SigningKeys(pub Vec<String>);

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(key) if key.is_empty() => Err(D::Error::custom(
                "must not be empty (an unset environment variable?); omit it to turn signature \
                 verification off",
            )),
            Value::String(key) => Ok(Self(vec![key])),
            Value::Array(items) => non_empty_strings(items).map(Self).map_err(D::Error::custom),
            _ => Err(D::Error::custom("must be a string or an array of strings")),
        }
    }
}

type PathError = serde_path_to_error::Error<serde_json::Error>;

/// serde's error for a field, as a message that names the field. The messages of serde's own
/// errors have a fixed form (`serde::de::Error`'s provided methods); the others are ours.
fn describe(error: PathError, options: &Value) -> CoreError {
    let (mut path, mut message) = (error.path().to_string(), error.inner().to_string());
    // serde reads a tagged enum's content from a buffer, where the path is lost: read the
    // variant again alone to find the field.
    if path == "persistence" {
        if let Some(inner) = error_inside_persistence(&options["persistence"]) {
            let inner_path = inner.path().to_string();
            if inner_path != "." {
                path = format!("persistence.{inner_path}");
            }
            message = inner.inner().to_string();
        }
    }
    let field = |name: &str| {
        if path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return invalid(format!("'{}' is required", field(name)));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = rest
            .split_once(", expected ")
            .map_or("no options", |(_, e)| e);
        return invalid(format!("unknown option '{path}' (expected {expected})"));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, expected) = rest.split_once("`, expected ").unwrap_or((rest, ""));
        if !path.starts_with("persistence") {
            return invalid(format!("'{path}' must be {expected}"));
        }
        return invalid(format!(
            "unknown persistence type '{name}' (expected {expected})"
        ));
    }
    if let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.rsplit_once(", expected "))
    {
        // Leave out what was found: it may be a secret. A tag is a "variant identifier".
        let expected = if expected == "variant identifier" {
            "a string"
        } else {
            expected
        };
        return if path == "." {
            invalid("the config must be an object")
        } else {
            invalid(format!("'{path}' must be {expected}"))
        };
    }
    invalid(format!("'{path}' {message}"))
}

fn error_inside_persistence(persistence: &Value) -> Option<PathError> {
    fn error_of<T: DeserializeOwned>(fields: &Value) -> Option<PathError> {
        serde_path_to_error::deserialize::<_, T>(fields).err()
    }
    let mut fields = persistence.as_object()?.clone();
    let kind = fields.remove("type")?;
    let fields = Value::Object(fields);
    match kind.as_str()? {
        "mysql" => error_of::<MysqlOptions>(&fields),
        "postgres" => error_of::<PostgresOptions>(&fields),
        "dynamodb" => error_of::<DynamodbOptions>(&fields),
        "sqlite" => error_of::<SqliteOptions>(&fields),
        _ => None,
    }
}

fn millis<const MIN: u64, const MAX: u64>(value: Option<Integer<MIN, MAX>>) -> Option<Duration> {
    value.map(|Integer(ms)| Duration::from_millis(ms))
}

impl SdkConfig {
    /// Validates and normalises the user's options.
    pub fn from_options(options: &Value) -> Result<Self, CoreError> {
        let Object(options): Object<SdkOptions> =
            serde_path_to_error::deserialize(options).map_err(|e| describe(e, options))?;
        let path = options.path.unwrap_or_else(|| "/".to_string());
        if !path.starts_with('/') {
            return Err(invalid(format!("'path' must start with '/', got {path:?}")));
        }
        let api_base_url = match options.api_base_url {
            Some(url) if url.trim().is_empty() => {
                return Err(invalid("'apiBaseUrl' must not be empty"))
            }
            Some(url) => url,
            None => default_api_base_url(),
        };
        Ok(SdkConfig {
            credentials: ApiCredentials {
                client_id: options.client_id.0,
                client_secret: Secret::new(options.client_secret.0),
                api_key: options.api_key.filter(|k| !k.is_empty()).map(Secret::new),
                api_base_url,
                request_timeout: millis(options.request_timeout_ms)
                    .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            },
            signing_keys: options.signing_key.map_or_else(Vec::new, |keys| {
                keys.0.into_iter().map(Secret::new).collect()
            }),
            allowed_events: options.allowed_events.map(|list| list.0),
            path,
            server: options
                .server
                .map(|s| ServerLimits::from(s.0))
                .unwrap_or_default(),
            persistence: options
                .persistence
                .map(|p| PersistenceConfig::try_from(p.0))
                .transpose()?,
            debug: options.debug.unwrap_or(false),
            // 300 s by default (Stripe's and Standard Webhooks' choice; the Python SDK has no
            // window); 0 turns the window off.
            signature_tolerance_seconds: match options.signature_tolerance_seconds {
                None => Some(DEFAULT_SIGNATURE_TOLERANCE_SECONDS),
                Some(Integer(0)) => None,
                Some(Integer(seconds)) => Some(seconds),
            },
            on_event_timeout: millis(options.on_event_timeout_ms),
            delivery_ledger_ttl_seconds: match options.delivery_ledger {
                Some(false) => None,
                _ => Some(
                    options
                        .delivery_ledger_ttl_seconds
                        .map_or(DEFAULT_LEDGER_TTL_SECONDS, |s| s.0),
                ),
            },
            webhook_timeout: millis(options.webhook_timeout_ms).unwrap_or(DEFAULT_WEBHOOK_TIMEOUT),
            reminders: options
                .reminders
                .map(|r| ReminderConfig::from(r.0))
                .unwrap_or_default(),
            respond_with_details: options.respond_with_details.unwrap_or(false),
        })
    }
}

impl From<ServerOptions> for ServerLimits {
    fn from(options: ServerOptions) -> Self {
        let defaults = ServerLimits::default();
        ServerLimits {
            max_body_bytes: options
                .max_body_bytes
                .map_or(defaults.max_body_bytes, |n| n.0 as usize),
            header_timeout: millis(options.header_timeout_ms).unwrap_or(defaults.header_timeout),
            body_timeout: millis(options.body_timeout_ms).unwrap_or(defaults.body_timeout),
            max_connections: options
                .max_connections
                .map_or(defaults.max_connections, |n| n.0 as usize),
            max_in_flight: options
                .max_in_flight
                .map_or(defaults.max_in_flight, |n| n.0 as usize),
        }
    }
}

impl TryFrom<PersistenceOptions> for PersistenceConfig {
    type Error = CoreError;

    fn try_from(options: PersistenceOptions) -> Result<Self, CoreError> {
        let connect_timeout =
            |ms: ConnectTimeoutMs| millis(ms).unwrap_or(DEFAULT_DB_CONNECT_TIMEOUT);
        Ok(match options {
            PersistenceOptions::Mysql(MysqlOptions {
                connection: Object(c),
                connect_timeout_ms,
                query_timeout_ms,
            }) => {
                let (ssl_mode, ssl_ca) = ssl_options::<MysqlSslMode>(c.ssl, &c.host.0)?;
                if ssl_ca.is_some()
                    && !matches!(
                        ssl_mode,
                        MysqlSslMode::VerifyCa | MysqlSslMode::VerifyIdentity
                    )
                {
                    return Err(invalid(
                        "a mysql CA certificate is only used with ssl mode verify-ca or \
                         verify-identity",
                    ));
                }
                PersistenceConfig::Mysql(MysqlConfig {
                    host: c.host.0,
                    port: c.port.map_or(3306, |p| p.0 as u16),
                    user: c.user.0,
                    password: Secret::new(c.password.unwrap_or_default()),
                    database: c.database.0,
                    ssl_mode,
                    ssl_ca,
                    connect_timeout: connect_timeout(connect_timeout_ms),
                    query_timeout: millis(query_timeout_ms).unwrap_or(DEFAULT_DB_QUERY_TIMEOUT),
                })
            }
            PersistenceOptions::Postgres(p) => {
                let connect_timeout = connect_timeout(p.connect_timeout_ms);
                PersistenceConfig::Postgres(match (p.connection, p.connection_string) {
                    (Some(Object(c)), None) => postgres_connection(c, connect_timeout)?,
                    (None, Some(url)) => parse_postgres_url(&url, connect_timeout)?,
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "give 'persistence.connection' or 'persistence.connectionString', \
                             not both",
                        ))
                    }
                    (None, None) => {
                        return Err(invalid(
                            "'persistence.connection' or 'persistence.connectionString' is \
                             required for postgres",
                        ))
                    }
                })
            }
            PersistenceOptions::Dynamodb(d) => {
                if d.access_key_id.is_some() != d.secret_access_key.is_some() {
                    return Err(invalid(
                        "'persistence.accessKeyId' and 'persistence.secretAccessKey' must be \
                         given together",
                    ));
                }
                if let Some(e) = &d.endpoint {
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(invalid(format!(
                            "'persistence.endpoint' must be an http(s) URL, got {e:?}"
                        )));
                    }
                }
                PersistenceConfig::Dynamodb(DynamodbConfig {
                    region: d.region.0,
                    access_key_id: d.access_key_id,
                    secret_access_key: d.secret_access_key.map(Secret::new),
                    endpoint: d.endpoint,
                    connect_timeout: connect_timeout(d.connect_timeout_ms),
                })
            }
            PersistenceOptions::Sqlite(s) => PersistenceConfig::Sqlite(SqliteConfig {
                filename: s.filename.0,
            }),
        })
    }
}

fn postgres_connection(
    c: PostgresConnection,
    connect_timeout: Duration,
) -> Result<PostgresConfig, CoreError> {
    let (ssl_mode, ssl_root_cert) = ssl_options::<PostgresSslMode>(c.ssl, &c.host.0)?;
    let host = c.host.0;
    postgres_config(PostgresConfig {
        port: c.port.map_or(DEFAULT_POSTGRES_PORT, |p| p.0 as u16),
        user: c.user.0,
        password: Secret::new(c.password.unwrap_or_default()),
        database: c.database.0,
        schema: c
            .schema
            .unwrap_or_else(|| DEFAULT_POSTGRES_SCHEMA.to_string()),
        ssl_mode,
        ssl_root_cert,
        connect_timeout,
        host,
    })
}

/// `postgres://user:password@host:5432/database?sslmode=…&sslrootcert=…&schema=…`. Errors
/// never quote the string: it may hold the password.
fn parse_postgres_url(text: &str, connect_timeout: Duration) -> Result<PostgresConfig, CoreError> {
    const FORM: &str = "postgres://user:password@host:5432/database";
    let url = url::Url::parse(text).map_err(|e| {
        invalid(format!(
            "'persistence.connectionString' is not a URL ({e}); expected {FORM}"
        ))
    })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!(
            "'persistence.connectionString' must start with postgres://, e.g. {FORM}"
        )));
    }
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8_lossy()
            .into_owned()
    };
    let host = url.host_str().filter(|h| !h.is_empty()).map(decode);
    let database = decode(url.path().trim_start_matches('/'));
    let (Some(host), false, false) = (host, url.username().is_empty(), database.is_empty()) else {
        return Err(invalid(format!(
            "'persistence.connectionString' needs a user, a host and a database: {FORM}"
        )));
    };
    let (mut ssl_mode, mut ssl_root_cert, mut schema) = (None, None, None);
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => {
                ssl_mode = Some(parse_ssl_mode(
                    &value,
                    "'sslmode' in 'persistence.connectionString'",
                )?)
            }
            "sslrootcert" => ssl_root_cert = Some(RootCert::File(value.into_owned())),
            "schema" => schema = Some(value.into_owned()),
            other => {
                return Err(invalid(format!(
                    "unknown parameter '{other}' in 'persistence.connectionString' \
                     (expected sslmode, sslrootcert or schema)"
                )))
            }
        }
    }
    postgres_config(PostgresConfig {
        port: url.port().unwrap_or(DEFAULT_POSTGRES_PORT),
        user: decode(url.username()),
        password: Secret::new(decode(url.password().unwrap_or(""))),
        database,
        schema: schema.unwrap_or_else(|| DEFAULT_POSTGRES_SCHEMA.to_string()),
        ssl_mode: ssl_mode.unwrap_or_else(|| PostgresSslMode::default_for_host(&host)),
        ssl_root_cert,
        connect_timeout,
        host,
    })
}

fn parse_ssl_mode<M: SslMode>(name: &str, field: &str) -> Result<M, CoreError> {
    M::from_name(name).ok_or_else(|| {
        invalid(format!(
            "{field} must be one of {}, got {name:?}",
            M::names().join(", ")
        ))
    })
}

/// `connection.ssl`: the mode (by default the host's, see `SslMode::default_for_host`) and the
/// CA given as PEM text.
fn ssl_options<M: SslMode>(
    ssl: Option<Object<SslOptions>>,
    host: &str,
) -> Result<(M, Option<RootCert>), CoreError> {
    let Some(Object(ssl)) = ssl else {
        return Ok((M::default_for_host(host), None));
    };
    let mode = match ssl.mode {
        Some(name) => parse_ssl_mode(&name, "'persistence.connection.ssl.mode'")?,
        None => M::default_for_host(host),
    };
    Ok((mode, ssl.ca.map(RootCert::Pem)))
}

/// The checks both forms share. The schema is limited to plain identifiers so that it means
/// the same quoted or not, and cannot widen the `search_path`.
fn postgres_config(config: PostgresConfig) -> Result<PostgresConfig, CoreError> {
    let schema = &config.schema;
    let plain = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if !plain {
        return Err(invalid(format!(
            "the postgres schema must be 1 to 63 lower-case letters, digits or '_', not starting with a digit; got {schema:?}"
        )));
    }
    if config.ssl_root_cert.is_some()
        && config.ssl_mode != PostgresSslMode::VerifyCa
        && config.ssl_mode != PostgresSslMode::VerifyFull
    {
        return Err(invalid(
            "a postgres CA certificate is only used with ssl mode verify-ca or verify-full",
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(options: Value) -> String {
        SdkConfig::from_options(&options).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = SdkConfig::from_options(&json!({"clientId": "id", "clientSecret": "s"})).unwrap();
        assert_eq!(c.path, "/");
        assert!(c.signing_keys.is_empty());
        assert!(c.persistence.is_none());
        assert_eq!(c.credentials.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert!(
            !c.respond_with_details,
            "answers carry no patient data by default"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err(json!({"clientSecret": "s"})).contains("'clientId' is required"));
        assert!(
            err(json!({"clientId": "", "clientSecret": "s"})).contains("'clientId' is required")
        );
        assert!(err(json!({"clientId": 5, "clientSecret": "s"}))
            .contains("'clientId' must be a string"));
        assert!(
            err(json!({"clientId": "i", "clientSecret": "s", "signingkey": "k"}))
                .contains("unknown option 'signingkey'")
        );
        assert!(
            err(json!({"clientId": "i", "clientSecret": "s", "signingKey": 3}))
                .contains("'signingKey' must be a string or an array")
        );
        assert!(
            err(json!({"clientId": "i", "clientSecret": "s", "signingKey": ["a", ""]}))
                .contains("'signingKey' must contain only non-empty strings")
        );
        assert!(
            err(json!({"clientId": "i", "clientSecret": "s", "signingKey": ""}))
                .contains("'signingKey' must not be empty (an unset environment variable?)")
        );
        assert!(err(
            json!({"clientId": "i", "clientSecret": "s", "signatureToleranceSeconds": -1})
        )
        .contains("'signatureToleranceSeconds' must be an integer"));
        assert!(err(
            json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "redis"}})
        )
        .contains("unknown persistence type 'redis'"));
        assert!(err(
            json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "mysql"}})
        )
        .contains("'persistence.connection' is required"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "mysql", "connection": {"host": "h", "user": "u", "database": "d", "port": 70000}}})).contains("'persistence.connection.port'"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "dynamodb", "region": "r", "accessKeyId": "a"}})).contains("given together"));
        assert!(
            err(json!({"clientId": "i", "clientSecret": "s", "path": "hook"}))
                .contains("'path' must start with '/'")
        );
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let e = err(
            json!({"clientId": "i", "clientSecret": "topsecret", "persistence": {"type": "mysql", "connection": {"host": "h", "user": "u", "password": "dbpass", "database": "d", "port": "x"}}}),
        );
        assert!(!e.contains("topsecret") && !e.contains("dbpass"), "{e}");
        // A secret pasted where another type belongs is not quoted either.
        let e = err(json!({"clientId": "i", "clientSecret": "s", "debug": "topsecret"}));
        assert!(
            e.contains("'debug' must be a boolean") && !e.contains("topsecret"),
            "{e}"
        );
        let e = err(json!({"clientId": "i", "clientSecret": "s", "server": "topsecret"}));
        assert!(!e.contains("topsecret"), "{e}");
    }

    fn postgres(persistence: Value) -> Result<PostgresConfig, CoreError> {
        let options = json!({"clientId": "i", "clientSecret": "s", "persistence": persistence});
        match SdkConfig::from_options(&options)?.persistence {
            Some(PersistenceConfig::Postgres(c)) => Ok(c),
            other => panic!("not postgres: {other:?}"),
        }
    }

    #[test]
    fn postgres_connection_object_and_string_give_the_same_config() {
        let object = postgres(
            json!({"type": "postgres", "connectTimeoutMs": 900, "connection": {
            "host": "db.internal", "user": "eka", "password": "p@ss", "database": "clinic",
            "schema": "eka", "ssl": {"mode": "verify-ca", "ca": "PEM"}}}),
        )
        .unwrap();
        // Where and as whom it connects: the same from both forms.
        let login = |c: &PostgresConfig| {
            let fields = [
                &c.host,
                &c.user,
                c.password.expose(),
                &c.database,
                &c.schema,
            ];
            fields.map(str::to_string)
        };
        assert_eq!(
            login(&object),
            ["db.internal", "eka", "p@ss", "clinic", "eka"]
        );
        assert_eq!(object.port, 5432);
        assert_eq!(object.ssl_mode, PostgresSslMode::VerifyCa);
        assert_eq!(object.ssl_root_cert, Some(RootCert::Pem("PEM".into())));
        assert_eq!(object.connect_timeout, Duration::from_millis(900));

        let url = "postgresql://eka:p%40ss@db.internal:6432/clinic?sslmode=require&schema=eka";
        let string = postgres(json!({"type": "postgres", "connectionString": url})).unwrap();
        assert_eq!(login(&string), login(&object));
        assert_eq!(string.port, 6432);
        assert_eq!(string.ssl_mode, PostgresSslMode::Require);
        assert_eq!(string.connect_timeout, DEFAULT_DB_CONNECT_TIMEOUT);
        let file = postgres(json!({"type": "postgres",
            "connectionString": "postgres://u@h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem"}))
        .unwrap();
        assert_eq!(
            file.ssl_root_cert,
            Some(RootCert::File("/etc/ca.pem".into()))
        );
    }

    #[test]
    fn postgres_defaults_verify_remote_servers_only() {
        let mode = |host: &str| {
            let connection = json!({"host": host, "user": "u", "database": "d"});
            postgres(json!({"type": "postgres", "connection": connection}))
                .unwrap()
                .ssl_mode
        };
        assert_eq!(mode("127.0.0.1"), PostgresSslMode::Prefer);
        assert_eq!(mode("localhost"), PostgresSslMode::Prefer);
        assert_eq!(mode("::1"), PostgresSslMode::Prefer);
        assert_eq!(mode("db.example.com"), PostgresSslMode::VerifyFull);
        let c =
            postgres(json!({"type": "postgres", "connectionString": "postgres://u@127.0.0.1/d"}))
                .unwrap();
        assert_eq!(
            (c.port, c.schema.as_str(), c.password.expose()),
            (5432, "public", "")
        );
        assert_eq!(c.ssl_mode, PostgresSslMode::Prefer);
    }

    #[test]
    fn mysql_ssl_modes_default_by_host_and_are_checked() {
        let config = |connection: Value| -> Result<MysqlConfig, CoreError> {
            let options = json!({"clientId": "i", "clientSecret": "s",
                "persistence": {"type": "mysql", "connection": connection}});
            match SdkConfig::from_options(&options)?.persistence {
                Some(PersistenceConfig::Mysql(c)) => Ok(c),
                other => panic!("not mysql: {other:?}"),
            }
        };
        let mode = |host: &str| {
            config(json!({"host": host, "user": "u", "database": "d"}))
                .unwrap()
                .ssl_mode
        };
        assert_eq!(mode("127.0.0.1"), MysqlSslMode::Preferred);
        assert_eq!(mode("127.1.2.3"), MysqlSslMode::Preferred);
        assert_eq!(mode("localhost"), MysqlSslMode::Preferred);
        assert_eq!(mode("[::1]"), MysqlSslMode::Preferred);
        assert_eq!(mode("db.example.com"), MysqlSslMode::VerifyIdentity);
        assert_eq!(mode("10.0.0.5"), MysqlSslMode::VerifyIdentity);
        let with_ssl = |ssl: Value| {
            config(
                json!({"host": "db", "user": "u", "database": "d", "password": "dbpass",
                "ssl": ssl}),
            )
        };
        let c = with_ssl(json!({"mode": "verify-ca", "ca": "PEM"})).unwrap();
        assert_eq!(
            (c.ssl_mode, c.ssl_ca),
            (MysqlSslMode::VerifyCa, Some(RootCert::Pem("PEM".into())))
        );
        assert_eq!(
            with_ssl(json!({"mode": "disabled"})).unwrap().ssl_mode,
            MysqlSslMode::Disabled
        );
        assert_eq!(
            with_ssl(json!({})).unwrap().ssl_mode,
            MysqlSslMode::VerifyIdentity
        );
        for (ssl, message) in [
            (
                json!({"mode": "require"}),
                "'persistence.connection.ssl.mode' must be one of \
                disabled, preferred, required, verify-ca, verify-identity, got \"require\"",
            ),
            (
                json!({"mode": "required", "ca": "PEM"}),
                "verify-ca or verify-identity",
            ),
            (json!(true), "'persistence.connection.ssl'"),
            (
                json!({"rejectUnauthorized": false}),
                "unknown option 'persistence.connection.ssl.rejectUnauthorized'",
            ),
        ] {
            let e = with_ssl(ssl.clone()).unwrap_err().to_string();
            assert!(e.contains(message) && !e.contains("dbpass"), "{ssl}: {e}");
        }
    }

    #[test]
    fn postgres_errors_name_the_field_and_hide_the_password() {
        let e = |p: Value| postgres(p).unwrap_err().to_string();
        let conn = |extra: Value| {
            let mut c = json!({"host": "h", "user": "u", "database": "d", "password": "dbpass"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"type": "postgres", "connection": c})
        };
        assert!(e(json!({"type": "postgres"}))
            .contains("'persistence.connection' or 'persistence.connectionString' is required"));
        let both = json!({"type": "postgres", "connectionString": "postgres://u@h/d",
            "connection": {"host": "h", "user": "u", "database": "d"}});
        assert!(e(both).contains("not both"));
        assert!(e(conn(json!({"port": 0}))).contains("'persistence.connection.port'"));
        assert!(e(conn(json!({"ssl": {"mode": "verify"}})))
            .contains("'persistence.connection.ssl.mode' must be one of disable"));
        assert!(e(conn(json!({"ssl": {"mode": "require", "ca": "PEM"}})))
            .contains("verify-ca or verify-full"));
        assert!(e(conn(json!({"schema": "Eka; DROP"}))).contains("the postgres schema must be"));
        assert!(e(conn(json!({"sslmode": "x"})))
            .contains("unknown option 'persistence.connection.sslmode'"));
        for url in [
            "mysql://u:dbpass@h/d",
            "postgres://u:dbpass@h",
            "postgres://:dbpass@h/d",
            "postgres://u:dbpass@h/d?sslmode=on",
            "postgres://u:dbpass@h/d?options=x",
            "postgres://u:dbpass@h:99999/d",
        ] {
            let message = e(json!({"type": "postgres", "connectionString": url}));
            assert!(message.contains("connectionString"), "{message}");
            assert!(!message.contains("dbpass"), "{message}");
        }
    }

    fn with(key: &str, value: Value) -> Value {
        let mut options = json!({"clientId": "i", "clientSecret": "s"});
        options[key] = value;
        options
    }

    /// Each config fails with an error containing its message.
    fn assert_errors<const N: usize>(cases: [(Value, &str); N]) {
        for (options, message) in cases {
            let e = err(options.clone());
            assert!(e.contains(message), "{options}: {e}");
        }
    }

    fn mysql(connection: Value) -> Value {
        with(
            "persistence",
            json!({"type": "mysql", "connection": connection}),
        )
    }

    fn postgres_ssl(ssl: Value) -> Value {
        let connection = json!({"host": "h", "user": "u", "database": "d", "ssl": ssl});
        with(
            "persistence",
            json!({"type": "postgres", "connection": connection}),
        )
    }

    #[test]
    fn unknown_keys_are_named_at_every_level() {
        assert_errors([
            (
                with("signingkey", json!("k")),
                "unknown option 'signingkey' (expected one of `clientId`",
            ),
            (
                with("server", json!({"maxBody": 1})),
                "unknown option 'server.maxBody' (expected one of `maxBodyBytes`",
            ),
            (
                with(
                    "persistence",
                    json!({"type": "sqlite", "filename": "f", "file": "g"}),
                ),
                "unknown option 'persistence.file' (expected `filename`)",
            ),
            (
                mysql(json!({"host": "h", "user": "u", "database": "d", "sslMode": "x"})),
                "unknown option 'persistence.connection.sslMode'",
            ),
            (
                postgres_ssl(json!({"sslmode": "x"})),
                "unknown option 'persistence.connection.ssl.sslmode' (expected `mode` or `ca`)",
            ),
        ]);
    }

    #[test]
    fn wrong_types_name_the_path() {
        assert_errors([
            (with("server", json!("big")), "'server' must be an object"),
            (
                with("server", json!({"headerTimeoutMs": 1.5})),
                "'server.headerTimeoutMs' must be an integer from 1 to 3600000",
            ),
            (with("apiKey", json!(5)), "'apiKey' must be a string"),
            (
                with("respondWithDetails", json!("yes")),
                "'respondWithDetails' must be a boolean",
            ),
            (
                with("closeTimeoutMs", json!(0)),
                "'closeTimeoutMs' must be an integer from 1 to 3600000",
            ),
            (
                with("persistence", json!(5)),
                "'persistence' must be an object",
            ),
            (
                with("persistence", json!({"type": 5})),
                "'persistence.type' must be a string",
            ),
            (
                mysql(json!("mysql://h")),
                "'persistence.connection' must be an object",
            ),
            (
                mysql(json!({"host": "h", "user": "u", "database": "d", "password": 5})),
                "'persistence.connection.password' must be a string",
            ),
            (
                mysql(json!({"host": "h", "user": 7, "database": "d"})),
                "'persistence.connection.user' must be a string",
            ),
            (
                postgres_ssl(json!({"mode": 1})),
                "'persistence.connection.ssl.mode' must be a string",
            ),
            (
                with(
                    "persistence",
                    json!({"type": "dynamodb", "region": "r", "connectTimeoutMs": 0}),
                ),
                "'persistence.connectTimeoutMs' must be an integer from 1",
            ),
        ]);
    }

    #[test]
    fn required_fields_are_named_where_they_are_missing() {
        assert_errors([
            (json!({"clientId": "i"}), "'clientSecret' is required"),
            (
                json!({"clientId": null, "clientSecret": "s"}),
                "'clientId' is required",
            ),
            (
                with("persistence", json!({})),
                "'persistence.type' is required",
            ),
            (
                with("persistence", json!({"type": "sqlite"})),
                "'persistence.filename' is required",
            ),
            (
                with(
                    "persistence",
                    json!({"type": "mysql", "connection": {"host": "h", "user": "u"}}),
                ),
                "'persistence.connection.database' is required",
            ),
            (
                with("persistence", json!({"type": "dynamodb", "region": ""})),
                "'persistence.region' is required (a non-empty string)",
            ),
        ]);
    }

    #[test]
    fn arrays_are_not_objects() {
        // serde's derived structs would take these as fields by position.
        assert!(err(json!(["i", "s"])).contains("the config must be an object"));
        assert!(err(with("server", json!([1, 2, 3]))).contains("'server' must be an object"));
        assert!(err(with("persistence", json!(["sqlite", "f"])))
            .contains("'persistence' must be an object"));
        let connection = json!(["h", 3306, "u", "p", "d"]);
        let e = err(with(
            "persistence",
            json!({"type": "mysql", "connection": connection}),
        ));
        assert!(
            e.contains("'persistence.connection' must be an object"),
            "{e}"
        );
    }

    #[test]
    fn null_is_absent() {
        let options = json!({"clientId": "i", "clientSecret": "s", "debug": null, "server": null,
            "persistence": null, "signingKey": null, "path": null, "requestTimeoutMs": null});
        let c = SdkConfig::from_options(&options).unwrap();
        assert!(!c.debug && c.persistence.is_none() && c.signing_keys.is_empty());
        assert_eq!((c.path.as_str(), c.server), ("/", ServerLimits::default()));
    }

    #[test]
    fn every_field_is_read() {
        let connection =
            json!({"host": "h", "port": 3307, "user": "u", "password": "p", "database": "d"});
        let c =
            SdkConfig::from_options(&json!({"clientId": "i", "clientSecret": "s", "apiKey": "k",
            "signingKey": "sk", "allowedEvents": ["a"], "path": "/hook", "debug": true,
            "apiBaseUrl": "http://127.0.0.1:1", "signatureToleranceSeconds": 60,
            "requestTimeoutMs": 1500, "onEventTimeoutMs": 40, "webhookTimeoutMs": 45,
            "respondWithDetails": true, "closeTimeoutMs": 300,
            "server": {"maxBodyBytes": 10, "headerTimeoutMs": 20, "bodyTimeoutMs": 30,
                "maxConnections": 60, "maxInFlight": 70},
            "persistence": {"type": "mysql", "connectTimeoutMs": 50, "queryTimeoutMs": 60,
                "connection": connection}}))
            .unwrap();
        assert_eq!(
            c.credentials.api_key.as_ref().map(Secret::expose),
            Some("k")
        );
        assert_eq!(
            (c.signing_keys.len(), c.allowed_events, c.path.as_str()),
            (1, Some(vec!["a".to_string()]), "/hook")
        );
        assert!(c.debug && c.respond_with_details);
        assert_eq!(c.credentials.api_base_url, "http://127.0.0.1:1");
        assert_eq!(
            (c.signature_tolerance_seconds, c.credentials.request_timeout),
            (Some(60), Duration::from_millis(1500))
        );
        let ms = Duration::from_millis;
        assert_eq!(
            c.server,
            ServerLimits {
                max_body_bytes: 10,
                header_timeout: ms(20),
                body_timeout: ms(30),
                max_connections: 60,
                max_in_flight: 70,
            }
        );
        assert_eq!(
            (c.on_event_timeout, c.webhook_timeout),
            (Some(ms(40)), ms(45))
        );
        let Some(PersistenceConfig::Mysql(m)) = c.persistence else {
            panic!("not mysql")
        };
        assert_eq!(
            (
                m.host.as_str(),
                m.port,
                m.user.as_str(),
                m.password.expose(),
                m.database.as_str()
            ),
            ("h", 3307, "u", "p", "d")
        );
        assert_eq!((m.connect_timeout, m.query_timeout), (ms(50), ms(60)));
    }

    #[test]
    fn key_array_is_rotation() {
        let c = SdkConfig::from_options(
            &json!({"clientId": "i", "clientSecret": "s", "signingKey": ["old", "new"]}),
        )
        .unwrap();
        assert_eq!(c.signing_keys.len(), 2);
    }
}
