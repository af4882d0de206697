//! Runs an example of this package as a child process serving HTTP on loopback, and talks to it
//! with a minimal HTTP/1.1 client over `std::net::TcpStream` (one request per connection).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The compiled example `name`, built first if needed (once per test process).
///
/// `cargo test` builds the examples before it runs the tests, but `cargo test --test X` does
/// not: so this runs `cargo build --example NAME` (a no-op when it is fresh) with the cargo that
/// runs the tests, into the same target directory and profile.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    // target/<profile>/deps/<test binary>
    let test_exe = std::env::current_exe().expect("current test binary");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let target_dir = profile_dir.parent().expect("target directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let output = build.output().expect("run cargo build --example");
    assert!(
        output.status.success(),
        "cargo build --example {name}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "no example binary at {}",
        binary.display()
    );
    built.push((name.to_owned(), binary.clone()));
    binary
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An example serving on loopback; killed when dropped. Its stdout and stderr go to files.
pub struct ServiceProcess {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl ServiceProcess {
    /// Starts `binary --addr 127.0.0.1:0` with `envs`, and waits (at most 30 s) for the
    /// `listening on http://ADDR` line on its stdout.
    pub fn start(binary: &Path, envs: &[(&str, &str)]) -> ServiceProcess {
        let dir = TempDir::new("mruntime-service");
        let file = |name: &str| File::create(dir.path().join(name)).expect("output file");
        let child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .envs(envs.iter().copied())
            .env_remove("LEDGER_ADDR")
            .stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut service = ServiceProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        let addr = eventually(Duration::from_secs(30), Duration::from_millis(20), || {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening; stderr:\n{}",
                    binary.display(),
                    service.stderr()
                );
            }
            service
                .stdout()
                .lines()
                .find_map(|l| l.strip_prefix("listening on http://"))
                .and_then(|a| a.trim().parse().ok())
        });
        service.addr = addr.unwrap_or_else(|| {
            panic!(
                "{} printed no listen address within 30 s; stderr:\n{}",
                binary.display(),
                service.stderr()
            )
        });
        service
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Everything it wrote on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    /// One request to the service.
    pub fn request(&self, method: &str, path: &str, json: Option<&str>) -> HttpReply {
        http_request(self.addr, method, path, json)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nstderr:\n{}", self.stderr()))
    }

    /// Waits at most `timeout` for the process to end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        eventually(timeout, Duration::from_millis(20), || {
            self.child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A response: status, headers (names lower-case) and body as text.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    /// The first header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request (`Connection: close`, 10 s timeouts), with a JSON body if given.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    if let Some(body) = json {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_reply(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "bad HTTP reply: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_reply(raw: &[u8]) -> Option<HttpReply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        let length: usize = length.parse().ok()?;
        if body.len() != length {
            return None;
        }
    }
    Some(HttpReply {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Polls `probe` every `every` until it returns `Some`, for at most `within`.
pub fn eventually<T>(
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}
