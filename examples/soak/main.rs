//! A soak: a real axum service under 64 keep-alive connections, 1 request in 100 panicking,
//! with mruntime's `RecoverLayer` against tower-http's `CatchPanicLayer`, in interleaved rounds;
//! then requests/s, latency percentiles and peak RSS side by side, and checks that nothing was
//! lost and memory stayed flat.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 30
//! cargo run --release --example soak -- --seconds 30 --panic-rate 1   # a storm
//! ```
//!
//! Options: `--seconds S` per run (default 30), `--rounds R` runs per side (default 2),
//! `--connections N` (64), `--panic-rate F` (0.01, of the unary and of the streamed requests),
//! `--stream-share F` (0.1 of the requests are streamed, 8 chunks), `--server-threads` and
//! `--client-threads` (the cpus), `--rss-limit-mb M` (2: growth allowed after the first 10%,
//! or 2% if more), `--log-file PATH` (the fmt subscriber's output; default `io::sink`), `--side
//! recover|catch-panic|both`, `--backtraces` (captured and logged with each panic; off by
//! default, whatever `RUST_BACKTRACE` says), `--sampling N` (panic sampling per site: the first
//! N panics of each site per 1 s window get the full report, the rest are counted only; for a
//! storm, `--panic-rate 1 --sampling 10`), `--no-request-span` (`RecoverLayer::request_span(false)`:
//! no `mruntime.http` span per request, as behind an outer layer that makes its own). `--serve ADDR` serves one side (the first of
//! `--side`) on `ADDR` until Ctrl-C, with no client, for an outside load tool (`oha`, `wrk`).
//!
//! Each run is a child process (this binary with `--child`), so that each has its own peak RSS
//! and its own process-wide telemetry. A run checks, and exits non-zero if not:
//! `panic_recovered_total` read from the SDK == panics raised by the handlers == 500 responses +
//! aborted bodies seen by the clients == reports the error reporter got (under
//! `CatchPanicLayer`: 500s == unary panics); the worker's panics == its count == its reports;
//! no other failure; RSS after the run within the limit of RSS after the first 10%. See
//! docs/soak.md.

mod load;
mod service;

use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mruntime::{CancellationToken, Task, TaskGroup};
use tokio::net::TcpListener;

use load::{Seen, proc_status_kb};
use service::{HTTP_COMPONENT, Pipeline, Shared, Side, WORKER_COMPONENT};

#[derive(Debug, Clone)]
struct Options {
    seconds: f64,
    rounds: u32,
    connections: u32,
    panic_rate: f64,
    stream_share: f64,
    server_threads: usize,
    client_threads: usize,
    rss_limit_mb: f64,
    log_file: Option<String>,
    backtraces: bool,
    /// `--sampling N`: `PanicSampling::per_site(N, 1 s)`.
    sampling: Option<u32>,
    /// `--no-request-span`: `RecoverLayer::request_span(false)`.
    request_span: bool,
    serve: Option<String>,
    sides: Vec<Side>,
    child: bool,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            seconds: 30.0,
            rounds: 2,
            connections: 64,
            panic_rate: 0.01,
            stream_share: 0.1,
            server_threads: cpus(),
            client_threads: cpus(),
            rss_limit_mb: 2.0,
            log_file: None,
            backtraces: false,
            sampling: None,
            request_span: true,
            serve: None,
            sides: vec![Side::Recover, Side::CatchPanic],
            child: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--child" => options.child = true,
                "--backtraces" => options.backtraces = true,
                "--no-request-span" => options.request_span = false,
                _ => {}
            }
            if matches!(
                arg.as_str(),
                "--child" | "--backtraces" | "--no-request-span"
            ) {
                continue;
            }
            let value = args.next().ok_or(format!("{arg} needs a value"))?;
            let number = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or(format!("{arg}: not a number: {value}"))
            };
            match arg.as_str() {
                "--seconds" => options.seconds = number()?,
                "--rounds" => options.rounds = number()?.max(1.0) as u32,
                "--connections" => options.connections = number()?.max(1.0) as u32,
                "--panic-rate" => options.panic_rate = number()?.min(1.0),
                "--stream-share" => options.stream_share = number()?.min(1.0),
                "--server-threads" => options.server_threads = number()?.max(1.0) as usize,
                "--client-threads" => options.client_threads = number()?.max(1.0) as usize,
                "--rss-limit-mb" => options.rss_limit_mb = number()?,
                "--log-file" => options.log_file = Some(value),
                "--sampling" => options.sampling = Some(number()?.min(f64::from(u32::MAX)) as u32),
                "--serve" => options.serve = Some(value),
                "--side" => {
                    options.sides = match value.as_str() {
                        "recover" => vec![Side::Recover],
                        "catch-panic" => vec![Side::CatchPanic],
                        "both" => vec![Side::Recover, Side::CatchPanic],
                        _ => return Err(format!("--side recover|catch-panic|both, not {value}")),
                    }
                }
                _ => return Err(format!("unknown option {arg} (see the example's docs)")),
            }
        }
        if options.seconds <= 0.0 {
            return Err("--seconds must be more than 0".to_owned());
        }
        Ok(options)
    }

    /// The arguments of a child running `side` for `seconds`.
    fn child_args(&self, side: Side, seconds: f64) -> Vec<String> {
        let mut args = vec![
            "--child".to_owned(),
            "--side".to_owned(),
            side.arg().to_owned(),
        ];
        for (name, value) in [
            ("--seconds", seconds.to_string()),
            ("--connections", self.connections.to_string()),
            ("--panic-rate", self.panic_rate.to_string()),
            ("--stream-share", self.stream_share.to_string()),
            ("--server-threads", self.server_threads.to_string()),
            ("--client-threads", self.client_threads.to_string()),
            ("--rss-limit-mb", self.rss_limit_mb.to_string()),
        ] {
            args.extend([name.to_owned(), value]);
        }
        if self.backtraces {
            args.push("--backtraces".to_owned());
        }
        if !self.request_span {
            args.push("--no-request-span".to_owned());
        }
        if let Some(first) = self.sampling {
            args.extend(["--sampling".to_owned(), first.to_string()]);
        }
        if let Some(path) = &self.log_file {
            args.extend(["--log-file".to_owned(), path.clone()]);
        }
        args
    }
}

/// What one run measured and counted.
#[derive(Debug, Clone, Default)]
struct RunResult {
    requests: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    hwm_kb: u64,
    rss_warm_kb: u64,
    rss_end_kb: u64,
}

impl RunResult {
    fn line(&self, side: Side) -> String {
        format!(
            "SOAK-RESULT side={} requests={} rps={:.1} p50_us={:.1} p99_us={:.1} p999_us={:.1} hwm_kb={} rss_warm_kb={} rss_end_kb={}",
            side.arg(),
            self.requests,
            self.rps,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.hwm_kb,
            self.rss_warm_kb,
            self.rss_end_kb
        )
    }

    fn parse(line: &str) -> Option<RunResult> {
        let field = |name: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(RunResult {
            requests: field("requests")? as u64,
            rps: field("rps")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
            p999_us: field("p999_us")?,
            hwm_kb: field("hwm_kb")? as u64,
            rss_warm_kb: field("rss_warm_kb")? as u64,
            rss_end_kb: field("rss_end_kb")? as u64,
        })
    }
}

fn runtime(threads: usize, name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))
}

/// One run, in this (child) process: serve, load, count, check. Prints its result line and
/// one line of checks; `Err` if a check failed.
fn run(options: &Options, side: Side) -> Result<(), String> {
    let pipeline = Pipeline::install(options.log_file.as_deref())?;
    // Backtraces are off unless asked for, whatever RUST_BACKTRACE says: symbolising them (the
    // fmt subscriber prints `panic.stack`) fills the debug-info cache over the first panics,
    // which a short run cannot tell from growth.
    mruntime::set_backtrace_capture(if options.backtraces {
        mruntime::BacktraceCapture::Always
    } else {
        mruntime::BacktraceCapture::Never
    });
    if let Some(first) = options.sampling {
        mruntime::set_panic_sampling(mruntime::PanicSampling::per_site(
            first,
            Duration::from_secs(1),
        ));
    }
    let server_rt = runtime(options.server_threads, "soak-server")?;
    let client_rt = runtime(options.client_threads, "soak-client")?;
    let shared = Shared::new(side, options.panic_rate);
    let stop = CancellationToken::new();
    let workers = TaskGroup::new();

    let listener = server_rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("bind: {e}"))?;
    let address: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = {
        let _entered = server_rt.enter();
        service::start_worker(&workers, shared.clone());
        let (shared, stop, request_span) = (shared.clone(), stop.clone(), options.request_span);
        Task::new("soak", "server")
            .spawn(move |_| service::serve(listener, side, request_span, shared, stop))
    };

    let duration = Duration::from_secs_f64(options.seconds);
    let (seen, rss_warm_kb, elapsed) = client_rt.block_on(async {
        let start = Instant::now();
        let deadline = start + duration;
        let share = options.stream_share;
        let connections: Vec<_> = (0..options.connections)
            .map(|_| {
                Task::new("soak", "client")
                    .spawn(move |_| load::connection(address, deadline, share))
            })
            .collect();
        tokio::time::sleep(duration / 10).await;
        let rss_warm_kb = proc_status_kb("VmRSS");
        let mut seen = Seen::default();
        for connection in connections {
            match connection.await {
                Ok(one) => seen.merge(&one),
                Err(error) => seen.merge(&Seen {
                    failures: 1,
                    first_failure: Some(format!("a client connection failed: {error}")),
                    ..Seen::default()
                }),
            }
        }
        (seen, rss_warm_kb, start.elapsed())
    });
    let rss_end_kb = proc_status_kb("VmRSS");
    let hwm_kb = proc_status_kb("VmHWM");

    stop.cancel();
    server_rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        workers.shutdown(Duration::from_secs(5)).await
    });
    let spans = pipeline.exported_spans();

    let result = RunResult {
        requests: seen.requests(),
        rps: seen.requests() as f64 / elapsed.as_secs_f64(),
        p50_us: seen.latencies.quantile_us(0.5),
        p99_us: seen.latencies.quantile_us(0.99),
        p999_us: seen.latencies.quantile_us(0.999),
        hwm_kb,
        rss_warm_kb,
        rss_end_kb,
    };
    println!("{}", result.line(side));

    let unary = shared.unary_panics.load(Ordering::Relaxed);
    let mid_body = shared.stream_panics_raised.load(Ordering::Relaxed);
    let raised = unary + mid_body;
    let counted = pipeline.panic_recovered_total(HTTP_COMPONENT)?;
    // With sampling on, a suppressed panic is counted, not reported: reports + suppressed.
    let reports = &pipeline.reports;
    let reported = reports.http.load(Ordering::Relaxed)
        + pipeline.counter_total("panic_log_suppressed_total", HTTP_COMPONENT)?;
    let worker_raised = shared.worker_panics.load(Ordering::Relaxed);
    let worker_counted = pipeline.panic_recovered_total(WORKER_COMPONENT)?;
    let worker_reported = reports.worker.load(Ordering::Relaxed)
        + pipeline.counter_total("panic_log_suppressed_total", WORKER_COMPONENT)?;
    let growth_kb = rss_end_kb.saturating_sub(rss_warm_kb);
    let allowed_kb = ((options.rss_limit_mb * 1024.0) as u64).max(rss_warm_kb / 50);

    let mut failed = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    check(seen.requests() > 0, "no request was answered".to_owned());
    match side {
        Side::Recover => {
            check(
                counted == raised
                    && raised == seen.server_errors + seen.aborted
                    && reported == raised,
                format!(
                    "panics raised {raised} (unary {unary}, mid-body {mid_body}), \
                     panic_recovered_total {counted}, 500s {} + aborted bodies {}, reports + suppressed {reported}: \
                     not all equal",
                    seen.server_errors, seen.aborted
                ),
            );
        }
        Side::CatchPanic => check(
            unary == seen.server_errors && seen.aborted == 0 && mid_body == 0,
            format!(
                "unary panics {unary}, 500s {}, aborted bodies {}: not equal",
                seen.server_errors, seen.aborted
            ),
        ),
    }
    check(
        worker_raised == worker_counted && worker_counted == worker_reported && worker_raised > 0,
        format!(
            "worker panics {worker_raised}, counted {worker_counted}, reported {worker_reported}"
        ),
    );
    check(
        reports.other.load(Ordering::Relaxed) == 0,
        "reports from an unexpected site".to_owned(),
    );
    check(
        seen.failures == 0,
        format!(
            "{} failed requests, the first: {}",
            seen.failures,
            seen.first_failure.as_deref().unwrap_or("-")
        ),
    );
    check(
        growth_kb <= allowed_kb,
        format!(
            "RSS grew by {growth_kb} kB after the first 10% ({rss_warm_kb} -> {rss_end_kb} kB), \
             more than {allowed_kb} kB"
        ),
    );

    let panics = match side {
        Side::Recover => format!(
            "panics {raised} (unary {unary}, mid-body {mid_body}) = panic_recovered_total \
             {counted} = 500s {} + aborted bodies {} = reports + suppressed {reported}",
            seen.server_errors, seen.aborted
        ),
        Side::CatchPanic => format!(
            "unary panics {unary} = 500s {} (the layer counts and reports none)",
            seen.server_errors
        ),
    };
    println!(
        "SOAK-CHECKS {}: {} requests; {panics}; worker panics {worker_raised} = counted \
         {worker_counted} = reported {worker_reported}; {} connections, {spans} spans exported; \
         RSS {:+.2} MB after the first 10% (limit {:.1} MB): {}",
        side.name(),
        seen.requests(),
        seen.connections,
        (rss_end_kb as f64 - rss_warm_kb as f64) / 1024.0,
        allowed_kb as f64 / 1024.0,
        if failed.is_empty() { "ok" } else { "FAILED" }
    );
    server_rt.shutdown_timeout(Duration::from_secs(1));
    client_rt.shutdown_timeout(Duration::from_secs(1));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Serves `side` on `address` until Ctrl-C, for a load generator of your own; then prints the
/// counts.
fn serve_only(options: &Options, side: Side, address: &str) -> Result<(), String> {
    let pipeline = Pipeline::install(options.log_file.as_deref())?;
    let server_rt = runtime(options.server_threads, "soak-server")?;
    let shared = Shared::new(side, options.panic_rate);
    let stop = CancellationToken::new();
    let workers = TaskGroup::new();
    server_rt.block_on(async {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| format!("bind {address}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "{} listening on http://{bound} (GET /unary, GET /stream); Ctrl-C stops",
            side.name()
        );
        service::start_worker(&workers, shared.clone());
        let server = {
            let (shared, stop, request_span) = (shared.clone(), stop.clone(), options.request_span);
            Task::new("soak", "server")
                .spawn(move |_| service::serve(listener, side, request_span, shared, stop))
        };
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        workers.shutdown(Duration::from_secs(5)).await;
        Ok::<(), String>(())
    })?;
    println!(
        "unary panics {}, mid-body panics {}, panic_recovered_total {}, reports {}",
        shared.unary_panics.load(Ordering::Relaxed),
        shared.stream_panics_raised.load(Ordering::Relaxed),
        pipeline.panic_recovered_total(HTTP_COMPONENT)?,
        pipeline.reports.http.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Runs `side` for `seconds` in a child process; its result and its checks line.
fn run_child(options: &Options, side: Side, seconds: f64) -> Result<(RunResult, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("this binary: {e}"))?;
    let output = Command::new(exe)
        .args(options.child_args(side, seconds))
        .output()
        .map_err(|e| format!("run a child: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result = stdout.lines().find_map(|l| {
        l.starts_with("SOAK-RESULT")
            .then(|| RunResult::parse(l))
            .flatten()
    });
    let checks = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SOAK-CHECKS "))
        .unwrap_or("no checks line")
        .to_owned();
    match (output.status.success(), result) {
        (true, Some(result)) => Ok((result, checks)),
        _ => Err(format!(
            "the {} run failed ({}): {checks}\n{stderr}",
            side.name(),
            output.status
        )),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The time now, `YYYY-MM-DD HH:MM UTC` (civil-from-days, no date crate).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Runs the rounds, alternating which side goes first, and prints the comparison.
fn compare(options: &Options) -> Result<(), String> {
    let per_run = options.seconds;
    let load_before = load_average();
    println!(
        "# mruntime soak: {}, {} cpus, load average {load_before} at the start, {}",
        cpu_model(),
        cpus(),
        utc_now()
    );
    println!(
        "# {} interleaved rounds of {per_run} s per side; {} connections; panic rate {}; \
         {}% of requests streamed (8 chunks, panicking mid-body under RecoverLayer only); \
         server {} threads, client {} threads; backtraces {}; sampling {}; RecoverLayer's \
         request span {}",
        options.rounds,
        options.connections,
        options.panic_rate,
        options.stream_share * 100.0,
        options.server_threads,
        options.client_threads,
        if options.backtraces { "on" } else { "off" },
        options.sampling.map_or("off".to_owned(), |first| format!(
            "first {first} per site per 1 s"
        )),
        if options.request_span { "on" } else { "off" },
    );
    let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); options.sides.len()];
    let mut checks = Vec::new();
    for round in 0..options.rounds {
        let mut order: Vec<usize> = (0..options.sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let side = options.sides[i];
            let (result, line) = run_child(options, side, per_run)?;
            eprintln!(
                "round {}: {}: {:.0} requests/s, p99 {:.0} us",
                round + 1,
                side.name(),
                result.rps,
                result.p99_us
            );
            results[i].push(result);
            checks.push(format!("round {}: {line}", round + 1));
        }
    }
    println!("# load average {} at the end\n", load_average());

    type Metric = fn(&RunResult) -> f64;
    type Show = fn(f64) -> String;
    let rows: [(&str, Metric, Show); 6] = [
        ("requests/s", |r| r.rps, |v| format!("{v:.0}")),
        ("p50 latency", |r| r.p50_us, |v| format!("{v:.0} µs")),
        ("p99 latency", |r| r.p99_us, |v| format!("{v:.0} µs")),
        ("p99.9 latency", |r| r.p999_us, |v| format!("{v:.0} µs")),
        (
            "peak RSS (VmHWM)",
            |r| r.hwm_kb as f64,
            |v| format!("{:.1} MB", v / 1024.0),
        ),
        (
            "RSS growth after the first 10%",
            |r| r.rss_end_kb as f64 - r.rss_warm_kb as f64,
            |v| format!("{:+.2} MB", v / 1024.0),
        ),
    ];
    let ratio = |metric: Metric| -> Option<f64> {
        (results.len() == 2).then(|| {
            median(
                results[0]
                    .iter()
                    .zip(&results[1])
                    .map(|(ours, theirs)| metric(ours) / metric(theirs))
                    .collect(),
            )
        })
    };
    if results.len() == 2 {
        let ratios: Vec<String> = rows[..5]
            .iter()
            .filter_map(|(name, metric, _)| ratio(*metric).map(|r| format!("{name} {r:.3}")))
            .collect();
        println!(
            "ratios {} / {} (median of the per-round ratios): {}\n",
            options.sides[0].name(),
            options.sides[1].name(),
            ratios.join(", ")
        );
    }
    let names: Vec<&str> = options.sides.iter().map(|s| s.name()).collect();
    println!("| median of the rounds | {} | ratio |", names.join(" | "));
    println!("|---|{}---|", "---|".repeat(names.len()));
    for (i, (name, metric, show)) in rows.iter().enumerate() {
        let cells: Vec<String> = results
            .iter()
            .map(|runs| show(median(runs.iter().map(metric).collect())))
            .collect();
        let ratio = if i < 5 {
            ratio(*metric).map_or("".to_owned(), |r| format!("{r:.3}"))
        } else {
            String::new()
        };
        println!("| {name} | {} | {ratio} |", cells.join(" | "));
    }
    println!("\nchecks (each run exits non-zero when one fails):");
    for line in checks {
        println!("  {line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("soak: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = if let Some(address) = &options.serve {
        serve_only(&options, options.sides[0], address)
    } else if options.child {
        run(&options, options.sides[0])
    } else {
        compare(&options)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}
