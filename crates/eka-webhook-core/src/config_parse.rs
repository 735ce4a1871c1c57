//! Turns the user's config object (as JSON, minus callbacks) into an `SdkConfig`, with an error
//! that names the offending field for anything malformed. Unknown keys are rejected: a typo
//! such as `signingkey` would otherwise silently turn verification off.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::*;
use crate::error::CoreError;
use crate::secret::Secret;

const TOP_LEVEL_KEYS: &[&str] = &[
    "clientId",
    "clientSecret",
    "apiKey",
    "signingKey",
    "allowedEvents",
    "onEvent",
    "path",
    "persistence",
    "debug",
    "apiBaseUrl",
    "signatureToleranceSeconds",
    "requestTimeoutMs",
    "server",
    "onEventTimeoutMs",
];

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::InvalidConfig(format!("WebhookSDK: {}", message.into()))
}

/// A view of one JSON object that reads typed fields, treating `null` as absent.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, prefix: &'a str, allowed: &[&str]) -> Result<Self, CoreError> {
        let map = value
            .as_object()
            .ok_or_else(|| invalid(format!("'{}' must be an object", prefix.trim_end_matches('.'))))?;
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown option '{prefix}{unknown}' (expected one of: {})",
                allowed.join(", ")
            )));
        }
        Ok(Self { map, prefix })
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, CoreError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(format!("'{}' must be a string", self.name(key)))),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, CoreError> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(invalid(format!("'{}' is required (a non-empty string)", self.name(key)))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, CoreError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(format!("'{}' must be a boolean", self.name(key)))),
        }
    }

    /// A whole number in `min..=max`.
    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, CoreError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let n = value.as_f64().filter(|n| n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64);
        match n {
            Some(n) => Ok(Some(n as u64)),
            None => Err(invalid(format!("'{}' must be an integer from {min} to {max}", self.name(key)))),
        }
    }

    fn string_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, CoreError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if !s.is_empty() => Ok(s.as_str()),
                    _ => Err(invalid(format!("'{}' must contain only non-empty strings", self.name(key)))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(format!("'{}' must be an array of strings", self.name(key)))),
        }
    }
}

impl SdkConfig {
    /// Validates and normalises the user's options. `onEvent` is handled by the binding; here it
    /// is only allowed to be present.
    pub fn from_options(options: &Value) -> Result<Self, CoreError> {
        if !options.is_object() {
            return Err(invalid("the config must be an object"));
        }
        let f = Fields::new(options, "", TOP_LEVEL_KEYS)?;
        let client_id = f.required_string("clientId")?;
        let client_secret = f.required_string("clientSecret")?;
        let signing_keys = match f.get("signingKey") {
            None => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::String(s)) => vec![Secret::new(s.as_str())],
            Some(Value::Array(_)) => f.string_list("signingKey")?.unwrap_or_default().into_iter().map(Secret::new).collect(),
            Some(_) => return Err(invalid("'signingKey' must be a string or an array of strings")),
        };
        let path = f.string("path")?.unwrap_or("/");
        if !path.starts_with('/') {
            return Err(invalid(format!("'path' must start with '/', got {path:?}")));
        }
        let api_base_url = match f.string("apiBaseUrl")? {
            Some(url) if !url.trim().is_empty() => url.to_string(),
            Some(_) => return Err(invalid("'apiBaseUrl' must not be empty")),
            None => default_api_base_url(),
        };
        let request_timeout = f
            .integer("requestTimeoutMs", 1, 600_000)?
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        Ok(SdkConfig {
            credentials: ApiCredentials {
                client_id: client_id.to_string(),
                client_secret: Secret::new(client_secret),
                api_key: f.string("apiKey")?.filter(|k| !k.is_empty()).map(Secret::new),
                api_base_url,
                request_timeout,
            },
            signing_keys,
            allowed_events: f
                .string_list("allowedEvents")?
                .map(|list| list.into_iter().map(str::to_string).collect()),
            path: path.to_string(),
            server: f.get("server").map(parse_server_limits).transpose()?.unwrap_or_default(),
            persistence: f.get("persistence").map(parse_persistence).transpose()?,
            debug: f.bool("debug")?.unwrap_or(false),
            signature_tolerance_seconds: f.integer("signatureToleranceSeconds", 0, 10 * 365 * 24 * 3600)?,
            on_event_timeout: f.integer("onEventTimeoutMs", 1, 3_600_000)?.map(Duration::from_millis),
        })
    }
}

fn parse_server_limits(value: &Value) -> Result<ServerLimits, CoreError> {
    let f = Fields::new(value, "server.", &["maxBodyBytes", "headerTimeoutMs", "bodyTimeoutMs"])?;
    let defaults = ServerLimits::default();
    let millis = |key: &str, default: Duration| -> Result<Duration, CoreError> {
        Ok(f.integer(key, 1, 3_600_000)?.map(Duration::from_millis).unwrap_or(default))
    };
    Ok(ServerLimits {
        max_body_bytes: f
            .integer("maxBodyBytes", 1, 1 << 30)?
            .map(|n| n as usize)
            .unwrap_or(defaults.max_body_bytes),
        header_timeout: millis("headerTimeoutMs", defaults.header_timeout)?,
        body_timeout: millis("bodyTimeoutMs", defaults.body_timeout)?,
    })
}

const PERSISTENCE_TYPES: &str = "\"mysql\", \"postgres\", \"dynamodb\" or \"sqlite\"";

fn parse_postgres_connection(value: &Value, connect_timeout: Duration) -> Result<PostgresConfig, CoreError> {
    let c = Fields::new(
        value,
        "persistence.connection.",
        &["host", "port", "user", "password", "database", "schema", "ssl"],
    )?;
    let host = c.required_string("host")?.to_string();
    let (ssl_mode, ssl_root_cert) = match c.get("ssl") {
        None => (None, None),
        Some(ssl) => {
            let s = Fields::new(ssl, "persistence.connection.ssl.", &["mode", "ca"])?;
            let mode = s.string("mode")?.map(|m| parse_ssl_mode(m, "'persistence.connection.ssl.mode'")).transpose()?;
            (mode, s.string("ca")?.map(|pem| RootCert::Pem(pem.to_string())))
        }
    };
    postgres_config(PostgresConfig {
        port: c.integer("port", 1, 65535)?.map(|p| p as u16).unwrap_or(DEFAULT_POSTGRES_PORT),
        user: c.required_string("user")?.to_string(),
        password: Secret::new(c.string("password")?.unwrap_or("")),
        database: c.required_string("database")?.to_string(),
        schema: c.string("schema")?.unwrap_or(DEFAULT_POSTGRES_SCHEMA).to_string(),
        ssl_mode: ssl_mode.unwrap_or_else(|| PostgresSslMode::default_for_host(&host)),
        ssl_root_cert,
        connect_timeout,
        host,
    })
}

/// `postgres://user:password@host:5432/database?sslmode=…&sslrootcert=…&schema=…`. Errors
/// never quote the string: it may hold the password.
fn parse_postgres_url(text: &str, connect_timeout: Duration) -> Result<PostgresConfig, CoreError> {
    const FORM: &str = "postgres://user:password@host:5432/database";
    let url = url::Url::parse(text)
        .map_err(|e| invalid(format!("'persistence.connectionString' is not a URL ({e}); expected {FORM}")))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!("'persistence.connectionString' must start with postgres://, e.g. {FORM}")));
    }
    let decode = |part: &str| percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned();
    let host = url.host_str().filter(|h| !h.is_empty()).map(decode);
    let database = decode(url.path().trim_start_matches('/'));
    let (Some(host), false, false) = (host, url.username().is_empty(), database.is_empty()) else {
        return Err(invalid(format!("'persistence.connectionString' needs a user, a host and a database: {FORM}")));
    };
    let (mut ssl_mode, mut ssl_root_cert, mut schema) = (None, None, None);
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => ssl_mode = Some(parse_ssl_mode(&value, "'sslmode' in 'persistence.connectionString'")?),
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

fn parse_ssl_mode(name: &str, field: &str) -> Result<PostgresSslMode, CoreError> {
    PostgresSslMode::from_name(name).ok_or_else(|| {
        invalid(format!("{field} must be one of {}, got {name:?}", PostgresSslMode::NAMES.join(", ")))
    })
}

/// The checks both forms share. The schema is limited to plain identifiers so that it means
/// the same quoted or not, and cannot widen the `search_path`.
fn postgres_config(config: PostgresConfig) -> Result<PostgresConfig, CoreError> {
    let schema = &config.schema;
    let plain = schema.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if !plain {
        return Err(invalid(format!(
            "the postgres schema must be 1 to 63 lower-case letters, digits or '_', not starting with a digit; got {schema:?}"
        )));
    }
    if config.ssl_root_cert.is_some() && config.ssl_mode != PostgresSslMode::VerifyCa
        && config.ssl_mode != PostgresSslMode::VerifyFull
    {
        return Err(invalid("a postgres CA certificate is only used with ssl mode verify-ca or verify-full"));
    }
    Ok(config)
}

fn parse_persistence(value: &Value) -> Result<PersistenceConfig, CoreError> {
    let kind = value.get("type").and_then(Value::as_str);
    let connect_timeout = |f: &Fields| -> Result<Duration, CoreError> {
        Ok(f.integer("connectTimeoutMs", 1, 600_000)?.map(Duration::from_millis).unwrap_or(DEFAULT_DB_CONNECT_TIMEOUT))
    };
    match kind {
        Some("mysql") => {
            let f = Fields::new(value, "persistence.", &["type", "connection", "connectTimeoutMs"])?;
            let connect_timeout = connect_timeout(&f)?;
            let c = Fields::new(
                f.get("connection").ok_or_else(|| invalid("'persistence.connection' is required for mysql"))?,
                "persistence.connection.",
                &["host", "port", "user", "password", "database"],
            )?;
            Ok(PersistenceConfig::Mysql(MysqlConfig {
                host: c.required_string("host")?.to_string(),
                port: c.integer("port", 1, 65535)?.map(|p| p as u16).unwrap_or(3306),
                user: c.required_string("user")?.to_string(),
                password: Secret::new(c.string("password")?.unwrap_or("")),
                database: c.required_string("database")?.to_string(),
                connect_timeout,
            }))
        }
        Some("dynamodb") => {
            let f = Fields::new(
                value,
                "persistence.",
                &["type", "region", "accessKeyId", "secretAccessKey", "endpoint", "connectTimeoutMs"],
            )?;
            let access_key_id = f.string("accessKeyId")?.map(str::to_string);
            let secret_access_key = f.string("secretAccessKey")?.map(Secret::new);
            if access_key_id.is_some() != secret_access_key.is_some() {
                return Err(invalid(
                    "'persistence.accessKeyId' and 'persistence.secretAccessKey' must be given together",
                ));
            }
            let endpoint = f.string("endpoint")?.map(str::to_string);
            if let Some(e) = &endpoint {
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    return Err(invalid(format!("'persistence.endpoint' must be an http(s) URL, got {e:?}")));
                }
            }
            Ok(PersistenceConfig::Dynamodb(DynamodbConfig {
                region: f.required_string("region")?.to_string(),
                access_key_id,
                secret_access_key,
                endpoint,
                connect_timeout: connect_timeout(&f)?,
            }))
        }
        Some("postgres") => {
            let f = Fields::new(value, "persistence.", &["type", "connection", "connectionString", "connectTimeoutMs"])?;
            let connect_timeout = connect_timeout(&f)?;
            let config = match (f.get("connection"), f.string("connectionString")?) {
                (Some(connection), None) => parse_postgres_connection(connection, connect_timeout)?,
                (None, Some(url)) => parse_postgres_url(url, connect_timeout)?,
                (Some(_), Some(_)) => {
                    return Err(invalid("give 'persistence.connection' or 'persistence.connectionString', not both"))
                }
                (None, None) => {
                    return Err(invalid(
                        "'persistence.connection' or 'persistence.connectionString' is required for postgres",
                    ))
                }
            };
            Ok(PersistenceConfig::Postgres(config))
        }
        Some("sqlite") => {
            let f = Fields::new(value, "persistence.", &["type", "filename"])?;
            Ok(PersistenceConfig::Sqlite(SqliteConfig { filename: f.required_string("filename")?.to_string() }))
        }
        Some(other) => Err(invalid(format!(
            "unknown persistence type '{other}' (expected {PERSISTENCE_TYPES})"
        ))),
        None if value.is_object() => Err(invalid(format!("'persistence.type' is required ({PERSISTENCE_TYPES})"))),
        None => Err(invalid("'persistence' must be an object")),
    }
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
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err(json!({"clientSecret": "s"})).contains("'clientId' is required"));
        assert!(err(json!({"clientId": "", "clientSecret": "s"})).contains("'clientId' is required"));
        assert!(err(json!({"clientId": 5, "clientSecret": "s"})).contains("'clientId' must be a string"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "signingkey": "k"})).contains("unknown option 'signingkey'"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "signingKey": 3})).contains("'signingKey' must be a string or an array"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "signingKey": ["a", ""]})).contains("'signingKey' must contain only non-empty strings"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "signatureToleranceSeconds": -1})).contains("'signatureToleranceSeconds' must be an integer"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "redis"}})).contains("unknown persistence type 'redis'"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "mysql"}})).contains("'persistence.connection' is required"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "mysql", "connection": {"host": "h", "user": "u", "database": "d", "port": 70000}}})).contains("'persistence.connection.port'"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "persistence": {"type": "dynamodb", "region": "r", "accessKeyId": "a"}})).contains("given together"));
        assert!(err(json!({"clientId": "i", "clientSecret": "s", "path": "hook"})).contains("'path' must start with '/'"));
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let e = err(json!({"clientId": "i", "clientSecret": "topsecret", "persistence": {"type": "mysql", "connection": {"host": "h", "user": "u", "password": "dbpass", "database": "d", "port": "x"}}}));
        assert!(!e.contains("topsecret") && !e.contains("dbpass"), "{e}");
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
        let object = postgres(json!({"type": "postgres", "connectTimeoutMs": 900, "connection": {
            "host": "db.internal", "user": "eka", "password": "p@ss", "database": "clinic",
            "schema": "eka", "ssl": {"mode": "verify-ca", "ca": "PEM"}}}))
        .unwrap();
        assert_eq!((object.host.as_str(), object.port, object.user.as_str()), ("db.internal", 5432, "eka"));
        assert_eq!((object.database.as_str(), object.schema.as_str()), ("clinic", "eka"));
        assert_eq!(object.password.expose(), "p@ss");
        assert_eq!(object.ssl_mode, PostgresSslMode::VerifyCa);
        assert_eq!(object.ssl_root_cert, Some(RootCert::Pem("PEM".into())));
        assert_eq!(object.connect_timeout, Duration::from_millis(900));

        let url = "postgresql://eka:p%40ss@db.internal:6432/clinic?sslmode=require&schema=eka";
        let string = postgres(json!({"type": "postgres", "connectionString": url})).unwrap();
        assert_eq!((string.host.as_str(), string.port, string.user.as_str()), ("db.internal", 6432, "eka"));
        assert_eq!((string.database.as_str(), string.schema.as_str()), ("clinic", "eka"));
        assert_eq!(string.password.expose(), "p@ss");
        assert_eq!(string.ssl_mode, PostgresSslMode::Require);
        assert_eq!(string.connect_timeout, DEFAULT_DB_CONNECT_TIMEOUT);
        let file = postgres(json!({"type": "postgres",
            "connectionString": "postgres://u@h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem"}))
        .unwrap();
        assert_eq!(file.ssl_root_cert, Some(RootCert::File("/etc/ca.pem".into())));
    }

    #[test]
    fn postgres_defaults_verify_remote_servers_only() {
        let mode = |host: &str| {
            let connection = json!({"host": host, "user": "u", "database": "d"});
            postgres(json!({"type": "postgres", "connection": connection})).unwrap().ssl_mode
        };
        assert_eq!(mode("127.0.0.1"), PostgresSslMode::Prefer);
        assert_eq!(mode("localhost"), PostgresSslMode::Prefer);
        assert_eq!(mode("::1"), PostgresSslMode::Prefer);
        assert_eq!(mode("db.example.com"), PostgresSslMode::VerifyFull);
        let c = postgres(json!({"type": "postgres", "connectionString": "postgres://u@127.0.0.1/d"})).unwrap();
        assert_eq!((c.port, c.schema.as_str(), c.password.expose()), (5432, "public", ""));
        assert_eq!(c.ssl_mode, PostgresSslMode::Prefer);
    }

    #[test]
    fn postgres_errors_name_the_field_and_hide_the_password() {
        let e = |p: Value| postgres(p).unwrap_err().to_string();
        let conn = |extra: Value| {
            let mut c = json!({"host": "h", "user": "u", "database": "d", "password": "dbpass"});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            json!({"type": "postgres", "connection": c})
        };
        assert!(e(json!({"type": "postgres"})).contains("'persistence.connection' or 'persistence.connectionString' is required"));
        assert!(e(json!({"type": "postgres", "connection": {}, "connectionString": "postgres://u@h/d"})).contains("not both"));
        assert!(e(conn(json!({"port": 0}))).contains("'persistence.connection.port'"));
        assert!(e(conn(json!({"ssl": {"mode": "verify"}}))).contains("'persistence.connection.ssl.mode' must be one of disable"));
        assert!(e(conn(json!({"ssl": {"mode": "require", "ca": "PEM"}}))).contains("verify-ca or verify-full"));
        assert!(e(conn(json!({"schema": "Eka; DROP"}))).contains("the postgres schema must be"));
        assert!(e(conn(json!({"sslmode": "x"}))).contains("unknown option 'persistence.connection.sslmode'"));
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

    #[test]
    fn key_array_is_rotation() {
        let c = SdkConfig::from_options(&json!({"clientId": "i", "clientSecret": "s", "signingKey": ["old", "new"]})).unwrap();
        assert_eq!(c.signing_keys.len(), 2);
    }
}
