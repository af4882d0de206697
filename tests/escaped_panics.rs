//! No panic vanishes inside a guard: a panic raised inside a guard but caught by other code (a
//! `catch_unwind` of the user's, tokio's task harness under a `LocalSet` or `block_on`) is
//! reported once, as caught elsewhere, when the guard exits; and what the hook captured never
//! outlives its panic (no stale location on a later panic).
//!
//! The reporter is process-wide: each test uses its own component and reads back only its
//! reports.

use std::panic::{catch_unwind, resume_unwind};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{Panicked, TaskError};
use mruntime_tests::{Capture, Report, keep_reports, reports_of};

fn report(component: &str, message: &str, line: Option<u32>, caught_elsewhere: bool) -> Report {
    Report {
        component: component.into(),
        name: "n".into(),
        message: message.into(),
        line,
        attempt: 1,
        caught_elsewhere,
    }
}

#[test]
fn a_panic_the_users_catch_unwind_caught_is_reported_once_as_caught_elsewhere() {
    keep_reports();
    let capture = Capture::new();
    let _default = capture.set_default();

    let line = line!() + 2;
    let value = mruntime::guard("user-catch", "n", KeepRunning, || {
        let caught = catch_unwind(|| panic!("bad row"));
        caught.is_err()
    });

    assert!(
        value.unwrap(),
        "the guarded call goes on: its own code caught the panic"
    );
    assert_eq!(
        reports_of("user-catch"),
        [report("user-catch", "bad row", Some(line), true)]
    );
    let events = capture.panic_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].field("panic.caught_elsewhere"), Some("true"));
    assert_eq!(events[0].field("panic.value"), Some("bad row"));
    assert_eq!(events[0].field("component"), Some("user-catch"));
}

#[test]
fn a_recovered_panic_carries_no_caught_elsewhere_field() {
    let capture = Capture::new();
    let _default = capture.set_default();

    let _ = mruntime::guard("plain", "n", KeepRunning, || panic!("plain"));

    let events = capture.panic_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].field("panic.caught_elsewhere"), None);
}

#[test]
fn the_guard_reports_its_own_panic_with_its_own_location_not_the_one_caught_before() {
    keep_reports();

    let first = line!() + 2;
    let err = mruntime::guard("caught-then-panic", "n", KeepRunning, || {
        let _ = catch_unwind(|| panic!("first"));
        panic!("second") // second's line
    })
    .unwrap_err();

    let second = first + 1;
    assert_eq!(err.message(), "second");
    assert_eq!(err.location().map(|l| l.line()), Some(second));
    let mut reports = reports_of("caught-then-panic");
    reports.sort_by_key(|r| r.line);
    assert_eq!(
        reports,
        [
            report("caught-then-panic", "first", Some(first), true),
            report("caught-then-panic", "second", Some(second), false),
        ]
    );
}

#[test]
fn resume_unwind_of_a_new_payload_gets_no_stale_location() {
    keep_reports();

    // A capture left by a panic caught inside an earlier guard ...
    let _ = mruntime::guard("stale-a", "n", KeepRunning, || {
        let _ = catch_unwind(|| panic!("old"));
    });
    // ... is never attached to a later panic that went through no hook.
    let err = mruntime::guard("stale-b", "n", KeepRunning, || {
        resume_unwind(Box::new("fresh"))
    })
    .unwrap_err();
    assert_eq!(err.message(), "fresh");
    assert!(err.location().is_none(), "{err:?}");

    // Nor within one guard.
    let err = mruntime::guard("stale-c", "n", KeepRunning, || {
        let _ = catch_unwind(|| panic!("older"));
        resume_unwind(Box::new("fresher"))
    })
    .unwrap_err();
    assert!(err.location().is_none(), "{err:?}");
    assert_eq!(reports_of("stale-a").len(), 1);
    assert_eq!(reports_of("stale-b").len(), 1);
    let c = reports_of("stale-c");
    assert_eq!(c.len(), 2, "{c:#?}");
    assert!(c.iter().any(|r| r.message == "older" && r.caught_elsewhere));
    assert!(c.iter().any(|r| r.message == "fresher" && r.line.is_none()));
}

#[test]
fn a_payload_re_raised_in_its_guard_is_one_panic_with_its_location() {
    keep_reports();

    let line = line!() + 2;
    let err = mruntime::guard("re-raised", "n", KeepRunning, || {
        let payload = catch_unwind(|| panic!("again {}", 1)).unwrap_err();
        resume_unwind(payload)
    })
    .unwrap_err();

    assert_eq!(err.message(), "again 1");
    assert_eq!(err.location().map(|l| l.line()), Some(line));
    assert_eq!(
        reports_of("re-raised"),
        [report("re-raised", "again 1", Some(line), false)]
    );
}

struct CatchesInDrop;

impl Drop for CatchesInDrop {
    fn drop(&mut self) {
        let _ = catch_unwind(|| panic!("in drop"));
    }
}

#[test]
fn a_panic_caught_in_a_drop_during_unwinding_does_not_take_the_unwinding_panics_place() {
    keep_reports();

    let outer = line!() + 3;
    let err = mruntime::guard("drop-during-unwind", "n", KeepRunning, || {
        let _guard = CatchesInDrop;
        panic!("outer");
    })
    .unwrap_err();

    assert_eq!(err.message(), "outer");
    assert_eq!(err.location().map(|l| l.line()), Some(outer));
    let reports = reports_of("drop-during-unwind");
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert!(reports.contains(&report("drop-during-unwind", "outer", Some(outer), false)));
    let in_drop = reports.iter().find(|r| r.message == "in drop").unwrap();
    assert!(in_drop.caught_elsewhere);
    assert!(in_drop.line.is_some_and(|l| l < outer), "{in_drop:?}");
}

#[test]
fn a_raw_task_tokio_caught_under_a_local_set_inside_a_guard_is_reported_once() {
    keep_reports();
    let capture = Capture::new();
    let _default = capture.set_default();

    let line = line!() + 7;
    let joined = mruntime::guard("local-set", "n", KeepRunning, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let raw = local.spawn_local(async { panic!("raw task") });
            raw.await.unwrap_err().is_panic()
        })
    });

    assert!(
        joined.unwrap(),
        "tokio caught it and handed it to the JoinHandle"
    );
    assert_eq!(
        reports_of("local-set"),
        [report("local-set", "raw task", Some(line), true)]
    );
    assert_eq!(capture.panic_events().len(), 1);
}

#[test]
fn a_guarded_task_panicking_under_a_block_on_inside_a_guard_is_reported_once_by_its_own_guard() {
    keep_reports();

    let result = mruntime::guard("block-on-outer", "n", KeepRunning, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            mruntime::spawn("block-on-inner", "n", KeepRunning, async {
                panic!("inner task")
            })
            .await
        })
    });

    let inner = result.unwrap();
    assert!(matches!(inner, Err(TaskError::Panicked(ref p)) if !p.caught_elsewhere()));
    assert!(reports_of("block-on-outer").is_empty());
    let reports = reports_of("block-on-inner");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(!reports[0].caught_elsewhere);
}

#[test]
fn panics_caught_inside_a_guarded_future_are_reported_at_the_poll_that_raised_them() {
    keep_reports();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let out = rt.block_on(mruntime::guard_future(
        "future-catch",
        "n",
        KeepRunning,
        async {
            for i in 0..3 {
                let _ = catch_unwind(move || panic!("poll {i}"));
                tokio::task::yield_now().await;
            }
            7
        },
    ));

    assert_eq!(out.unwrap(), 7);
    let messages: Vec<String> = reports_of("future-catch")
        .into_iter()
        .inspect(|r| assert!(r.caught_elsewhere))
        .map(|r| r.message)
        .collect();
    assert_eq!(messages, ["poll 0", "poll 1", "poll 2"]);
}

#[test]
fn nested_guards_each_report_their_own_caught_elsewhere_panics() {
    keep_reports();

    let outer: Result<Result<(), Panicked>, Panicked> =
        mruntime::guard("nest-outer", "n", KeepRunning, || {
            let _ = catch_unwind(|| panic!("under outer"));
            mruntime::guard("nest-inner", "n", KeepRunning, || {
                let _ = catch_unwind(|| panic!("under inner"));
            })
        });

    outer.unwrap().unwrap();
    let inner = reports_of("nest-inner");
    let outer = reports_of("nest-outer");
    assert_eq!(inner.len(), 1, "{inner:#?}");
    assert_eq!(inner[0].message, "under inner");
    assert_eq!(outer.len(), 1, "{outer:#?}");
    assert_eq!(outer[0].message, "under outer");
}

#[test]
fn a_panic_caught_elsewhere_is_counted_with_its_guards_labels() {
    let metrics = mruntime_tests::otel::Metrics::new();
    opentelemetry::global::set_meter_provider(metrics.provider.clone());

    mruntime::guard("counted-elsewhere", "n", KeepRunning, || {
        let _ = catch_unwind(|| panic!("one"));
        let _ = catch_unwind(|| panic!("two"));
    })
    .unwrap();

    let points = metrics.u64_sum("panic_recovered_total");
    let ours: Vec<_> = points
        .iter()
        .filter(|(labels, _)| labels["component"] == "counted-elsewhere")
        .collect();
    assert_eq!(
        ours,
        [&(
            mruntime_tests::otel::panic_labels("counted-elsewhere", "n", "KeepRunning"),
            2
        )]
    );
}

#[test]
fn at_most_64_panics_caught_elsewhere_wait_per_thread_the_oldest_are_dropped() {
    keep_reports();

    mruntime::guard("queue-bound", "n", KeepRunning, || {
        for i in 0..70 {
            let _ = catch_unwind(move || panic!("caught {i}"));
        }
    })
    .unwrap();

    let messages: Vec<String> = reports_of("queue-bound")
        .into_iter()
        .map(|r| r.message)
        .collect();
    let newest: Vec<String> = (6..70).map(|i| format!("caught {i}")).collect();
    assert_eq!(messages, newest);

    // The count of dropped ones was told and reset: the next guard starts clean.
    mruntime::guard("queue-bound-after", "n", KeepRunning, || {
        let _ = catch_unwind(|| panic!("after"));
    })
    .unwrap();
    assert_eq!(reports_of("queue-bound-after").len(), 1);
}
