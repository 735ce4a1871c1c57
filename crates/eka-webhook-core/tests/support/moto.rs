//! A real moto DynamoDB server for one test: started on a free loopback port, polled until it
//! answers, killed when the guard drops (also when the test panics), and killed by the kernel
//! if the test process itself dies (PR_SET_PDEATHSIG).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        Self::start_with_env(&[]).await
    }

    /// `env`: extra variables for the server, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0` to make
    /// moto check credentials.
    pub async fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let (python, server) = moto_server_path();
        // A port freed by the OS can be taken again before moto binds it: try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log_path =
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{port}.log"));
            let log = std::fs::File::create(&log_path).expect("create moto log file");
            let mut command = Command::new(&python);
            command
                .arg(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log);
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("failed to start {}: {e}", server.display()));
            let mut moto = Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child,
            };
            match moto.wait_until_answering().await {
                Ok(()) => return moto,
                Err(reason) => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_failure = format!("{reason}\n--- moto log ---\n{log}");
                }
            }
        }
        panic!("moto_server did not start: {last_failure}");
    }

    async fn wait_until_answering(&mut self) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/moto-api/", self.endpoint);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("moto_server exited early with {status}"));
            }
            if let Ok(res) = http.get(&url).send().await {
                if res.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "moto_server did not answer on {url} within {START_TIMEOUT:?}"
        ))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's Python and scripts/moto-server.py (moto's server, one request at a time).
fn moto_server_path() -> (PathBuf, PathBuf) {
    // crates/eka-webhook-core -> the repository root
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repository root");
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        panic!(
            "{} is missing: run scripts/setup-venv.sh in the repository root to create .venv with moto[server]",
            python.display()
        );
    }
    (python, root.join("scripts/moto-server.py"))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().unwrap().port()
}
