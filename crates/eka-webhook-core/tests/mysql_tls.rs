//! MySQL TLS modes against a second MariaDB server started for this test: its own data
//! directory and port, a certificate for `localhost` signed by a CA made here with the openssl
//! CLI, and a user that must connect over TLS. Stopped (by its pid) and removed at the end.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eka_webhook_core::config::{MysqlConfig, MysqlSslMode, RootCert, DEFAULT_DB_QUERY_TIMEOUT};
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::ScheduleStore;
use eka_webhook_core::secret::Secret;

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>.key`) that signs certificates.
fn make_ca(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ])
        .args(["-subj", &format!("/CN={name}")]));
}

/// `server.pem` / `server.key`, for the name `localhost` only, signed by the CA `ca`.
fn make_server_cert(dir: &Path) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-keyout", "server.key", "-out", "server.csr"]));
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
        ])
        .args([
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]));
}

/// The second server; dropping it stops the process and removes its files.
struct TlsServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsServer {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("eka-mysql-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make_ca(&dir, "ca");
        make_ca(&dir, "other-ca");
        make_server_cert(&dir);
        let datadir = dir.join("data");
        run(Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--user=root",
                "--skip-test-db",
            ]));
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let socket = dir.join("mysqld.sock");
        let path = |name: &str| dir.join(name).display().to_string();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", path("mysqld.pid")))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            .arg("--innodb-buffer-pool-size=16M")
            .arg(format!("--ssl-ca={}", path("ca.pem")))
            .arg(format!("--ssl-cert={}", path("server.pem")))
            .arg(format!("--ssl-key={}", path("server.key")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mariadbd");
        let server = TlsServer { child, dir, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // A user who may only connect over TLS, so a connection that works used TLS.
        run(Command::new("mariadb")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "-e"])
            .arg(
                "CREATE DATABASE tls_test; CREATE USER 'eka_tls'@'%' REQUIRE SSL; \
                 GRANT ALL ON tls_test.* TO 'eka_tls'@'%';",
            ));
        server
    }

    fn config(&self, host: &str, ssl_mode: MysqlSslMode, ca: Option<&str>) -> MysqlConfig {
        MysqlConfig {
            host: host.into(),
            port: self.port,
            user: "eka_tls".into(),
            password: Secret::new(""),
            database: "tls_test".into(),
            ssl_mode,
            ssl_ca: ca
                .map(|name| RootCert::Pem(std::fs::read_to_string(self.dir.join(name)).unwrap())),
            connect_timeout: Duration::from_secs(3),
            query_timeout: DEFAULT_DB_QUERY_TIMEOUT,
        }
    }
}

async fn connect(config: MysqlConfig) -> Result<(), String> {
    let store = MysqlStore::new(&config);
    let result = store.ensure_table().await.map_err(|e| e.to_string());
    store.close().await;
    result
}

/// The connection failed in the TLS handshake, for `reason`.
fn assert_handshake_failed(error: &str, reason: &str) {
    assert!(error.contains("TLS handshake failed"), "{error}");
    assert!(error.contains(reason), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_modes_against_a_server_with_a_self_signed_ca() {
    let server = TlsServer::start();
    use MysqlSslMode::*;
    let connect = |host, ssl_mode, ca| connect(server.config(host, ssl_mode, ca));

    // `required` encrypts without checking the certificate; the user cannot connect without.
    connect("127.0.0.1", Required, None).await.unwrap();
    let plain = connect("127.0.0.1", Disabled, None).await.unwrap_err();
    assert!(plain.contains("Access denied"), "{plain}");
    // The loopback default (`preferred`) uses TLS when the server offers it.
    connect("127.0.0.1", Preferred, None).await.unwrap();

    // `verify-ca`: the CA must have signed the certificate, whatever the name.
    connect("127.0.0.1", VerifyCa, Some("ca.pem"))
        .await
        .unwrap();
    let wrong_ca = connect("127.0.0.1", VerifyCa, Some("other-ca.pem")).await;
    assert_handshake_failed(&wrong_ca.unwrap_err(), "UnknownIssuer");

    // `verify-identity` also checks the name: the certificate is for `localhost` only.
    connect("localhost", VerifyIdentity, Some("ca.pem"))
        .await
        .unwrap();
    let mismatch = connect("127.0.0.1", VerifyIdentity, Some("ca.pem")).await;
    assert_handshake_failed(&mismatch.unwrap_err(), "not valid for name");
    // Without a CA, the web roots are used: a self-signed CA is not among them.
    let web_roots = connect("localhost", VerifyIdentity, None).await;
    assert_handshake_failed(&web_roots.unwrap_err(), "UnknownIssuer");
}
