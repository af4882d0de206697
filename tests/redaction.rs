//! Production mode and secret redaction, in the log event, the OpenTelemetry span events and
//! what the reporter gets; the `Panicked` the caller holds is never changed. Production mode, the
//! reporter and the key list are process-wide: the tests take turns.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked};
use mruntime_tests::Capture;
use mruntime_tests::otel::{Traces, event_attrs};

/// Held by each test: they change process-wide settings.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, bool)>>>);

impl ErrorReporter for Recorder {
    fn report(&self, p: &Panicked) {
        self.0
            .lock()
            .unwrap()
            .push((p.message().to_owned(), p.backtrace().is_some()));
    }
}

#[test]
fn sinks_get_redacted_values_and_callers_keep_theirs() {
    let _turn = one_at_a_time();
    let capture = Capture::new();
    let _default = capture.set_default();
    let recorder = Recorder::default();
    mruntime::set_error_reporter(recorder.clone());
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);

    // Outside production mode: secrets are masked, the rest and the stack are kept.
    let raw = r#"login failed for ana password=hunter2 body={"api_key": "k-123"}"#;
    let p = mruntime::guard("auth", "login", KeepRunning, || panic!("{raw}")).unwrap_err();
    assert_eq!(p.message(), raw, "the caller's Panicked is untouched");
    let masked = r#"login failed for ana password=[REDACTED] body={"api_key": "[REDACTED]"}"#;
    let event = capture.panic_events().pop().unwrap();
    assert_eq!(event.field("panic.value"), Some(masked));
    assert!(event.field("panic.stack").is_some());
    assert_eq!(
        recorder.0.lock().unwrap().pop(),
        Some((masked.to_owned(), true))
    );

    // Production mode: no value, no stack, anywhere.
    mruntime::set_production_mode(true);
    let p = mruntime::guard("auth", "login", KeepRunning, || panic!("card 4111-1111")).unwrap_err();
    mruntime::set_production_mode(false);
    assert_eq!(p.message(), "card 4111-1111");
    assert!(p.backtrace().is_some());
    let event = capture.panic_events().pop().unwrap();
    assert_eq!(
        event.field("panic.value"),
        Some("panic recovered (details redacted)")
    );
    assert_eq!(event.field("panic.stack"), None);
    assert_eq!(
        recorder.0.lock().unwrap().pop(),
        Some(("panic recovered (details redacted)".to_owned(), false))
    );

    // Long values are cut for sinks too, with the marker.
    let long = format!("token=abc {}", "x".repeat(3000));
    let _ = mruntime::guard("auth", "long", KeepRunning, || panic!("{long}"));
    let (value, _) = recorder.0.lock().unwrap().pop().unwrap();
    assert_eq!(value.chars().count(), 1024);
    assert!(value.starts_with("token=[REDACTED] xxx"));
    assert!(value.ends_with("...[truncated]"));
    mruntime::clear_error_reporter();
}

/// What each sink got for a panic with `message`: the tracing event's `panic.value`, the
/// OpenTelemetry span's `panic.recovered` and `exception` events, the reporter's message.
fn every_sink(message: &str) -> [String; 4] {
    let capture = Capture::new();
    let recorder = Recorder::default();
    mruntime::set_error_reporter(recorder.clone());
    let held = tracing::dispatcher::with_default(capture.dispatch(), || {
        mruntime::guard("auth", "forms", KeepRunning, || panic!("{message}")).unwrap_err()
    });
    assert_eq!(
        held.message(),
        message,
        "the caller's Panicked is untouched"
    );
    let traces = Traces::new();
    tracing::dispatcher::with_default(&traces.dispatch, || {
        let _ = mruntime::guard("auth", "forms", KeepRunning, || panic!("{message}"));
    });
    mruntime::clear_error_reporter();
    let span = traces.spans().pop().expect("the guard's span");
    let event = capture.panic_events().pop().expect("one event");
    let reported = recorder
        .0
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a report");
    [
        event.field("panic.value").unwrap().to_owned(),
        event_attrs(&span, "panic.recovered").unwrap()["panic.value"].clone(),
        event_attrs(&span, "exception").unwrap()["exception.message"].clone(),
        reported.0,
    ]
}

/// The forms that leaked before the scanner, each with the pieces that must not get out and
/// what every sink gets instead.
#[test]
fn secrets_in_every_form_reach_no_sink() {
    let _turn = one_at_a_time();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "password='single quoted'",
            &["single", "quoted"],
            "password='[REDACTED]'",
        ),
        (
            r#"password="two words""#,
            &["two", "words"],
            r#"password="[REDACTED]""#,
        ),
        (
            r#"Login { user: "ana", password: Some("x-secret") }"#,
            &["x-secret"],
            r#"Login { user: "ana", password: Some("[REDACTED]") }"#,
        ),
        (
            r#"bad body "{\"password\":\"p4ss\\\"w0rd\"}""#,
            &["p4ss", "w0rd"],
            r#"bad body "{\"password\":\"[REDACTED]\"}""#,
        ),
        (
            r#"{"password": "ab\"cd-tail"}"#,
            &["ab", "cd-tail"],
            r#"{"password": "[REDACTED]"}"#,
        ),
        (
            "Authorization: Token tok-123 sent",
            &["tok-123"],
            "Authorization: Token [REDACTED] sent",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNz",
            &["dXNlcjpwYXNz"],
            "Authorization: Basic [REDACTED]",
        ),
        (
            "token=abc,def-tail retry",
            &["abc", "def-tail"],
            "token=[REDACTED] retry",
        ),
        (
            "connect postgres://app:pg-pass@db:5432/ledger failed",
            &["pg-pass"],
            "connect postgres://app:[REDACTED]@db:5432/ledger failed",
        ),
        (
            "Cookie: theme=dark; sid=ck-1",
            &["ck-1"],
            "Cookie: [REDACTED]",
        ),
        (
            "Set-Cookie: id=ck-2; Path=/; HttpOnly",
            &["ck-2"],
            "Set-Cookie: [REDACTED]",
        ),
        (
            "form password%3Durl-enc%26next",
            &["url-enc"],
            "form password%3D[REDACTED]",
        ),
        (
            "passphrase=pp-1 client_secret=cs-1 private_key=pk-1",
            &["pp-1", "cs-1", "pk-1"],
            "passphrase=[REDACTED] client_secret=[REDACTED] private_key=[REDACTED]",
        ),
        (
            "GET /cb?access_token=at-1&refresh_token=rt-1&state=ok",
            &["at-1", "rt-1"],
            "GET /cb?access_token=[REDACTED]&refresh_token=[REDACTED]&state=ok",
        ),
        (
            "GET /login;jsessionid=js-1",
            &["js-1"],
            "GET /login;jsessionid=[REDACTED]",
        ),
    ];
    for &(message, secrets, want) in cases {
        for got in every_sink(message) {
            for secret in secrets {
                assert!(
                    !got.contains(secret),
                    "{secret:?} of {message:?} leaked: {got:?}"
                );
            }
            assert_eq!(got, want, "{message}");
        }
    }
}

#[test]
fn added_secret_keys_are_redacted_too() {
    let _turn = one_at_a_time();
    let message = "payout refused: iban=DE89370400440532013000 amount=12";
    assert_eq!(every_sink(message)[3], message);
    mruntime::add_secret_keys(["IBAN", ""]);
    for got in every_sink(message) {
        assert_eq!(got, "payout refused: iban=[REDACTED] amount=12");
    }
    // The defaults stay.
    assert_eq!(every_sink("password=x")[3], "password=[REDACTED]");
}

#[test]
fn the_sentry_event_carries_the_redacted_value_and_no_stack_in_production_mode() {
    let _turn = one_at_a_time();
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);
    let raw = mruntime::guard("auth", "sentry", KeepRunning, || {
        panic!("db password=hunter2")
    })
    .unwrap_err();
    let event = mruntime::sentry::SentryReporter::event(&raw);
    let exception = &event.exception.values[0];
    assert_eq!(exception.value.as_deref(), Some("db password=[REDACTED]"));
    assert!(exception.stacktrace.is_some());
    mruntime::set_production_mode(true);
    let event = mruntime::sentry::SentryReporter::event(&raw);
    mruntime::set_production_mode(false);
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Env);
    let exception = &event.exception.values[0];
    assert_eq!(
        exception.value.as_deref(),
        Some("panic recovered (details redacted)")
    );
    assert!(exception.stacktrace.is_none());
}
