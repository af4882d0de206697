//! The trace sink: one ERROR `panic.recovered` event in the guard's span (with the request's
//! method and path when a `RecoverLayer` is serving one, and `rpc.*` for a gRPC call), and on
//! the exported OpenTelemetry span an `exception` event and status Error.

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::request;
use crate::telemetry::view::SinkView;

pub(crate) fn emit(view: &SinkView<'_>) {
    request::with_current(|request| emit_in(view, request));
}

fn emit_in(view: &SinkView<'_>, request: Option<request::RequestFields<'_>>) {
    let p = view.for_reporter();
    let non_empty = |s: &'static str| (!s.is_empty()).then_some(s);
    let rpc = request.and_then(|r| r.rpc_service_and_method());
    tracing::error!(
        target: "mruntime",
        component = p.component(),
        goroutine_name = p.name(),
        policy = p.policy().as_str(),
        attempt = p.attempt(),
        panic.value = view.value(),
        panic.location = p.location().map(tracing::field::display),
        panic.stack = view.readable_stack(),
        panic.component = non_empty(p.site().component()),
        panic.goroutine_name = non_empty(p.site().name()),
        http.request.method = request.map(|r| r.method),
        url.path = request.map(|r| r.path),
        rpc.system = request.and_then(|r| r.rpc_system()),
        rpc.service = rpc.map(|(service, _)| service),
        rpc.method = rpc.map(|(_, method)| method),
        "panic.recovered"
    );

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
    span.add_event("exception", exception);
    span.set_status(Status::error(format!(
        "panic recovered in {}/{}",
        p.component(),
        p.name()
    )));
}
