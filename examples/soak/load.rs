//! The load: keep-alive HTTP/1.1 connections from hyper's client, each sending requests one
//! after the other until a deadline, with latencies kept in a fixed-size histogram (so the
//! client's memory does not grow with the requests and the RSS check sees the server's).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Latencies in nanoseconds, in log-linear buckets (32 per power of two: within about 3%).
pub(crate) struct Histogram {
    counts: Vec<u64>,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Histogram {
    fn bucket(nanos: u64) -> usize {
        if nanos < SUB {
            return nanos as usize;
        }
        let exponent = 63 - nanos.leading_zeros();
        let sub = (nanos >> (exponent - SUB_BITS)) & (SUB - 1);
        ((exponent - SUB_BITS + 1) as u64 * SUB + sub) as usize
    }

    /// The middle of bucket `index`, in nanoseconds.
    fn value(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let exponent = index / SUB + u64::from(SUB_BITS) - 1;
        let sub = index % SUB;
        let low = (SUB + sub) << (exponent - u64::from(SUB_BITS));
        low + (1 << (exponent - u64::from(SUB_BITS))) / 2
    }

    pub(crate) fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(nanos)] += 1;
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(index) as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// What one connection (or all of them, merged) saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) latencies: Histogram,
    pub(crate) ok: u64,
    pub(crate) server_errors: u64,
    /// Streamed responses cut off by the server (a panic mid-body).
    pub(crate) aborted: u64,
    /// Anything else: another status, a unary request whose connection failed.
    pub(crate) failures: u64,
    pub(crate) first_failure: Option<String>,
    pub(crate) connections: u64,
}

impl Seen {
    pub(crate) fn merge(&mut self, other: &Seen) {
        self.latencies.merge(&other.latencies);
        self.ok += other.ok;
        self.server_errors += other.server_errors;
        self.aborted += other.aborted;
        self.failures += other.failures;
        self.connections += other.connections;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.server_errors + self.aborted + self.failures
    }

    fn fail(&mut self, what: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(what);
    }
}

/// Which path the `n`th request of a connection takes: `/stream` for `stream_share` of them.
fn path(n: u64, stream_share: f64) -> &'static str {
    let n = n as f64;
    if ((n + 1.0) * stream_share).floor() > (n * stream_share).floor() {
        "/stream"
    } else {
        "/unary"
    }
}

/// One client connection's loop until `deadline`: it reconnects after the server cut a
/// response off (HTTP/1.1 closes the connection then).
pub(crate) async fn connection(address: SocketAddr, deadline: Instant, stream_share: f64) -> Seen {
    let mut seen = Seen::default();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let stream = match TcpStream::connect(address).await {
            Ok(stream) => stream,
            Err(error) => {
                seen.fail(format!("connect: {error}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, driver) =
            match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await {
                Ok(handshake) => handshake,
                Err(error) => {
                    seen.fail(format!("handshake: {error}"));
                    continue;
                }
            };
        seen.connections += 1;
        let requests = async {
            let mut sender = sender; // dropped at the end: the driver then ends
            while Instant::now() < deadline {
                let path = path(n, stream_share);
                n += 1;
                let request = Request::get(path)
                    .header(http::header::HOST, "soak")
                    .body(Body::empty())
                    .expect("a request");
                let start = Instant::now();
                let response = match sender.send_request(request).await {
                    Ok(response) => response,
                    // The server cut a streamed response off before its head left.
                    Err(_) if path == "/stream" => {
                        seen.latencies.record(start.elapsed());
                        seen.aborted += 1;
                        return;
                    }
                    Err(error) => return seen.fail(format!("{path}: {error}")),
                };
                let status = response.status();
                let body = response.into_body().collect().await;
                seen.latencies.record(start.elapsed());
                match (status, body) {
                    (StatusCode::OK, Ok(_)) => seen.ok += 1,
                    (StatusCode::INTERNAL_SERVER_ERROR, Ok(_)) => seen.server_errors += 1,
                    (StatusCode::OK, Err(_)) if path == "/stream" => {
                        seen.aborted += 1;
                        return; // the connection is closed
                    }
                    (status, body) => {
                        return seen.fail(format!("{path}: {status}, body {:?}", body.err()));
                    }
                }
            }
        };
        // The driver ends when `requests` is done and drops the sender, or when the server
        // closes the connection.
        let (_, ()) = tokio::join!(driver, requests);
    }
    seen
}

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`); 0 where there is none.
pub(crate) fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(field)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}
