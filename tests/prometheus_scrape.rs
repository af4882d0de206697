//! A real Prometheus server (Debian's `prometheus` package) scrapes the `ledger_service` example
//! on loopback every second, and `panic_recovered_total` is read back through Prometheus's HTTP
//! query API, labels and values.
//!
//! It needs a `prometheus` binary (on `PATH`, or at `$MRUNTIME_PROMETHEUS`). Without one the test
//! is reported `ignored`, with the reason, in the summary (the file runs under `libtest-mimic`,
//! `harness = false`, which can ignore a test at runtime); with `MRUNTIME_REQUIRE_PROMETHEUS=1`
//! (set by `.ci/run` after `.ci/prometheus.sh` installed the package) a missing binary fails it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mruntime_tests::service::{ServiceProcess, TempDir, eventually, example_binary, http_request};
use serde_json::Value;

fn main() -> ExitCode {
    let trials = vec![Trial::ignorable_test(
        "real_prometheus_scrapes_panic_recovered_total",
        real_prometheus_scrapes_panic_recovered_total,
    )];
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// The `prometheus` executable: `$MRUNTIME_PROMETHEUS`, or the first on `PATH`.
fn prometheus_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MRUNTIME_PROMETHEUS") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// Kills the process when dropped (the test failed, or it is done).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One instant query; `None` until Prometheus answers it with `status: success`.
fn query(prometheus: SocketAddr, promql_urlencoded: &str) -> Option<Vec<Value>> {
    let reply = http_request(
        prometheus,
        "GET",
        &format!("/api/v1/query?query={promql_urlencoded}"),
        None,
    )
    .ok()?;
    if reply.status != 200 {
        return None;
    }
    let body: Value = serde_json::from_str(&reply.body).ok()?;
    if body["status"] != "success" {
        return None;
    }
    body["data"]["result"].as_array().cloned()
}

/// The series of `result` whose labels include `labels`, with its value.
fn value_of<'a>(result: &'a [Value], labels: &[(&str, &str)]) -> Option<&'a str> {
    result
        .iter()
        .find(|series| labels.iter().all(|(k, v)| series["metric"][*k] == *v))
        .and_then(|series| series["value"][1].as_str())
}

/// Ignored (at runtime, with the reason) without a `prometheus` binary, unless it is required.
fn real_prometheus_scrapes_panic_recovered_total() -> Result<Completion, Failed> {
    let Some(prometheus_bin) = prometheus_binary() else {
        let required = std::env::var_os("MRUNTIME_REQUIRE_PROMETHEUS").is_some_and(|v| v == "1");
        if required {
            return Err(
                "MRUNTIME_REQUIRE_PROMETHEUS=1 but no `prometheus` binary on PATH nor at \
                        $MRUNTIME_PROMETHEUS"
                    .into(),
            );
        }
        return Ok(Completion::ignored_with(
            "no `prometheus` binary on PATH nor at $MRUNTIME_PROMETHEUS (install Debian's \
             `prometheus` package: .ci/prometheus.sh)",
        ));
    };
    let started = Instant::now();

    // The service, with two recovered panics: one in a #[recover] handler, one in the layer.
    let service = ServiceProcess::start(
        &example_binary("ledger_service"),
        &[("LEDGER_SYNC_INTERVAL_MS", "200")],
    );
    let target = service.addr();
    assert_eq!(
        service
            .request("POST", "/accounts", Some(r#"{"owner":"ana"}"#))
            .status,
        201
    );
    let buggy = service.request(
        "POST",
        "/accounts/1/transactions",
        Some(r#"{"amount":666}"#),
    );
    assert_eq!(buggy.status, 500, "{buggy:?}");
    assert_eq!(service.request("GET", "/debug/panic", None).status, 500);

    // Prometheus, scraping it every second, with its data in a temp dir.
    let dir = TempDir::new("mruntime-prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ledger\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .expect("write prometheus.yml");
    let listen = SocketAddr::from(([127, 0, 0, 1], free_loopback_port()));
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
    let prometheus = Command::new(&prometheus_bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", prometheus_bin.display()));
    let mut prometheus = KillOnDrop(prometheus);
    let prometheus_log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap();

    let ready = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        if let Ok(Some(status)) = prometheus.0.try_wait() {
            panic!("prometheus exited ({status}):\n{}", prometheus_log());
        }
        http_request(listen, "GET", "/-/ready", None)
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(
        ready.is_some(),
        "prometheus not ready in 30 s:\n{}",
        prometheus_log()
    );
    let ready_after = started.elapsed();

    // Both series, as Prometheus stored them: the metric's own labels plus job and instance.
    let instance = target.to_string();
    let handler = [
        ("__name__", "panic_recovered_total"),
        ("component", "transaction"),
        ("goroutine_name", "handler.post_transaction"),
        ("policy", "KeepRunning"),
        ("job", "ledger"),
        ("instance", instance.as_str()),
    ];
    let layer = [
        ("__name__", "panic_recovered_total"),
        ("component", "ledger"),
        ("goroutine_name", "http"),
        ("policy", "KeepRunning"),
        ("job", "ledger"),
        ("instance", instance.as_str()),
    ];
    let result = eventually(Duration::from_secs(30), Duration::from_millis(250), || {
        query(listen, "panic_recovered_total").filter(|r| r.len() == 2)
    })
    .unwrap_or_else(|| {
        panic!(
            "no panic_recovered_total series after 30 s: {:?}\n{}",
            query(listen, "panic_recovered_total"),
            prometheus_log()
        )
    });
    let first_scrape_after = started.elapsed();
    assert_eq!(value_of(&result, &handler), Some("1"), "{result:#?}");
    assert_eq!(value_of(&result, &layer), Some("1"), "{result:#?}");
    for series in &result {
        let labels = series["metric"].as_object().expect("labels");
        let mut names: Vec<&str> = labels.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "__name__",
                "component",
                "goroutine_name",
                "instance",
                "job",
                "policy"
            ],
            "bounded labels only: {series}"
        );
    }

    // The target is up, and a new panic shows up at the next scrape.
    let up = query(listen, "up%7Bjob%3D%22ledger%22%7D").expect("up query");
    assert_eq!(value_of(&up, &[("instance", instance.as_str())]), Some("1"));
    assert_eq!(service.request("GET", "/debug/panic", None).status, 500);
    let counted = eventually(Duration::from_secs(15), Duration::from_millis(250), || {
        let result = query(listen, "panic_recovered_total")?;
        (value_of(&result, &layer) == Some("2")).then_some(result)
    });
    assert!(
        counted.is_some(),
        "the third panic was not scraped: {:?}",
        query(listen, "panic_recovered_total")
    );
    assert_eq!(
        value_of(counted.as_deref().unwrap(), &handler),
        Some("1"),
        "{counted:#?}"
    );

    eprintln!(
        "real_prometheus_scrapes_panic_recovered_total: ran against {} ({}); prometheus ready \
         after {:.1} s, first scrape seen after {:.1} s, done after {:.1} s",
        prometheus_bin.display(),
        Command::new(&prometheus_bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|v| v.lines().next().map(str::to_owned))
            .unwrap_or_default(),
        ready_after.as_secs_f64(),
        first_scrape_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(Completion::Completed)
}
