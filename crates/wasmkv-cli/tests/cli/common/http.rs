//! A real `wasmkv serve` process on a free loopback port, and a real HTTP
//! client (hyper) to talk to it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::{component, wasmkv};

/// How long a server may take to compile its component and start listening.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running `wasmkv serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `wasmkv serve --addr 127.0.0.1:0 FLAGS COMPONENT` in `dir` and
    /// waits for the address it prints.
    pub fn start(dir: &Path, component_name: &str, flags: &[&str]) -> Self {
        Self::start_with_env(dir, component_name, flags, &[])
    }

    /// As [`Server::start`], with `env` added to the server's environment.
    pub fn start_with_env(
        dir: &Path,
        component_name: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let wasm = component(component_name);
        let mut child = wasmkv(dir)
            .envs(env.iter().copied())
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .arg(&wasm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start wasmkv serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving HTTP on http://").nth(1) {
                    let _ = addr_tx.send(rest.trim_end_matches('/').to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match addr_rx.recv_timeout(START_LIMIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "wasmkv serve did not start ({status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Server {
            child: Some(child),
            addr,
            stderr,
        }
    }

    /// `HOST:PORT` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Everything it has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until stderr contains `needle`; false if it never
    /// does. Log lines are written by a thread of the server's own, and an
    /// access line only once its response body is done, so they can reach
    /// stderr after the client has its answer.
    pub fn logged(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().expect("already stopped").id();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait(&mut self, limit: Duration) -> i32 {
        let child = self.child.as_mut().expect("already stopped");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < limit,
                "wasmkv serve did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP: the process stops where it is, as under `docker pause` or a
    /// debugger, holding whatever it held.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT, after [`Server::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().expect("already stopped").id();
        // SAFETY: a signal to our own child, which has not been reaped.
        let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(sent, 0, "cannot send signal {signal} to {pid}");
    }

    /// SIGKILL, at once: no drain, no flush, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then asserts a clean exit (0).
    pub fn stop(&mut self) {
        self.terminate();
        let code = self.wait(Duration::from_secs(20));
        assert_eq!(
            code,
            0,
            "wasmkv serve exited {code}; stderr:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GETs `path` from `addr` on a new connection: (status, body).
pub async fn get(addr: &str, path: &str) -> (u16, String) {
    try_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} from {addr} failed: {e}"))
}

/// As [`get`], with a failure (server gone, connection cut) as an error.
pub async fn try_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    try_get_with(addr, path, &[]).await
}

/// As [`try_get`], with `headers` on the request.
pub async fn try_get_with(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, addr);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// GETs `path` `count` times at once, each on its own connection.
pub async fn get_concurrently(addr: &str, path: &str, count: usize) -> Vec<(u16, String)> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (addr, path) = (addr.to_string(), path.to_string());
            tokio::spawn(async move { get(&addr, &path).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(count);
    for task in tasks {
        answers.push(task.await.expect("a request task panicked"));
    }
    answers
}

/// A multi-threaded runtime for a test's client side.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
