//! What leaves the process besides the sinks goes through the same gate: mruntime's stderr lines
//! (bounded, redacted, withheld in production mode, control characters escaped), a
//! `ShutdownReport`'s display and summaries, and the request path the tower layer records.
//! Production mode is process-wide: the tests that turn it on do so in a child process.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, StatusCode};
use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::tower::RecoverLayer;
use mruntime::{ErrorReporter, Panicked, TaskGroup};
use mruntime_tests::{Capture, child_scenario, run_child};
use tower::{Layer, ServiceExt, service_fn};

const PRODUCTION: &str = "production";

/// A 10 MB payload with a secret and control characters at its start.
fn huge_payload() -> String {
    format!(
        "password=hunter2 line one\nline two\u{1b}[31m red {}",
        "x".repeat(10 * 1024 * 1024)
    )
}

/// A reporter whose own panic message holds a secret and control characters.
struct FaultyReporter;

impl ErrorReporter for FaultyReporter {
    fn report(&self, _: &Panicked) {
        panic!("reporter down: token=tk-9\n\u{1b}[2J");
    }
}

/// In the child: one contained-fault line (the reporter panics), then the CrashProcess line.
fn write_stderr_lines(production: bool) {
    mruntime::set_production_mode(production);
    mruntime::set_error_reporter(FaultyReporter);
    let payload = huge_payload();
    let caught = mruntime::guard("egress", "huge", KeepRunning, || panic!("{payload}"));
    assert_eq!(caught.unwrap_err().message(), payload);
    mruntime::clear_error_reporter();
    let _ = mruntime::guard("egress", "huge", CrashProcess, || panic!("{payload}"));
    unreachable!("CrashProcess aborts");
}

#[test]
fn stderr_lines_are_bounded_redacted_and_one_line_each() {
    if let Some(scenario) = child_scenario() {
        return write_stderr_lines(scenario == PRODUCTION);
    }
    for scenario in ["development", PRODUCTION] {
        let child = run_child(
            "stderr_lines_are_bounded_redacted_and_one_line_each",
            scenario,
        );
        assert!(child.aborted(), "{scenario}: {child:?}");
        let stderr = &child.stderr;
        assert!(
            stderr.len() < 8 * 1024,
            "{scenario}: stderr is bounded, got {} bytes",
            stderr.len()
        );
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("mruntime:"))
            .collect();
        for secret in ["hunter2", "tk-9", "\u{1b}", "\nline two"] {
            assert!(
                !stderr.contains(secret),
                "{scenario}: {secret:?} in {stderr}"
            );
        }
        for line in &lines {
            assert!(line.len() < 2 * 1024, "{scenario}: {line}");
        }
        let line_with = |text: &str| {
            *lines
                .iter()
                .find(|l| l.contains(text))
                .unwrap_or_else(|| panic!("{scenario}: no line with {text:?} in {stderr}"))
        };
        let fault = line_with("error reporter panicked");
        let lines = [fault, line_with("CrashProcess")];
        for line in &lines {
            assert!(line.contains("panic in egress/huge"), "{line}");
        }
        if scenario == PRODUCTION {
            assert!(!stderr.contains("xxxx"), "no part of the value: {stderr}");
            assert!(fault.contains("panicked (details redacted)"), "{stderr}");
            for line in &lines {
                assert!(
                    line.contains(": panic recovered (details redacted)"),
                    "{line}"
                );
            }
        } else {
            assert!(fault.contains("(reporter down: token=[REDACTED]\\n\\u{1b}[2J)"));
            for line in &lines {
                assert!(
                    line.contains(": password=[REDACTED] line one\\nline two\\u{1b}[31m red xxx"),
                    "{line}"
                );
                assert!(line.contains("...[truncated]"), "{line}");
            }
        }
    }
}

/// Shuts down a group one of whose tasks panicked with `message`; returns the report's display,
/// its Debug, and the summary's `last_message()`.
fn report_of(message: &'static str) -> (String, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let group = TaskGroup::new();
        let _task = group
            .task("egress", "report")
            .spawn(move |_| async move { panic!("{message}") });
        tokio::task::yield_now().await;
        let report = group.shutdown(Duration::from_secs(5)).await;
        let last = report.panicked()[0].last_message().to_owned();
        (report.to_string(), format!("{report:?}"), last)
    })
}

const CARD: &str = "charge failed for card 4111-1111-1111-1111 password=hunter2";

#[test]
fn shutdown_report_shows_no_raw_message_in_production_mode() {
    if child_scenario().is_some() {
        mruntime::set_production_mode(true);
        let (display, debug, last) = report_of(CARD);
        println!("DISPLAY={display}\nDEBUG={debug}\nLAST={last}");
        return;
    }
    let child = run_child(
        "shutdown_report_shows_no_raw_message_in_production_mode",
        PRODUCTION,
    );
    assert!(child.status.success(), "{child:?}");
    for secret in ["4111", "hunter2", "charge failed"] {
        assert!(!child.stdout.contains(secret), "{secret}: {}", child.stdout);
    }
    assert!(
        child.stdout.contains(
            "DISPLAY=1 task(s) ended by panic: egress/report x1 \
             (attempt 1: panic recovered (details redacted))"
        ),
        "{}",
        child.stdout
    );
    assert!(
        child
            .stdout
            .contains("LAST=panic recovered (details redacted)")
    );
}

#[test]
fn shutdown_report_redacts_and_bounds_messages() {
    let (display, debug, last) = report_of(CARD);
    let redacted = "charge failed for card 4111-1111-1111-1111 password=[REDACTED]";
    assert!(
        display.ends_with(&format!("(attempt 1: {redacted})")),
        "{display}"
    );
    assert_eq!(last, redacted);
    assert!(!debug.contains("hunter2"), "{debug}");

    let long: &'static str = format!("token=t-1 {}", "y".repeat(100_000)).leak();
    let (display, _, last) = report_of(long);
    assert!(display.len() < 2 * 1024, "{} bytes", display.len());
    assert_eq!(last.chars().count(), 1024);
    assert!(last.starts_with("token=[REDACTED] yyy") && last.ends_with("...[truncated]"));
}

#[test]
fn the_request_path_is_redacted_on_the_event_and_the_span() {
    let cases = [
        (
            "/reset/password=hunter2/confirm",
            "/reset/password=[REDACTED]/confirm",
        ),
        (
            "/login;jsessionid=JS-1A2B3C",
            "/login;jsessionid=[REDACTED]",
        ),
        ("/accounts/7/balance", "/accounts/7/balance"),
    ];
    for (path, logged) in cases {
        let capture = Capture::new();
        let _guard = capture.set_default();
        let rt = capture.current_thread_runtime();
        let service = RecoverLayer::new("egress-path").layer(service_fn(|_: Request<()>| async {
            if true {
                panic!("handler failed");
            }
            Ok::<_, Infallible>(http::Response::new(String::new()))
        }));
        let response = rt
            .block_on(service.oneshot(Request::get(path).body(()).unwrap()))
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let events = capture.panic_events();
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].field("url.path"), Some(logged));
        assert_eq!(
            events[0].scope[0].fields["url.path"], logged,
            "the request span"
        );
    }
}
