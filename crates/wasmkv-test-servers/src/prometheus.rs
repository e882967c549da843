//! A real Prometheus server (Debian's `prometheus` package) scraping one
//! target every second, with its query API on a free loopback port.

use std::fmt::Write as _;
use std::fs::File;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports::free_port;
use crate::wait::wait_until;

const INSTALL_HINT: &str =
    "install it with `apt-get install -y prometheus` (scripts/test does this when it is missing)";

/// One `prometheus` process, stopped by its pid when dropped.
pub struct PrometheusServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` (`HOST:PORT`, path `/metrics`)
    /// every second, with `rules` (alerting or recording rule files) loaded:
    /// Prometheus refuses to start on a rule file it cannot read. Waits
    /// until its HTTP API listens.
    pub fn scraping(target: &str, rules: &[PathBuf]) -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let port = free_port(false);
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  scrape_timeout: 1s\n",
        );
        if !rules.is_empty() {
            config.push_str("rule_files:\n");
            for rule in rules {
                let _ = writeln!(config, "  - {:?}", rule.display().to_string());
            }
        }
        let _ = write!(
            config,
            "scrape_configs:\n  - job_name: wasmkv\n    static_configs:\n      - targets: [{target:?}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("cannot write prometheus.yml");
        let log = File::create(dir.path().join("prometheus.log")).expect("cannot create the log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot share the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus ({e}); {INSTALL_HINT}"));
        let mut server = PrometheusServer {
            port,
            dir,
            child: Some(child),
        };
        let log_path = server.log_path();
        let deadline = Instant::now() + Duration::from_secs(30);
        wait_until(deadline, Duration::from_millis(50), || {
            if let Some(Ok(Some(status))) = server.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "prometheus exited ({status}) at startup; its log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| format!("prometheus does not listen on {port}: {e}"))
        });
        server
    }

    /// `HOST:PORT` of its HTTP API.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
