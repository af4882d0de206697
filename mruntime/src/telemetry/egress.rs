//! The one gate for text about a panic that leaves the process: every sink (the tracing event,
//! OpenTelemetry span events and log records, the reporter's text, stderr lines, report
//! displays, request paths) takes its text from here, bounded and redacted.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::panic::Panicked;
use crate::telemetry::limits::{VALUE_LIMIT, truncate};
use crate::telemetry::view::SinkView;

/// A one-line description of `panicked` for stderr (`panic in c/n at file:line:col: value`):
/// the value as every sink sees it, control characters escaped.
pub(crate) fn stderr_summary(panicked: &Panicked) -> String {
    let view = SinkView::new(panicked);
    let mut line = format!("panic in {}/{}", panicked.component(), panicked.name());
    if let Some(location) = panicked.location() {
        let _ = write!(line, " at {location}");
    }
    line.push_str(": ");
    line.push_str(&escape_control(view.value()));
    line
}

/// Free text (a sink's own panic message, an I/O error) bound for stderr.
pub(crate) fn stderr_text(text: &str) -> String {
    escape_control(&message(text)).into_owned()
}

/// A panic message as a display (a shutdown report) may show it.
pub(crate) fn message(text: &str) -> Cow<'_, str> {
    truncate(text, VALUE_LIMIT)
}

/// A request path as telemetry may carry it.
pub(crate) fn path(text: &str) -> Cow<'_, str> {
    truncate(text, VALUE_LIMIT)
}

/// `text` with control characters (newlines included) escaped, so one report stays one line.
fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
