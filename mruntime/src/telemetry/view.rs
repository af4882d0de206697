//! What sinks see of a recovered panic, as [`egress`](crate::telemetry::egress) lets it out: the
//! value and the span trace bounded and redacted, the stack trimmed (computed once, only if a
//! sink asks), bounded for telemetry and collapsed for people; no value, stack or span trace in
//! production mode.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;

use crate::panic::Panicked;
use crate::telemetry::egress;
use crate::telemetry::limits::{bounded_stack, readable_stack, trimmed_stack};

pub(crate) struct SinkView<'a> {
    panicked: &'a Panicked,
    /// A copy carrying the sink value, when it differs from the panic's own message.
    sink_copy: Option<Panicked>,
    production: bool,
    /// The trimmed stack, when a backtrace was captured and production mode is off.
    trimmed: OnceCell<Option<String>>,
    stack: OnceCell<Option<String>>,
    readable: OnceCell<Option<String>>,
}

impl<'a> SinkView<'a> {
    pub(crate) fn new(panicked: &'a Panicked) -> Self {
        let production = egress::production();
        let value = egress::panic_value(panicked, production);
        let sink_copy = if production {
            let copy = panicked.for_sinks(value.into_owned(), false);
            Some(copy.with_span_trace(None))
        } else {
            // Unchanged text comes back borrowed, the very message: no need to compare it.
            let unchanged =
                matches!(&value, Cow::Borrowed(v) if std::ptr::eq(*v, panicked.message()));
            // Likewise the span trace: borrowed means the panic's own, as it is.
            let span_trace = match egress::span_trace_for(panicked.span_trace(), false) {
                Some(Cow::Owned(redacted)) => Some(Arc::<str>::from(redacted)),
                _ => None,
            };
            match span_trace {
                None => (!unchanged).then(|| panicked.for_sinks(value.into_owned(), true)),
                Some(redacted) => Some(
                    panicked
                        .for_sinks(value.into_owned(), true)
                        .with_span_trace(Some(redacted)),
                ),
            }
        };
        SinkView {
            panicked,
            sink_copy,
            production,
            trimmed: OnceCell::new(),
            stack: OnceCell::new(),
            readable: OnceCell::new(),
        }
    }

    /// The panic as sinks may see it (what the error reporter is given): the sink value as its
    /// message; no backtrace in production mode.
    pub(crate) fn for_reporter(&self) -> &Panicked {
        self.sink_copy.as_ref().unwrap_or(self.panicked)
    }

    /// The span trace for sinks: redacted, bounded; `None` in production mode.
    pub(crate) fn span_trace(&self) -> Option<&str> {
        self.for_reporter().span_trace()
    }

    /// The panic value for sinks.
    pub(crate) fn value(&self) -> &str {
        self.for_reporter().message()
    }

    fn trimmed(&self) -> Option<&str> {
        self.trimmed
            .get_or_init(|| {
                if self.production {
                    return None;
                }
                self.panicked.backtrace().map(trimmed_stack)
            })
            .as_deref()
    }

    /// Every frame of the trimmed stack, bounded: for OpenTelemetry's `exception.stacktrace`.
    pub(crate) fn stack(&self) -> Option<&str> {
        self.stack
            .get_or_init(|| self.trimmed().map(bounded_stack))
            .as_deref()
    }

    /// The stack for a log line: the user's frames, runtime frames collapsed.
    pub(crate) fn readable_stack(&self) -> Option<&str> {
        self.readable
            .get_or_init(|| self.trimmed().map(readable_stack))
            .as_deref()
    }
}
