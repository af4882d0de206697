//! The function API (`guard`, `guard_future`, `spawn`, `spawn_blocking`) reports every recovered
//! panic once, with its location and payload, in a span parented where the call was made.

use mruntime::{PanicPolicy::KeepRunning, Panicked, TaskError};
use mruntime_tests::Capture;

#[derive(Debug, PartialEq)]
struct Custom {
    code: u32,
}

#[test]
fn str_payload_is_the_message_and_the_payload() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let line = line!() + 1;
    let p = mruntime::guard("ledger", "static", KeepRunning, || panic!("plain text")).unwrap_err();

    assert_eq!(p.message(), "plain text");
    assert_eq!(p.payload().downcast_ref::<&str>(), Some(&"plain text"));
    assert_eq!(p.payload_type(), Some("&str"));
    let location = p.location().expect("location from the hook");
    assert_eq!(location.file(), file!());
    assert_eq!(location.line(), line);
    assert_eq!(
        p.to_string(),
        format!("panic in ledger/static at {location}: plain text")
    );

    let events = capture.panic_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.level, tracing::Level::ERROR);
    assert_eq!(e.target, "mruntime");
    assert_eq!(e.field("component"), Some("ledger"));
    assert_eq!(e.field("goroutine_name"), Some("static"));
    assert_eq!(e.field("policy"), Some("KeepRunning"));
    assert_eq!(e.field("panic.value"), Some("plain text"));
    assert_eq!(
        e.field("panic.location"),
        Some(location.to_string().as_str())
    );
}

#[test]
fn formatted_payload_is_a_string() {
    let n = 7;
    let p = mruntime::guard("ledger", "fmt", KeepRunning, || panic!("bad {n}")).unwrap_err();
    assert_eq!(p.message(), "bad 7");
    assert_eq!(
        p.payload().downcast_ref::<String>().map(String::as_str),
        Some("bad 7")
    );
    assert_eq!(
        p.into_payload().downcast::<String>().unwrap().as_str(),
        "bad 7"
    );
}

#[test]
fn custom_payload_is_kept_and_named_as_non_string() {
    let mut p = mruntime::guard("ledger", "custom", KeepRunning, || {
        std::panic::panic_any(Custom { code: 7 })
    })
    .unwrap_err();
    assert!(p.message().contains("not a string"), "{}", p.message());
    assert_eq!(p.payload_type(), None);
    assert!(p.payload().is::<mruntime::OpaquePayload>());
    assert_eq!(
        p.payload_mut().downcast_mut::<Custom>(),
        Some(&mut Custom { code: 7 })
    );
    assert_eq!(
        *p.into_payload().downcast::<Custom>().unwrap(),
        Custom { code: 7 }
    );
}

#[test]
fn no_panic_returns_the_value_and_reports_nothing() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    assert_eq!(
        mruntime::guard("c", "n", KeepRunning, || 41 + 1).unwrap(),
        42
    );
    assert!(capture.panic_events().is_empty());
}

#[test]
fn nested_guards_report_once_from_the_innermost() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let outer = mruntime::guard("outer", "o", KeepRunning, || {
        let inner = mruntime::guard("inner", "i", KeepRunning, || panic!("deep"));
        inner.unwrap_err().name().to_owned()
    });
    assert_eq!(outer.unwrap(), "i");
    let events = capture.panic_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].field("component"), Some("inner"));
    // The inner span is a child of the outer one.
    let names: Vec<_> = events[0]
        .scope
        .iter()
        .map(|s| s.fields["component"].clone())
        .collect();
    assert_eq!(names, ["inner", "outer"]);
}

#[test]
fn guard_runs_in_a_span_with_the_site_fields_under_the_current_span() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let request = tracing::info_span!("request");
    let _ =
        request.in_scope(|| mruntime::guard("onboarding", "create", KeepRunning, || panic!("x")));
    let event = &capture.panic_events()[0];
    let span = &event.scope[0];
    assert_eq!(span.name, "mruntime.guard");
    assert_eq!(span.fields["component"], "onboarding");
    assert_eq!(span.fields["name"], "create");
    assert_eq!(span.fields["policy"], "KeepRunning");
    assert_eq!(span.fields["otel.name"], "create");
    assert_eq!(event.scope[1].name, "request");
}

#[test]
fn long_values_are_truncated_in_telemetry_but_not_in_the_panicked() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let long = "v".repeat(5000);
    let p = mruntime::guard("c", "n", KeepRunning, || panic!("{long}")).unwrap_err();
    assert_eq!(p.message().len(), 5000);
    let value = capture.panic_events()[0]
        .field("panic.value")
        .unwrap()
        .to_owned();
    assert_eq!(value.chars().count(), 1024);
    assert!(value.ends_with("...[truncated]"));
}

#[test]
fn backtrace_is_captured_when_forced_and_sent_as_panic_stack() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);
    let p = mruntime::guard("c", "bt", KeepRunning, || panic!("with stack")).unwrap_err();
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Env);
    let bt = p.backtrace().expect("forced backtrace").to_string();
    assert!(bt.contains("guard_api"), "backtrace names this test: {bt}");
    let stack = capture.panic_events()[0]
        .field("panic.stack")
        .unwrap()
        .to_owned();
    assert!(stack.chars().count() <= 4096);
    assert!(!stack.is_empty());
}

#[test]
fn guard_future_recovers_and_keeps_the_span_parent() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    let result = rt.block_on(async {
        let parent = tracing::info_span!("caller");
        let fut = parent.in_scope(|| {
            mruntime::guard_future("c", "fut", KeepRunning, async {
                tokio::task::yield_now().await;
                panic!("after a yield")
            })
        });
        fut.await
    });
    assert_eq!(result.unwrap_err().message(), "after a yield");
    let events = capture.panic_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].scope[0].fields["name"], "fut");
    assert_eq!(events[0].scope[1].name, "caller");
}

fn spawn_results(capture: &Capture, rt: &tokio::runtime::Runtime) {
    let (ok, failed, blocking) = rt.block_on(async {
        let parent = tracing::info_span!("spawner");
        let _entered = parent.enter();
        let ok = mruntime::spawn("notification", "ok", KeepRunning, async { 5 });
        let failed = mruntime::spawn("notification", "email-sender", KeepRunning, async {
            tokio::task::yield_now().await;
            panic!("smtp down")
        });
        let blocking = mruntime::spawn_blocking("reports", "pdf", KeepRunning, || -> u8 {
            panic!("renderer crashed")
        });
        drop(_entered);
        (ok.await, failed.await, blocking.await)
    });
    assert_eq!(ok.unwrap(), 5);
    let Err(TaskError::Panicked(p)) = failed else {
        panic!("expected a panic, got {failed:?}")
    };
    assert_eq!(
        (p.component(), p.name(), p.message()),
        ("notification", "email-sender", "smtp down")
    );
    let Err(TaskError::Panicked(p)) = blocking else {
        panic!("expected a panic, got {blocking:?}")
    };
    assert_eq!(p.message(), "renderer crashed");

    let events = capture.panic_events();
    assert_eq!(events.len(), 2, "{events:#?}");
    for e in &events {
        assert_eq!(e.scope[0].name, "mruntime.task");
        assert_eq!(
            e.scope[1].name, "spawner",
            "task span is parented at the spawn"
        );
    }
}

#[test]
fn spawn_and_spawn_blocking_on_current_thread_runtime() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    spawn_results(&capture, &rt);
}

#[test]
fn spawn_and_spawn_blocking_on_multi_thread_runtime() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.multi_thread_runtime(2);
    spawn_results(&capture, &rt);
}

#[test]
fn abort_gives_cancelled() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let handle = mruntime::spawn("c", "sleeper", KeepRunning, async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        });
        assert!(!handle.is_finished());
        handle.abort();
        handle.await
    });
    let err = result.unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.to_string(), "task was cancelled");
}

#[test]
fn panicked_is_send_sync_and_an_error() {
    fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<Panicked>();
    assert_traits::<TaskError>();
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(mruntime::guard("c", "n", KeepRunning, || panic!("boxed")).unwrap_err());
    assert!(boxed.to_string().ends_with(": boxed"));
}
