//! The span trace at the panic point: the chain of spans current on the panicking thread when
//! the panic was raised, innermost first.
//!
//! The hook only takes a handle to the current span ([`SpanCapture::now`]: a look-up and a
//! reference count, no formatting); the text is written once the guard has caught the panic
//! ([`SpanCapture::render`]), under containment, and the handle dropped so the span closes as
//! it would have. What the text holds depends on the subscriber:
//! - with `tracing_error::ErrorLayer`: each span's target, name and the fields it formatted;
//! - with a `tracing_subscriber::Registry` and no `ErrorLayer`: targets and names, and the fields
//!   a fmt layer (default field formatter) formatted, if one did;
//! - with any other subscriber, or none: nothing.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::{Metadata, Span};
use tracing_error::SpanTrace;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::panic::Silenced;

/// The most spans a span trace lists (the innermost ones).
pub(crate) const SPAN_TRACE_SPANS: usize = 32;
/// The most bytes of a span trace's text.
pub(crate) const SPAN_TRACE_BYTES: usize = 4096;
/// The most bytes of one span's fields (so one huge field cannot hide the spans around it).
const SPAN_FIELDS_BYTES: usize = 1024;
/// Appended where a span trace's text was cut.
pub(crate) const SPAN_TRACE_CUT: &str = "...[truncated]";
/// Starts the last line of a span trace that lists only its innermost spans.
pub(crate) const OMITTED_SPANS: &str = "... ";

/// The span current where a panic was raised, as the hook saw it.
pub(crate) struct SpanCapture(Span);

impl SpanCapture {
    /// For the hook: the current span, kept open until [`render`](Self::render). Never panics
    /// with tracing-subscriber's `Registry` (a look-up and a count); another subscriber's
    /// `current_span` and `clone_span` run here.
    pub(crate) fn now() -> Self {
        SpanCapture(Span::current())
    }

    /// No span: for a panic whose report sampling suppressed (it sends nothing).
    pub(crate) fn none() -> Self {
        SpanCapture(Span::none())
    }

    /// The span trace's text, bounded: one line per span, innermost first, `target: name{fields}`
    /// (no braces without fields). `None` when there is no span or the subscriber cannot tell.
    /// A fault of the subscriber is contained: no trace then. (It runs as the `Panicked` is
    /// made, before a crash's deadline is armed: it only reads the registry, lock-free look-ups
    /// and each span's extensions under a read lock.)
    pub(crate) fn render(self) -> Option<Arc<str>> {
        if self.0.is_none() {
            return None;
        }
        let text = Silenced::run(|| render_span(&self.0)).ok().flatten();
        // Dropped outside containment: a span closing here is what a guard's exit would do.
        drop(self);
        text.map(Arc::from)
    }
}

/// The trace of `span`, through the `ErrorLayer` when there is one, else the `Registry`.
fn render_span(span: &Span) -> Option<String> {
    let mut trace = Writer {
        text: String::with_capacity(256),
        ..Writer::default()
    };
    // Nothing is visited when the subscriber has no `ErrorLayer`.
    SpanTrace::new(span.clone()).with_spans(|metadata, fields| trace.push(metadata, fields));
    if trace.spans == 0 {
        span.with_subscriber(|(id, dispatch)| {
            let Some(span) = dispatch
                .downcast_ref::<Registry>()
                .and_then(|registry| registry.span(id))
            else {
                return;
            };
            for span in span.scope() {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<DefaultFields>>()
                    .map_or("", |f| f.fields.as_str());
                if !trace.push(span.metadata(), fields) {
                    break;
                }
            }
        });
    }
    trace.finish()
}

/// Builds the text, span by span, within the bounds.
#[derive(Default)]
struct Writer {
    text: String,
    spans: usize,
    omitted: usize,
    cut: bool,
}

impl Writer {
    /// Adds a span; returns whether to go on.
    fn push(&mut self, metadata: &Metadata<'_>, fields: &str) -> bool {
        if self.spans == SPAN_TRACE_SPANS || self.cut {
            self.omitted += 1;
            return true; // counted, not written
        }
        let line = &mut self.text;
        if !line.is_empty() {
            line.push('\n');
        }
        push_clean(line, metadata.target(), usize::MAX);
        line.push_str(": ");
        push_clean(line, metadata.name(), usize::MAX);
        let fields = fields.trim();
        if !fields.is_empty() {
            line.push('{');
            push_clean(line, fields, SPAN_FIELDS_BYTES);
            line.push('}');
        }
        self.spans += 1;
        if self.text.len() > SPAN_TRACE_BYTES {
            cut_to(&mut self.text, SPAN_TRACE_BYTES - SPAN_TRACE_CUT.len());
            self.text.push_str(SPAN_TRACE_CUT);
            self.cut = true;
        }
        true
    }

    fn finish(mut self) -> Option<String> {
        if self.spans == 0 {
            return None;
        }
        if self.omitted > 0 && !self.cut {
            let line = format!("\n{OMITTED_SPANS}{} more spans", self.omitted);
            if self.text.len() + line.len() <= SPAN_TRACE_BYTES {
                self.text.push_str(&line);
            }
        }
        Some(self.text)
    }
}

/// Appends `text` with ANSI escape sequences (a fmt layer's colours) left out and other control
/// characters (newlines) escaped, so that each span stays one line; at most `limit` bytes of it.
fn push_clean(out: &mut String, text: &str, limit: usize) {
    // Mostly plain text: copied at once. (0xC2 leads the C1 controls, U+0080..U+009F.)
    // A fold without an early exit, which the compiler vectorizes.
    let plain = !text.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    if text.len() <= limit && plain {
        out.push_str(text);
        return;
    }
    let start = out.len();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // CSI: parameters and intermediates, then one final byte in `@..=~`.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() - start > limit {
            cut_to(out, start + limit.saturating_sub(SPAN_TRACE_CUT.len()));
            out.push_str(SPAN_TRACE_CUT);
            return;
        }
    }
}

/// Cuts `text` to at most `len` bytes, on a character boundary.
fn cut_to(text: &mut String, len: usize) {
    let mut end = len.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_left_out_and_newlines_escaped() {
        let mut out = String::new();
        push_clean(
            &mut out,
            "\u{1b}[3maccount\u{1b}[0m\u{1b}[2m=\u{1b}[0m42 note=a\nb",
            usize::MAX,
        );
        assert_eq!(out, "account=42 note=a\\nb");
    }

    #[test]
    fn one_span_s_fields_are_bounded() {
        let mut out = String::new();
        push_clean(&mut out, &"é".repeat(2000), SPAN_FIELDS_BYTES);
        assert!(out.len() <= SPAN_FIELDS_BYTES, "{}", out.len());
        assert!(out.ends_with(SPAN_TRACE_CUT));
    }
}
