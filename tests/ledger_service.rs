//! The `ledger_service` example, run as a child process on a loopback port and driven with real
//! HTTP requests: a handler's panic becomes a 500 and the service keeps serving, `/metrics`
//! exports `panic_recovered_total` in the Prometheus text format, a panic in the `CrashProcess`
//! commit ends the process, SIGTERM / Ctrl-C shut it down gracefully, and a panic while a
//! response body streams cuts that response off (a real HTTP client sees the rows sent, then an
//! incomplete body) and is reported once.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt as _;

use mruntime_tests::service::{ServiceProcess, eventually, example_binary, http_request};

fn start() -> ServiceProcess {
    ServiceProcess::start(
        &example_binary("ledger_service"),
        &[("LEDGER_SYNC_INTERVAL_MS", "50")],
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn signal(service: &ServiceProcess, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(service.pid()).expect("pid");
    // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal})");
}

/// The value of the sample named exactly `series` (name and labels) in a Prometheus text body.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

#[test]
fn panics_become_500s_the_service_keeps_serving_and_metrics_count_them() {
    let mut service = start();

    let metrics = service.request("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        !metrics.body.contains("panic_recovered_total{"),
        "nothing recovered yet:\n{}",
        metrics.body
    );

    let created = service.request("POST", "/accounts", Some(r#"{"owner":"ana"}"#));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        json(&created.body),
        serde_json::json!({"id": 1, "owner": "ana", "balance": 0})
    );
    let posted = service.request(
        "POST",
        "/accounts/1/transactions",
        Some(r#"{"amount":250}"#),
    );
    assert_eq!(posted.status, 201, "{posted:?}");
    assert_eq!(json(&posted.body)["balance"], 250);

    // A panic in a #[recover] handler: its ApiError, a 500 without the panic's text.
    let buggy = service.request(
        "POST",
        "/accounts/1/transactions",
        Some(r#"{"amount":666}"#),
    );
    assert_eq!(buggy.status, 500, "{buggy:?}");
    assert_eq!(
        json(&buggy.body),
        serde_json::json!({"error": "internal server error"})
    );
    assert!(!buggy.body.contains("fee schedule"));

    // The next request succeeds, and the books were not touched by the failed one.
    let balance = service.request("GET", "/accounts/1/balance", None);
    assert_eq!(balance.status, 200, "{balance:?}");
    assert_eq!(
        json(&balance.body),
        serde_json::json!({"id": 1, "owner": "ana", "balance": 250})
    );

    // A panic in a handler without a guard: the RecoverLayer's default response.
    let debug = service.request("GET", "/debug/panic?secret=1", None);
    assert_eq!(debug.status, 500, "{debug:?}");
    assert_eq!(debug.header("content-type"), Some("application/json"));
    assert_eq!(debug.body, r#"{"error":"internal server error"}"#);
    let balance = service.request("GET", "/accounts/1/balance", None);
    assert_eq!(balance.status, 200, "{balance:?}");

    let missing = service.request("GET", "/accounts/99/balance", None);
    assert_eq!(missing.status, 404, "{missing:?}");

    // The counter, exactly as Prometheus scrapes it: one per recovered panic, static labels.
    let metrics = service.request("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{metrics:?}"
    );
    let body = &metrics.body;
    assert!(
        body.contains("# TYPE panic_recovered_total counter\n"),
        "{body}"
    );
    assert_eq!(
        sample(
            body,
            r#"panic_recovered_total{component="transaction",goroutine_name="handler.post_transaction",policy="KeepRunning"}"#
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            body,
            r#"panic_recovered_total{component="ledger",goroutine_name="http",policy="KeepRunning"}"#
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        body.lines()
            .filter(|l| l.starts_with("panic_recovered_total{"))
            .count(),
        2,
        "{body}"
    );

    // The worker runs...
    let runs = eventually(Duration::from_secs(10), Duration::from_millis(50), || {
        let body = service.request("GET", "/metrics", None).body;
        sample(&body, "ledger_balance_sync_runs_total").filter(|n| *n >= 2.0)
    })
    .unwrap_or_else(|| panic!("balance-sync never ran:\n{}", service.stderr()));

    // ...and after a panic in it, is restarted by its supervisor and runs again.
    let fault = service.request("POST", "/debug/worker-fault", None);
    assert_eq!(fault.status, 202, "{fault:?}");
    let restarted = eventually(Duration::from_secs(10), Duration::from_millis(50), || {
        let body = service.request("GET", "/metrics", None).body;
        let restarts = sample(
            &body,
            r#"task_restarts_total{component="transaction",goroutine_name="balance-sync"}"#,
        );
        (restarts == Some(1.0)).then_some(body)
    })
    .unwrap_or_else(|| panic!("balance-sync was not restarted:\n{}", service.stderr()));
    assert_eq!(
        sample(
            &restarted,
            r#"panic_recovered_total{component="transaction",goroutine_name="balance-sync",policy="KeepRunning"}"#
        ),
        Some(1.0),
        "{restarted}"
    );
    let after_restart = sample(&restarted, "ledger_balance_sync_runs_total").unwrap();
    assert!(after_restart >= runs, "{restarted}");
    let runs_again = eventually(Duration::from_secs(10), Duration::from_millis(50), || {
        let body = service.request("GET", "/metrics", None).body;
        sample(&body, "ledger_balance_sync_runs_total").filter(|n| *n >= after_restart + 2.0)
    });
    assert!(
        runs_again.is_some(),
        "balance-sync did not run after its restart:\n{}",
        service.stderr()
    );

    // Each panic was logged once, with the request's method and path (never the query) for the
    // two HTTP ones.
    let stderr = service.stderr();
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" panic.recovered "))
        .collect();
    assert_eq!(logged.len(), 3, "{stderr}");
    assert!(logged[0].contains(r#"goroutine_name="handler.post_transaction""#));
    assert!(logged[0].contains(r#"http.request.method="POST""#));
    assert!(logged[0].contains(r#"url.path="/accounts/1/transactions""#));
    assert!(logged[0].contains("fee schedule has no bracket for this amount"));
    assert!(logged[1].contains(r#"component="ledger" goroutine_name="http""#));
    assert!(logged[1].contains(r#"http.request.method="GET""#));
    assert!(logged[1].contains(r#"url.path="/debug/panic""#));
    assert!(logged[2].contains(r#"goroutine_name="balance-sync""#));
    assert!(logged[2].contains("injected fault"));
    assert!(!logged[2].contains("url.path"), "{}", logged[2]);
    assert!(!stderr.contains("secret=1"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("balance-sync started") && l.contains("attempt=2")),
        "{stderr}"
    );

    // SIGTERM: graceful shutdown, the worker stops, exit status 0.
    signal(&service, libc::SIGTERM);
    let status = service.wait_exit(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        service.stderr()
    );
    let stderr = service.stderr();
    assert!(stderr.contains("SIGTERM: shutting down"), "{stderr}");
    assert!(stderr.contains("balance-sync stopped"), "{stderr}");
    assert!(stderr.contains("workers stopped"), "{stderr}");
    assert!(stderr.contains("all tasks stopped in"), "{stderr}");
    assert!(service.stdout().contains("shutdown complete"));
}

#[test]
fn ctrl_c_shuts_down_gracefully() {
    let mut service = start();
    assert_eq!(
        service.request("GET", "/accounts/1/balance", None).status,
        404
    );
    signal(&service, libc::SIGINT);
    let status = service.wait_exit(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        service.stderr()
    );
    assert!(service.stderr().contains("Ctrl-C: shutting down"));
    assert!(service.stdout().contains("shutdown complete"));
}

#[test]
fn panic_in_the_crash_process_commit_ends_the_service() {
    use std::os::unix::process::ExitStatusExt;

    let mut service = start();
    let created = service.request("POST", "/accounts", Some(r#"{"owner":"bo"}"#));
    assert_eq!(created.status, 201, "{created:?}");
    let big = format!(r#"{{"amount":{}}}"#, i64::MAX);
    let posted = service.request("POST", "/accounts/1/transactions", Some(&big));
    assert_eq!(posted.status, 201, "{posted:?}");
    assert_eq!(json(&posted.body)["balance"], i64::MAX - 1);

    // The next deposit would overflow the balance: commit panics under CrashProcess.
    let reply = http_request(
        service.addr(),
        "POST",
        "/accounts/1/transactions",
        Some(r#"{"amount":2}"#),
    );
    assert!(reply.is_err(), "no reply from a crashed process: {reply:?}");
    let status = service.wait_exit(Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.signal()),
        Some(libc::SIGABRT),
        "{status:?}\n{}",
        service.stderr()
    );
    let stderr = service.stderr();
    let logged = stderr
        .lines()
        .find(|l| l.contains(" panic.recovered "))
        .unwrap_or_else(|| panic!("no panic.recovered line:\n{stderr}"));
    assert!(logged.contains(r#"goroutine_name="commit""#), "{logged}");
    assert!(logged.contains(r#"policy="CrashProcess""#), "{logged}");
    assert!(logged.contains("balance overflow"), "{logged}");
    assert!(
        logged.contains(r#"url.path="/accounts/1/transactions""#),
        "{logged}"
    );
    assert!(
        stderr.contains("mruntime: CrashProcess: panic in transaction/commit"),
        "{stderr}"
    );
    assert!(!service.stdout().contains("shutdown complete"));
}

/// What a real HTTP/1.1 client (hyper's) got for one GET: the status, the body received, and
/// the error that ended the body early, if one did.
struct Streamed {
    status: u16,
    body: String,
    error: Option<String>,
}

/// One GET with hyper's HTTP/1.1 client over loopback, bounded to 10 s.
fn hyper_get(addr: SocketAddr, path: &str) -> Streamed {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        let request = http::Request::get(path)
            .header(http::header::HOST, addr.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let exchange = async move {
            let response = sender.send_request(request).await.expect("response head");
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut received = Vec::new();
            let mut error = None;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => received.extend(frame.into_data().unwrap_or_default()),
                    Err(e) => {
                        error = Some(format!("{e}: {:?}", std::error::Error::source(&e)));
                        break;
                    }
                }
            }
            Streamed {
                status,
                body: String::from_utf8(received).expect("utf-8 body"),
                error,
            }
        };
        // The connection is driven here, beside the exchange: no task is spawned.
        let (streamed, _) = tokio::join!(exchange, connection);
        streamed
    };
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {path} took more than 10 s"))
    })
}

#[test]
fn a_panic_while_a_body_streams_cuts_the_response_off_once_reported_and_the_service_keeps_serving()
{
    let service = start();

    let cut = hyper_get(service.addr(), "/debug/export-panic?token=s3cr3t");
    assert_eq!(cut.status, 200);
    assert_eq!(
        cut.body, "row 1\nrow 2\nrow 3\n",
        "the rows sent before the panic"
    );
    let error = cut.error.expect("the body ends with an error, not cleanly");
    // The connection closed before the final (zero-size) chunk.
    assert!(
        error.contains("unexpected EOF during chunk size line"),
        "{error}"
    );

    // The next request succeeds, streamed to its end.
    let posted = service.request("POST", "/accounts", Some(r#"{"owner":"ana"}"#));
    assert_eq!(posted.status, 201, "{posted:?}");
    let posted = service.request("POST", "/accounts/1/transactions", Some(r#"{"amount":40}"#));
    assert_eq!(posted.status, 201, "{posted:?}");
    let export = hyper_get(service.addr(), "/journal/export");
    assert_eq!(export.status, 200);
    assert_eq!(export.error, None);
    assert_eq!(export.body, "account,amount\n1,40\n");

    let stderr = service.stderr();
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" panic.recovered "))
        .collect();
    assert_eq!(logged.len(), 1, "{stderr}");
    assert!(
        logged[0].contains(r#"component="ledger" goroutine_name="http""#),
        "{}",
        logged[0]
    );
    assert!(
        logged[0].contains(r#"http.request.method="GET""#),
        "{}",
        logged[0]
    );
    assert!(
        logged[0].contains(r#"url.path="/debug/export-panic""#),
        "{}",
        logged[0]
    );
    assert!(
        logged[0].contains("export cursor invalidated after row 3"),
        "{}",
        logged[0]
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

// ---- health: /readyz and /livez ----

fn component<'a>(health: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    health["components"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no component {name} in {health}"))
}

#[test]
fn a_worker_that_gives_up_turns_readyz_503_naming_it_while_livez_stays_200() {
    let service = start();
    let ready = service.request("GET", "/readyz", None);
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.header("content-type"), Some("application/json"));
    let body = json(&ready.body);
    assert_eq!(body["status"], "ready");
    assert_eq!(component(&body, "balance-sync")["state"], "serving");

    // Every round panics now: 5 restarts within a minute (100 ms, 200 ms, ... backoff), then
    // it gives up and the process is no longer ready.
    let fault = service.request("POST", "/debug/worker-fault", Some("always"));
    assert_eq!(fault.status, 202);
    let not_ready = eventually(Duration::from_secs(30), Duration::from_millis(50), || {
        let reply = service.request("GET", "/readyz", None);
        (reply.status == 503).then_some(reply)
    })
    .unwrap_or_else(|| panic!("/readyz never 503; stderr:\n{}", service.stderr()));
    let body = json(&not_ready.body);
    assert_eq!(body["status"], "not_ready");
    let sync = component(&body, "balance-sync");
    assert_eq!(sync["component"], "transaction");
    assert_eq!(sync["state"], "failed");
    assert_eq!(sync["restarts"], 5);
    assert_eq!(
        sync["last_panic"],
        "injected fault: balance-sync lost its database connection (password=[REDACTED])"
    );
    assert!(!not_ready.body.contains("hunter2"), "{}", not_ready.body);

    let live = service.request("GET", "/livez", None);
    assert_eq!(live.status, 200, "{live:?}");
    assert_eq!(json(&live.body)["status"], "live");
    // Sticky: it stays not ready, and the service still serves requests.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(service.request("GET", "/readyz", None).status, 503);
    assert_eq!(
        service.request("GET", "/accounts/9/balance", None).status,
        404
    );
    let stderr = service.stderr();
    assert!(stderr.contains("health.changed"), "{stderr}");
    assert!(stderr.contains("to=\"failed\""), "{stderr}");
}

#[test]
fn sigterm_drains_readiness_first_while_the_service_still_serves() {
    let mut service = ServiceProcess::start(
        &example_binary("ledger_service"),
        &[
            ("LEDGER_SYNC_INTERVAL_MS", "50"),
            ("LEDGER_DRAIN_MS", "3000"),
        ],
    );
    assert_eq!(service.request("GET", "/readyz", None).status, 200);
    signal(&service, libc::SIGTERM);
    let draining = eventually(Duration::from_secs(10), Duration::from_millis(20), || {
        let reply = service.request("GET", "/readyz", None);
        (reply.status == 503).then_some(reply)
    })
    .unwrap_or_else(|| panic!("/readyz never 503 after SIGTERM:\n{}", service.stderr()));
    let body = json(&draining.body);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["draining"], true);
    // Still live, still serving, while it drains.
    assert_eq!(service.request("GET", "/livez", None).status, 200);
    let created = service.request("POST", "/accounts", Some(r#"{"owner":"cy"}"#));
    assert_eq!(created.status, 201, "{created:?}");
    let status = service.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        service.stderr()
    );
    assert!(service.stderr().contains("health.draining"));
}

#[test]
fn a_crash_answers_readyz_and_livez_503_during_its_slow_flush_then_dies() {
    use std::os::unix::process::ExitStatusExt;

    let mut service = ServiceProcess::start(
        &example_binary("ledger_service"),
        &[
            ("LEDGER_SYNC_INTERVAL_MS", "50"),
            ("LEDGER_CRASH_FLUSH_MS", "3000"),
        ],
    );
    assert_eq!(service.request("GET", "/readyz", None).status, 200);
    let created = service.request("POST", "/accounts", Some(r#"{"owner":"di"}"#));
    assert_eq!(created.status, 201, "{created:?}");
    let big = format!(r#"{{"amount":{}}}"#, i64::MAX);
    assert_eq!(
        service
            .request("POST", "/accounts/1/transactions", Some(&big))
            .status,
        201
    );
    // The overflowing deposit crashes the process; its flush then takes 3 s.
    let addr = service.addr();
    std::thread::scope(|scope| {
        let crash = scope.spawn(|| {
            http_request(
                addr,
                "POST",
                "/accounts/1/transactions",
                Some(r#"{"amount":2}"#),
            )
        });
        let during = eventually(Duration::from_secs(10), Duration::from_millis(20), || {
            let reply = http_request(addr, "GET", "/readyz", None).ok()?;
            (reply.status == 503).then_some(reply)
        })
        .unwrap_or_else(|| {
            panic!(
                "no 503 from /readyz during the crash:\n{}",
                service.stderr()
            )
        });
        let body = json(&during.body);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["crashing"], true);
        let live =
            http_request(addr, "GET", "/livez", None).expect("/livez answers during the flush");
        assert_eq!(live.status, 503, "{live:?}");
        assert_eq!(json(&live.body)["status"], "not_live");

        let status = service.wait_exit(Duration::from_secs(20));
        assert_eq!(
            status.and_then(|s| s.signal()),
            Some(libc::SIGABRT),
            "{status:?}\n{}",
            service.stderr()
        );
        assert!(
            crash.join().expect("join").is_err(),
            "no reply from a crash"
        );
    });
    assert!(
        service
            .stderr()
            .contains("mruntime: CrashProcess: panic in transaction/commit")
    );
}
