//! [`SentryReporter`]: recovered panics as Sentry exception events (cargo feature `sentry`), and
//! the spawner's hub carried into mruntime's tasks.

pub(crate) mod carry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sentry_core::protocol::{Breadcrumb, Context, Event, Exception, Level, Mechanism, Value};
use sentry_core::{Hub, types::protocol::v7::Map};

use crate::panic::Panicked;
use crate::panic::span_trace::OMITTED_SPANS;
use crate::policy::PanicPolicy;
use crate::telemetry::ErrorReporter;
use crate::telemetry::egress;
use crate::telemetry::limits::trimmed_stack;

/// Sends every recovered panic to Sentry as an exception event: type `panic`, the panic value,
/// the stack frames of the panic's backtrace (when captured), tags `component`, `goroutine_name`
/// and `policy`, and the location and attempt as extra data. A `CrashProcess` panic is sent at
/// level `fatal` and flushed before the abort.
///
/// What leaves the process, exactly (see [`SentryReporter::event`]):
/// - the exception's value: the panic message cut to 1024 characters with its secrets replaced
///   by `[REDACTED]` ([`add_secret_keys`](crate::add_secret_keys)); in production mode
///   ([`set_production_mode`](crate::set_production_mode)) `panic recovered (details redacted)`;
/// - the stack frames: every frame of the backtrace from the panicking code down to the thread's
///   entry, without the frames of the panic machinery and of `catch_unwind` (runtime frames
///   included, not collapsed as in the log line); none in production mode;
/// - tags and extra data: the static component, name and policy, the location
///   (`file:line:col`) and the attempt. Never a request path, never the raw payload;
/// - the span trace ([`Panicked::span_trace`]), redacted as the value and left out in production
///   mode: as the context `span_trace` (`spans`: one `target: name{fields}` per span, innermost
///   first) and as breadcrumbs of category `tracing.span`, outermost first, before the scope's.
///
/// The scope applied is the hub's: tags and breadcrumbs set in the request that spawned the
/// panicking task too, since mruntime's spawns carry the spawner's hub into the task.
///
/// ```
/// // After `let _sentry = sentry::init("https://key@sentry.example/1");`
/// mruntime::set_error_reporter(mruntime::sentry::SentryReporter::new());
/// ```
#[derive(Clone)]
pub struct SentryReporter {
    hub: Option<Arc<Hub>>,
}

impl SentryReporter {
    /// A reporter sending through the hub current on the thread that recovered the panic
    /// (the main hub unless one was bound there).
    ///
    /// Call it after `sentry::init(..)`, with a `sentry` crate of the same minor version as
    /// mruntime's `sentry-core` (0.49), so that both see one hub. If the current hub has no
    /// enabled client (no `sentry::init`, or another `sentry` version), it says so once per
    /// process on stderr, here or at the first report, instead of dropping events silently.
    pub fn new() -> Self {
        warn_once_without_client(&Hub::current());
        Self::default()
    }

    /// A reporter sending through `hub` always.
    pub fn with_hub(hub: Arc<Hub>) -> Self {
        carry::enable();
        SentryReporter { hub: Some(hub) }
    }

    fn with_hub_do<R>(&self, f: impl FnOnce(&Hub) -> R) -> R {
        match &self.hub {
            Some(hub) => f(hub),
            None => f(&Hub::current()),
        }
    }

    /// The event sent for `panic`. Its text goes through the same gate as every sink's, so the
    /// event is bounded and redacted whichever `Panicked` it is built from (the reporter is given
    /// the sinks' copy already; redacting again changes nothing).
    pub fn event(panic: &Panicked) -> Event<'static> {
        let production = egress::production();
        let stacktrace = panic
            .backtrace()
            .filter(|_| !production)
            .and_then(|bt| sentry_backtrace::parse_stacktrace(&trimmed_stack(bt)));
        let exception = Exception {
            ty: "panic".into(),
            value: Some(egress::value_for(panic.message(), production).into_owned()),
            stacktrace,
            mechanism: Some(Mechanism {
                ty: "mruntime".into(),
                handled: Some(panic.policy() == PanicPolicy::KeepRunning),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut tags = Map::new();
        tags.insert("component".into(), panic.component().into());
        tags.insert("goroutine_name".into(), panic.name().into());
        tags.insert("policy".into(), panic.policy().as_str().into());
        let mut extra = Map::new();
        if let Some(location) = panic.location() {
            extra.insert("location".into(), location.to_string().into());
        }
        extra.insert("attempt".into(), panic.attempt().into());
        if panic.suppressed_before() > 0 {
            extra.insert("suppressed_before".into(), panic.suppressed_before().into());
        }
        let mut contexts = Map::new();
        let mut breadcrumbs = Vec::new();
        if let Some(trace) = egress::span_trace_for(panic.span_trace(), production) {
            let spans: Vec<&str> = trace.lines().collect();
            breadcrumbs = spans
                .iter()
                .rev()
                .filter(|line| !line.starts_with(OMITTED_SPANS))
                .map(|line| Breadcrumb {
                    ty: "default".into(),
                    category: Some("tracing.span".into()),
                    level: Level::Info,
                    message: Some((*line).to_owned()),
                    ..Default::default()
                })
                .collect();
            let spans = spans
                .into_iter()
                .map(|l| Value::from(l.to_owned()))
                .collect();
            let mut context = Map::new();
            context.insert("spans".to_owned(), Value::Array(spans));
            contexts.insert("span_trace".to_owned(), Context::Other(context));
        }
        Event {
            level: match panic.policy() {
                PanicPolicy::KeepRunning => Level::Error,
                PanicPolicy::CrashProcess => Level::Fatal,
            },
            exception: vec![exception].into(),
            transaction: Some(format!("{}/{}", panic.component(), panic.name())),
            tags,
            extra,
            contexts,
            breadcrumbs: breadcrumbs.into(),
            ..Default::default()
        }
    }
}

/// As [`SentryReporter::new`], without checking for a client.
impl Default for SentryReporter {
    fn default() -> Self {
        carry::enable();
        SentryReporter { hub: None }
    }
}

/// Whether the "no Sentry client" line was printed (at most once per process).
static WARNED_WITHOUT_CLIENT: AtomicBool = AtomicBool::new(false);

/// Prints once per process that `hub` has no enabled client, so events would go nowhere.
/// Returns whether it printed now.
fn warn_once_without_client(hub: &Hub) -> bool {
    let has_client = hub.client().is_some_and(|client| client.is_enabled());
    if has_client || WARNED_WITHOUT_CLIENT.swap(true, Ordering::Relaxed) {
        return false;
    }
    eprintln!(
        "mruntime: SentryReporter: the current Sentry hub has no enabled client, so recovered \
         panics are not sent to Sentry; call `sentry::init(..)` first, with a `sentry` crate of \
         the same minor version as mruntime's `sentry-core` (0.49)"
    );
    true
}

impl ErrorReporter for SentryReporter {
    fn report(&self, panic: &Panicked) {
        let event = Self::event(panic);
        self.with_hub_do(|hub| {
            warn_once_without_client(hub);
            hub.capture_event(event)
        });
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.with_hub_do(|hub| {
            hub.client()
                .is_none_or(|client| client.flush(Some(timeout)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_without_client_is_reported_once() {
        let hub = Hub::new(None, Arc::new(sentry_core::Scope::default()));
        WARNED_WITHOUT_CLIENT.store(false, Ordering::Relaxed);
        assert!(warn_once_without_client(&hub));
        assert!(!warn_once_without_client(&hub));
        assert!(!warn_once_without_client(&Hub::current()));
    }
}
