//! `mruntime::health`: the states of supervised tasks, opted-in tasks and components of the
//! user's own; readiness and liveness from them, a drain and a crash; the `health.changed` events
//! and the `task_up` gauge; the watch channel. Health is process-wide and partly sticky, so each
//! test runs in a child process of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::health::{self, HealthState};
use mruntime::{RestartPolicy, Task, TaskGroup, safe_go};
use mruntime_tests::otel::Metrics;
use mruntime_tests::{Capture, child_scenario, run_child};
use opentelemetry::metrics::MeterProvider as _;

/// Runs `body` as this test in a child process of its own (health is process-wide).
fn isolated(test: &str, body: impl FnOnce()) {
    match child_scenario() {
        Some(scenario) if scenario == test => body(),
        Some(_) => {}
        None => {
            let outcome = run_child(test, test);
            assert!(
                outcome.status.success() && outcome.stdout.contains("1 passed"),
                "{test} failed in its child ({:?}):\n{}\n{}",
                outcome.status,
                outcome.stdout,
                outcome.stderr
            );
        }
    }
}

/// `from -> to` of every `health.changed` event of `name`, in order.
fn transitions(capture: &Capture, name: &str) -> Vec<String> {
    capture
        .events_named("health.changed")
        .iter()
        .filter(|e| e.field("name") == Some(name))
        .map(|e| {
            assert_eq!(e.field("goroutine_name"), Some(name));
            format!("{}->{}", e.field("from").unwrap(), e.field("to").unwrap())
        })
        .collect()
}

fn task_up(metrics: &Metrics, component: &str, name: &str) -> Option<u64> {
    metrics
        .u64_gauge("task_up")
        .into_iter()
        .find(|(attrs, _)| {
            attrs.get("component").map(String::as_str) == Some(component)
                && attrs.get("goroutine_name").map(String::as_str) == Some(name)
        })
        .map(|(_, up)| up)
}

/// A current-thread runtime on tokio's paused clock.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn state(component: &str, name: &str) -> Option<HealthState> {
    health::report().get(component, name).map(|c| c.state())
}

#[test]
fn a_supervised_worker_serves_restarts_then_fails_for_good_and_the_process_is_not_ready() {
    isolated(
        "a_supervised_worker_serves_restarts_then_fails_for_good_and_the_process_is_not_ready",
        || {
            let capture = Capture::new();
            let metrics = Metrics::new();
            mruntime::init_panic_metrics(metrics.provider.meter("test"));
            let rt = capture.paused_runtime();
            let _default = capture.set_default();
            rt.block_on(async {
                assert!(health::report().is_ready());
                let up_while_running = Arc::new(Mutex::new(Vec::new()));
                let seen = up_while_running.clone();
                let worker = Task::new("ledger", "balance-sync")
                    .restart(RestartPolicy::from_millis(2, 60_000, 100, 100))
                    .spawn(move |ctx| {
                        let seen = seen.clone();
                        async move {
                            let report = health::report();
                            let me = report.get("ledger", "balance-sync").unwrap();
                            seen.lock().unwrap().push((
                                ctx.attempt(),
                                me.state(),
                                report.is_ready(),
                            ));
                            tokio::task::yield_now().await;
                            panic!("db password=hunter2 rejected");
                        }
                    });
                assert_eq!(
                    state("ledger", "balance-sync"),
                    Some(HealthState::Serving),
                    "a component from its spawn on"
                );
                assert!(worker.await.is_err());
                assert_eq!(
                    *up_while_running.lock().unwrap(),
                    [
                        (1, HealthState::Serving, true),
                        (2, HealthState::Serving, true),
                        (3, HealthState::Serving, true)
                    ]
                );
            });
            assert_eq!(
                transitions(&capture, "balance-sync"),
                [
                    "none->serving",
                    "serving->restarting",
                    "restarting->serving",
                    "serving->restarting",
                    "restarting->serving",
                    "serving->failed"
                ]
            );
            let failed = capture
                .events_named("health.changed")
                .into_iter()
                .find(|e| e.field("to") == Some("failed"))
                .unwrap();
            assert_eq!(failed.level, tracing::Level::WARN);
            assert_eq!(failed.field("component"), Some("ledger"));

            let report = health::report();
            assert!(!report.is_ready(), "{report}");
            assert!(report.is_live());
            let sync = report.get("ledger", "balance-sync").unwrap();
            assert_eq!(sync.state(), HealthState::Failed);
            assert_eq!(sync.restarts(), 2);
            assert_eq!(sync.last_panic(), Some("db password=[REDACTED] rejected"));
            assert_eq!(sync.site().policy(), KeepRunning);
            assert_eq!(task_up(&metrics, "ledger", "balance-sync"), Some(0));

            // Sticky: the same site spawned again, returning at once, does not clear it.
            rt.block_on(async {
                Task::new("ledger", "balance-sync")
                    .restart(RestartPolicy::from_millis(2, 60_000, 100, 100))
                    .spawn(|_ctx| async {})
                    .await
                    .unwrap();
            });
            assert_eq!(state("ledger", "balance-sync"), Some(HealthState::Failed));
            assert!(!health::report().is_ready());
        },
    );
}

#[test]
fn the_restarting_state_carries_the_next_attempt_and_task_up_stays_1() {
    isolated(
        "the_restarting_state_carries_the_next_attempt_and_task_up_stays_1",
        || {
            let metrics = Metrics::new();
            mruntime::init_panic_metrics(metrics.provider.meter("test"));
            let rt = paused_runtime();
            rt.block_on(async {
                let worker = Task::new("queue", "consumer")
                    .restart(RestartPolicy::from_millis(5, 60_000, 1_000, 1_000))
                    .spawn(|ctx| async move {
                        if ctx.attempt() == 1 {
                            panic!("poison message");
                        }
                        ctx.cancelled().await;
                    });
                tokio::time::sleep(Duration::from_millis(10)).await;
                let report = health::report();
                let consumer = report.get("queue", "consumer").unwrap();
                assert_eq!(consumer.state(), HealthState::Restarting { attempt: 2 });
                assert_eq!(consumer.restarts(), 1);
                assert_eq!(consumer.last_panic(), Some("poison message"));
                assert!(report.is_ready(), "a restart is normal: {report}");
                assert_eq!(task_up(&metrics, "queue", "consumer"), Some(1));
                tokio::time::sleep(Duration::from_secs(2)).await;
                assert_eq!(state("queue", "consumer"), Some(HealthState::Serving));
                worker.abort();
                let _ = worker.await;
                assert_eq!(state("queue", "consumer"), Some(HealthState::Stopped));
                assert_eq!(task_up(&metrics, "queue", "consumer"), Some(0));
            });
        },
    );
}

#[test]
fn returned_cancelled_and_aborted_workers_are_stopped_and_the_process_stays_ready() {
    isolated(
        "returned_cancelled_and_aborted_workers_are_stopped_and_the_process_stays_ready",
        || {
            let rt = paused_runtime();
            rt.block_on(async {
                let restart = RestartPolicy::from_millis(3, 60_000, 100, 100);
                Task::new("jobs", "returns")
                    .restart(restart)
                    .spawn(|_ctx| async { 7 })
                    .await
                    .unwrap();
                assert_eq!(state("jobs", "returns"), Some(HealthState::Stopped));

                let group = TaskGroup::new();
                let parent = group.context();
                // Cancelled during its backoff: stopped, not failed.
                let backing_off = Task::new("jobs", "backing-off")
                    .restart(RestartPolicy::from_millis(3, 60_000, 10_000, 10_000))
                    .context(&parent)
                    .spawn(|_ctx| async { panic!("first attempt fails") });
                tokio::time::sleep(Duration::from_millis(5)).await;
                assert!(matches!(
                    state("jobs", "backing-off"),
                    Some(HealthState::Restarting { attempt: 2 })
                ));
                drop(group);
                assert!(backing_off.await.is_err());
                assert_eq!(state("jobs", "backing-off"), Some(HealthState::Stopped));

                let aborted = Task::new("jobs", "aborted")
                    .restart(restart)
                    .spawn(|ctx| async move { ctx.cancelled().await });
                tokio::task::yield_now().await;
                aborted.abort();
                let _ = aborted.await;
                assert_eq!(state("jobs", "aborted"), Some(HealthState::Stopped));

                // A new spawn of a stopped site serves again.
                let again = Task::new("jobs", "returns")
                    .restart(restart)
                    .spawn(|ctx| async move { ctx.cancelled().await });
                assert_eq!(state("jobs", "returns"), Some(HealthState::Serving));
                again.abort();
                let _ = again.await;
                let report = health::report();
                assert!(report.is_ready(), "{report}");
            });
        },
    );
}

#[test]
fn a_group_shutdown_makes_its_components_stopping_then_stopped_never_failed() {
    isolated(
        "a_group_shutdown_makes_its_components_stopping_then_stopped_never_failed",
        || {
            let capture = Capture::new();
            let rt = capture.paused_runtime();
            let _default = capture.set_default();
            rt.block_on(async {
                let group = TaskGroup::new();
                let _supervised = group
                    .task("mail", "sender")
                    .restart(RestartPolicy::from_millis(3, 60_000, 100, 100))
                    .spawn(|ctx| async move {
                        ctx.cancelled().await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        panic!("connection reset while stopping");
                    });
                let _opted_in = group
                    .task("mail", "bouncer")
                    .health()
                    .spawn(|ctx| async move {
                        ctx.cancelled().await;
                        panic!("half-read mailbox");
                    });
                let report = group.shutdown(Duration::from_secs(5)).await;
                assert_eq!(report.panicked().len(), 2, "{report}");
                assert_eq!(state("mail", "sender"), Some(HealthState::Stopped));
                assert_eq!(state("mail", "bouncer"), Some(HealthState::Stopped));
                assert!(health::report().is_ready());
            });
            assert_eq!(
                transitions(&capture, "sender"),
                ["none->serving", "serving->stopping", "stopping->stopped"]
            );
            assert_eq!(
                transitions(&capture, "bouncer"),
                ["none->serving", "serving->stopping", "stopping->stopped"]
            );
        },
    );
}

#[mruntime::safe_task(
    component = "ingest",
    name = "macro-consumer",
    restart(max = 1, within = "60s", backoff = "10ms..10ms")
)]
async fn macro_consumer(fail: bool) {
    assert!(!fail, "macro consumer failed");
}

#[mruntime::safe_task(component = "ingest", name = "macro-loop", health)]
async fn macro_loop(fail: bool) {
    assert!(!fail, "macro loop failed");
}

#[mruntime::safe_task(component = "ingest", name = "macro-blocking-loop", health)]
fn macro_blocking_loop() {
    panic!("macro blocking loop failed")
}

#[test]
fn opted_in_tasks_fail_on_a_panic_and_one_shot_tasks_are_never_components() {
    isolated(
        "opted_in_tasks_fail_on_a_panic_and_one_shot_tasks_are_never_components",
        || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                assert!(
                    mruntime::spawn("oneshot", "plain", KeepRunning, async { panic!("x") })
                        .await
                        .is_err()
                );
                assert!(
                    safe_go!(component = "oneshot", name = "macro", async { panic!("y") })
                        .await
                        .is_err()
                );
                assert!(
                    mruntime::spawn_blocking("oneshot", "blocking", KeepRunning, || panic!("z"))
                        .await
                        .is_err()
                );
                let report = health::report();
                assert!(report.components().is_empty(), "{report}");
                assert!(report.is_ready());

                // Opted in, ending normally: stopped.
                Task::new("ingest", "ok-loop")
                    .health()
                    .spawn(|_ctx| async {})
                    .await
                    .unwrap();
                assert_eq!(state("ingest", "ok-loop"), Some(HealthState::Stopped));
                assert!(health::report().is_ready());

                // Opted in, on the blocking pool, ending by a panic: failed.
                let blocking = Task::new("ingest", "blocking-loop")
                    .health()
                    .spawn_blocking(|_ctx| panic!("disk full"));
                assert!(blocking.await.is_err());
                let report = health::report();
                let failed = report.get("ingest", "blocking-loop").unwrap();
                assert_eq!(failed.state(), HealthState::Failed);
                assert_eq!(failed.last_panic(), Some("disk full"));
                assert!(!report.is_ready());

                // #[safe_task(.., health)]: stopped when it returns, failed by a panic.
                macro_loop(false).await.unwrap();
                assert_eq!(state("ingest", "macro-loop"), Some(HealthState::Stopped));
                assert!(macro_loop(true).await.is_err());
                assert_eq!(state("ingest", "macro-loop"), Some(HealthState::Failed));
                assert!(macro_blocking_loop().await.is_err());
                assert_eq!(
                    state("ingest", "macro-blocking-loop"),
                    Some(HealthState::Failed)
                );

                // The macro's restart(..) makes a component too.
                assert!(macro_consumer(true).await.is_err());
                let consumer = health::report();
                let consumer = consumer.get("ingest", "macro-consumer").unwrap();
                assert_eq!(consumer.state(), HealthState::Failed);
                assert_eq!(consumer.restarts(), 1);
            });
        },
    );
}

#[test]
fn components_of_your_own_start_not_ready_serve_fail_with_a_redacted_reason_and_leave_on_drop() {
    isolated(
        "components_of_your_own_start_not_ready_serve_fail_with_a_redacted_reason_and_leave_on_drop",
        || {
            let metrics = Metrics::new();
            mruntime::init_panic_metrics(metrics.provider.meter("test"));
            let db = health::component("storage", "postgres");
            assert_eq!(db.state(), HealthState::Starting);
            assert!(!health::report().is_ready());
            assert!(health::report().is_live());
            db.set_serving();
            assert!(health::report().is_ready());
            assert_eq!(task_up(&metrics, "storage", "postgres"), Some(1));
            db.set_failed("pool exhausted, dsn postgres://app:s3cret@db/ledger");
            let report = health::report();
            assert!(!report.is_ready());
            let pg = report.get("storage", "postgres").unwrap();
            assert_eq!(pg.state(), HealthState::Failed);
            let reason = pg.reason().unwrap();
            assert!(!reason.contains("s3cret"), "{reason}");
            assert!(reason.starts_with("pool exhausted"), "{reason}");
            assert_eq!(task_up(&metrics, "storage", "postgres"), Some(0));
            db.set_serving();
            assert!(health::report().is_ready());
            assert_eq!(
                health::report()
                    .get("storage", "postgres")
                    .unwrap()
                    .reason(),
                None
            );

            let kafka = health::component("ingest", "kafka");
            assert!(!health::report().is_ready());
            drop(kafka);
            assert!(health::report().get("ingest", "kafka").is_none());
            assert!(health::report().is_ready());
            assert!(format!("{db:?}").contains("Serving"));
        },
    );
}

#[test]
fn drain_is_sticky_not_ready_and_still_live() {
    isolated("drain_is_sticky_not_ready_and_still_live", || {
        let capture = Capture::new();
        let _default = capture.set_default();
        let db = health::component("storage", "postgres");
        db.set_serving();
        assert!(health::report().is_ready());
        health::drain();
        health::drain();
        let report = health::report();
        assert!(report.is_draining() && !report.is_ready() && report.is_live());
        db.set_serving();
        assert!(!health::report().is_ready(), "nothing clears a drain");
        assert_eq!(capture.events_named("health.draining").len(), 1);
    });
}

#[test]
fn the_watch_channel_changes_only_when_something_changed() {
    isolated(
        "the_watch_channel_changes_only_when_something_changed",
        || {
            let rt = paused_runtime();
            rt.block_on(async {
                let mut health = health::subscribe();
                assert!(!health.has_changed().unwrap(), "it holds the report of now");
                let db = health::component("storage", "postgres");
                assert!(health.has_changed().unwrap());
                assert!(!health.borrow_and_update().is_ready());
                db.set_serving();
                assert!(health.borrow_and_update().is_ready());
                db.set_serving();
                db.set_serving();
                assert!(!health.has_changed().unwrap(), "nothing changed");
                let _ = health::report();
                assert!(!health.has_changed().unwrap());

                // A watcher task wakes on the drain.
                let watcher = mruntime::spawn("test", "watcher", KeepRunning, async move {
                    health.changed().await.unwrap();
                    health.borrow().is_draining()
                });
                tokio::task::yield_now().await;
                health::drain();
                assert!(
                    tokio::time::timeout(Duration::from_secs(5), watcher)
                        .await
                        .unwrap()
                        .unwrap()
                );
            });
        },
    );
}

#[test]
fn production_mode_withholds_the_last_panic() {
    isolated("production_mode_withholds_the_last_panic", || {
        mruntime::set_production_mode(true);
        let rt = paused_runtime();
        rt.block_on(async {
            let worker = Task::new("ledger", "reconcile")
                .restart(RestartPolicy::from_millis(0, 60_000, 10, 10))
                .spawn(|_ctx| async { panic!("customer 4111-1111-1111-1111 overdrawn") });
            assert!(worker.await.is_err());
        });
        let report = health::report();
        let reconcile = report.get("ledger", "reconcile").unwrap();
        assert_eq!(reconcile.state(), HealthState::Failed);
        let shown = reconcile.last_panic().unwrap();
        assert!(!shown.contains("4111"), "{shown}");
        assert!(!report.readiness_json().contains("4111"));
    });
}

/// The child's reporter: writes what health said while the crash was being reported.
struct HealthAtReport;

impl mruntime::ErrorReporter for HealthAtReport {
    fn report(&self, _panic: &mruntime::Panicked) {
        let report = health::report();
        println!(
            "at report: ready={} live={} crashing={}",
            report.is_ready(),
            report.is_live(),
            report.is_crashing()
        );
    }
}

#[test]
fn a_crash_makes_the_process_neither_ready_nor_live_before_it_is_reported_and_flushed() {
    match child_scenario().as_deref() {
        Some("crash") => {
            mruntime::set_error_reporter(HealthAtReport);
            let flushed = Arc::new(AtomicBool::new(false));
            let seen = flushed.clone();
            mruntime::on_crash(move || {
                let report = health::report();
                println!(
                    "at flush: ready={} live={}",
                    report.is_ready(),
                    report.is_live()
                );
                seen.store(true, Ordering::SeqCst);
            });
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut health = health::subscribe();
                let watcher = mruntime::spawn("test", "watcher", KeepRunning, async move {
                    while !health.borrow_and_update().is_crashing() {
                        health.changed().await.unwrap();
                    }
                    println!("watcher saw the crash");
                });
                tokio::task::yield_now().await;
                let _ = mruntime::spawn("ledger", "commit", CrashProcess, async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    panic!("unbalanced entries")
                })
                .await;
                let _ = watcher.await;
            });
            unreachable!("the crash ends the process");
        }
        Some(_) => {}
        None => {
            let outcome = run_child(
                "a_crash_makes_the_process_neither_ready_nor_live_before_it_is_reported_and_flushed",
                "crash",
            );
            assert!(outcome.aborted(), "{outcome:?}");
            assert!(
                outcome
                    .stdout
                    .contains("at report: ready=false live=false crashing=true"),
                "{}",
                outcome.stdout
            );
            assert!(
                outcome.stdout.contains("at flush: ready=false live=false"),
                "{}",
                outcome.stdout
            );
        }
    }
}

#[test]
fn the_http_probes_answer_any_request_from_the_report_and_never_panic() {
    isolated(
        "the_http_probes_answer_any_request_from_the_report_and_never_panic",
        || {
            use http::{Method, Request, StatusCode};
            use http_body_util::BodyExt as _;
            use mruntime::tower::HealthService;
            use tower::ServiceExt as _;

            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let probe = |service: HealthService, method: Method, uri: &str, body: Vec<u8>| {
                    let request = Request::builder()
                        .method(method)
                        .uri(uri)
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        .unwrap();
                    async move {
                        let response = service.oneshot(request).await.unwrap();
                        let status = response.status();
                        assert_eq!(response.headers()["content-type"], "application/json");
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        (status, json)
                    }
                };
                let huge = vec![b'x'; 10 << 20];
                for (method, uri, body) in [
                    (Method::GET, "/readyz", Vec::new()),
                    (Method::HEAD, "/", Vec::new()),
                    (Method::POST, "/readyz?verbose=1&x=%00", huge.clone()),
                    (
                        Method::from_bytes(b"BREW").unwrap(),
                        "/%ff%fe",
                        b"\xff".to_vec(),
                    ),
                ] {
                    let (status, json) = probe(
                        HealthService::readiness(),
                        method.clone(),
                        uri,
                        body.clone(),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(json["status"], "ready");
                    let (status, json) = probe(HealthService::liveness(), method, uri, body).await;
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(json["status"], "live");
                }

                let consumer = health::component("ingest", "kafka \"main\"\n");
                consumer.set_failed("rebalance: token=abc123 \u{0} \\ done");
                let (status, json) = probe(
                    HealthService::readiness(),
                    Method::GET,
                    "/readyz",
                    Vec::new(),
                )
                .await;
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(json["status"], "not_ready");
                let component = &json["components"][0];
                assert_eq!(component["component"], "ingest");
                assert_eq!(component["name"], "kafka \"main\"\n");
                assert_eq!(component["state"], "failed");
                assert_eq!(component["restarts"], 0);
                assert_eq!(component["last_panic"], serde_json::Value::Null);
                let reason = component["reason"].as_str().unwrap();
                assert!(!reason.contains("abc123"), "{reason}");
                let (status, json) =
                    probe(HealthService::liveness(), Method::GET, "/livez", Vec::new()).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(json["status"], "live");
            });
        },
    );
}
