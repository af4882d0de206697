//! The soak example (`examples/soak/`) in its short form: a real axum service under keep-alive
//! load with panics, `RecoverLayer` against `CatchPanicLayer`, for a second or two per side.
//! The example asserts its own checks (panic counts exact across the SDK's
//! `panic_recovered_total`, the clients' 500s and aborted bodies and the reporter; RSS flat) and
//! exits non-zero when one fails; this runs it, bounded in time, and reads its table. The limits
//! are relaxed (a debug build on a loaded machine): the numbers are not compared here, only the
//! harness and its checks.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mruntime_tests::service::example_binary;

/// How long one short soak may take before it is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the soak example with `args`; its exit success and its stdout and stderr.
fn soak(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(example_binary("soak"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the soak example");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the soak") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the soak ran over {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    (status.success(), stdout, stderr)
}

/// One second of `RecoverLayer` alone, 8 connections, with `extra` arguments: the run's
/// stdout once it passed its own checks, and its checks line.
fn recover_for_a_second(extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--connections",
        "8",
        "--side",
        "recover",
        "--rss-limit-mb",
        "16",
    ];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = soak(&args);
    assert!(ok, "the soak {extra:?} failed:\n{stdout}\n{stderr}");
    let ours = checks(&stdout, "RecoverLayer").to_owned();
    assert!(ours.ends_with(": ok"), "{ours}");
    (stdout, ours)
}

/// The checks line of `side`'s run.
fn checks<'a>(stdout: &'a str, side: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.contains(&format!("{side}: ")) && l.contains("requests;"))
        .unwrap_or_else(|| panic!("no checks line for {side}:\n{stdout}"))
}

#[test]
fn a_short_soak_passes_its_checks_on_both_sides_and_prints_the_table() {
    let (ok, stdout, stderr) = soak(&[
        "--seconds",
        "1.5",
        "--rounds",
        "1",
        "--connections",
        "8",
        "--rss-limit-mb",
        "16",
    ]);
    assert!(ok, "the soak failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("ratios RecoverLayer / CatchPanicLayer"),
        "{stdout}"
    );
    for row in [
        "requests/s",
        "p50 latency",
        "p99 latency",
        "p99.9 latency",
        "peak RSS",
    ] {
        assert!(stdout.contains(&format!("| {row}")), "{row}: {stdout}");
    }
    let ours = checks(&stdout, "RecoverLayer");
    assert!(ours.ends_with(": ok"), "{ours}");
    // At 1% of a second's requests, some unary panics and, among the streamed tenth, maybe
    // a mid-body one: the counts agree (the example checked) and are not all zero.
    assert!(!ours.contains("panics 0 "), "{ours}");
    let theirs = checks(&stdout, "CatchPanicLayer");
    assert!(theirs.ends_with(": ok"), "{theirs}");
}

#[test]
fn a_short_storm_every_request_panicking_counts_each_once() {
    let (_, ours) = recover_for_a_second(&["--panic-rate", "1"]);
    // Every request panicked: none answered 200.
    let requests: u64 = ours
        .split_once("RecoverLayer: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a request count in {ours}"));
    assert!(
        ours.contains(&format!("panics {requests} ")),
        "every one of the {requests} requests panicked: {ours}"
    );
}

#[test]
fn a_short_sampled_storm_keeps_every_count_exact() {
    let (stdout, ours) = recover_for_a_second(&["--panic-rate", "1", "--sampling", "5"]);
    assert!(
        stdout.contains("sampling first 5 per site per 1 s"),
        "{stdout}"
    );
    // The run's own check: panics = panic_recovered_total = 500s + aborted = reports + suppressed.
    assert!(!ours.contains("panics 0 "), "{ours}");
}

/// The number before `what` in a checks line (`... 483 connections, 419853 spans exported; ...`).
fn count_before(line: &str, what: &str) -> u64 {
    line.split_once(what)
        .and_then(|(before, _)| before.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count before {what:?} in {line}"))
}

#[test]
fn without_the_request_span_a_short_soak_exports_no_span_per_request() {
    let (_, with_span) = recover_for_a_second(&[]);
    let (stdout, without) = recover_for_a_second(&["--no-request-span"]);
    assert!(
        stdout.contains("RecoverLayer's request span off"),
        "{stdout}"
    );
    // With its span, one exported span per request at least; without, only the supervised
    // worker's (a few per second), whatever the number of requests.
    let (requests, spans) = (
        count_before(&with_span, " requests;"),
        count_before(&with_span, " spans exported"),
    );
    assert!(requests > 100 && spans >= requests, "{with_span}");
    let (requests, spans) = (
        count_before(&without, " requests;"),
        count_before(&without, " spans exported"),
    );
    assert!(requests > 100 && spans < 100, "{without}");
}
