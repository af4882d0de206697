//! The trace sink: one ERROR `panic.recovered` event in the guard's span (with the request's
//! method and path when a `RecoverLayer` is serving one, and `rpc.*` for a gRPC call), and on
//! the exported OpenTelemetry span an `exception` event and status Error.
//!
//! The event is not emitted with `tracing::error!`: that macro trusts the interest tracing
//! caches per callsite, process-wide, computed by the first thread to reach it; a thread
//! without a subscriber reaching it first (while another thread's scoped subscriber is being
//! registered) can cache "never" and lose every later event. The panic path is cold, so it asks
//! the current dispatcher itself, every time.

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use tracing::field::{Field, Value, display};
use tracing::level_filters::STATIC_MAX_LEVEL;
use tracing::{Event, Level, Metadata, Span};
use tracing_core::callsite::{DefaultCallsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_core::subscriber::NoSubscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use std::borrow::Cow;

use crate::site::Site;
use crate::telemetry::request::{self, RequestFields};
use crate::telemetry::view::SinkView;

/// Declares the `panic.recovered` event (its static callsite) and the function that emits it
/// from one list of fields: each field's name and the expression giving its value (any
/// `tracing::Value`; an `Option` that is `None` records nothing).
macro_rules! panic_event {
    (
        fn $emit:ident($view:ident, $request:ident, $p:ident) {
            $($name:literal => $value:expr,)*
        }
    ) => {
        const FIELD_COUNT: usize = ["message", $($name),*].len();
        static FIELD_NAMES: [&str; FIELD_COUNT] = ["message", $($name),*];
        static CALLSITE: DefaultCallsite = DefaultCallsite::new(&METADATA);
        static METADATA: Metadata<'static> = Metadata::new(
            "panic.recovered",
            "mruntime",
            Level::ERROR,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(&FIELD_NAMES, Identifier(&CALLSITE)),
            Kind::EVENT,
        );

        /// Returns whether there is a subscriber at all (else no span can be recorded either).
        fn $emit($view: &SinkView<'_>, $request: Option<RequestFields<'_>>) -> bool {
            if Level::ERROR > STATIC_MAX_LEVEL {
                return true;
            }
            // Registered once, so that subscribers created later are told of the callsite.
            let _ = CALLSITE.interest();
            // One look-up of the dispatcher, which is asked whether it wants the event; the
            // values (the readable stack resolves the backtrace's symbols) are worked out only
            // then.
            tracing::dispatcher::get_default(|dispatch| {
                if !dispatch.enabled(&METADATA) {
                    return !dispatch.is::<NoSubscriber>();
                }
                let $p = $view.for_reporter();
                // `format_args!`, as `tracing::error!` records its message: a layer reading it
                // with `record_debug` sees `panic.recovered`, not a quoted string.
                let values: [&dyn Value; FIELD_COUNT] =
                    [&format_args!("panic.recovered"), $(&$value),*];
                dispatch_event(dispatch, &METADATA, values);
                true
            })
        }
    };
}

// The `panic.recovered` event's fields (after `message`), in this order.
panic_event! {
    fn emit_event(view, request, p) {
        "component" => p.component(),
        "goroutine_name" => p.name(),
        "policy" => p.policy().as_str(),
        "attempt" => p.attempt(),
        "panic.value" => view.value(),
        "panic.location" => p.location().map(display),
        "panic.stack" => view.readable_stack(),
        "panic.span_trace" => view.span_trace(),
        "panic.component" => non_empty(p.site().component()),
        "panic.goroutine_name" => non_empty(p.site().name()),
        "panic.caught_elsewhere" => p.caught_elsewhere().then_some(true),
        "panic.suppressed_before" => Some(p.suppressed_before()).filter(|n| *n > 0),
        "http.request.method" => request.map(|r| r.method),
        "url.path" => request.map(|r| r.path),
        "rpc.system" => request.and_then(|r| r.rpc_system()),
        "rpc.service" => request.and_then(|r| r.rpc_service_and_method()).map(|(service, _)| service),
        "rpc.method" => request.and_then(|r| r.rpc_service_and_method()).map(|(_, method)| method),
    }
}

fn non_empty(s: &'static str) -> Option<&'static str> {
    (!s.is_empty()).then_some(s)
}

/// Gives `dispatch` the event of `metadata` with `values`, one per field in the order of its
/// field set (taken from it, not collected anywhere). mruntime's own events (`panic.recovered`,
/// `panic.suppressed`) are dispatched this way, after asking the dispatcher, not tracing's
/// cached interest.
pub(crate) fn dispatch_event<const N: usize>(
    dispatch: &tracing::Dispatch,
    metadata: &'static Metadata<'static>,
    values: [&dyn Value; N],
) {
    let field_set = metadata.fields();
    let mut iter = field_set.iter();
    let fields: [Option<Field>; N] = std::array::from_fn(|_| iter.next());
    let Some(first) = fields.first().and_then(Option::as_ref) else {
        return;
    };
    if fields.iter().any(Option::is_none) {
        return;
    }
    let pairs: [(&Field, Option<&dyn Value>); N] =
        std::array::from_fn(|i| (fields[i].as_ref().unwrap_or(first), Some(values[i])));
    dispatch.event(&Event::new(metadata, &field_set.value_set(&pairs)));
}

/// A panic that sampling suppressed: only the span's status Error (`status` interned per site,
/// so nothing is formatted; formatted for the overflow bucket's sites).
pub(crate) fn mark_suppressed(site: &Site, status: Option<&'static str>) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let text = match status {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(format!(
            "panic recovered in {}/{}",
            site.component(),
            site.name()
        )),
    };
    span.set_status(Status::error(text));
}

pub(crate) fn emit(view: &SinkView<'_>) {
    request::with_current(|request| emit_in(view, request));
}

fn emit_in(view: &SinkView<'_>, request: Option<RequestFields<'_>>) {
    if !emit_event(view, request) {
        return; // no subscriber: the current span is a disabled one
    }
    let p = view.for_reporter();

    // With a tracing-opentelemetry layer these reach the exported span; without one they do
    // nothing, so skip building them.
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let mut exception = Vec::with_capacity(3);
    if let Some(ty) = p.payload_type() {
        exception.push(KeyValue::new("exception.type", ty));
    }
    exception.push(KeyValue::new("exception.message", view.value().to_owned()));
    if let Some(stack) = view.stack() {
        exception.push(KeyValue::new("exception.stacktrace", stack.to_owned()));
    }
    if let Some(span_trace) = view.span_trace() {
        exception.push(KeyValue::new("panic.span_trace", span_trace.to_owned()));
    }
    span.add_event("exception", exception);
    span.set_status(Status::error(format!(
        "panic recovered in {}/{}",
        p.component(),
        p.name()
    )));
}
