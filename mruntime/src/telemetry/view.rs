//! What sinks see of a recovered panic: the value redacted and truncated, the stack trimmed and
//! truncated (computed once, only if a sink asks), or neither in production mode.

use std::cell::OnceCell;

use crate::panic::Panicked;
use crate::telemetry::limits::{VALUE_LIMIT, stack_text, truncate};
use crate::telemetry::redact::{REDACTED_VALUE, production_mode, redact_secrets};

pub(crate) struct SinkView<'a> {
    panicked: &'a Panicked,
    /// A copy carrying the sink value, when it differs from the panic's own message.
    sink_copy: Option<Panicked>,
    production: bool,
    stack: OnceCell<Option<String>>,
}

impl<'a> SinkView<'a> {
    pub(crate) fn new(panicked: &'a Panicked) -> Self {
        let production = production_mode();
        let sink_copy = if production {
            Some(panicked.for_sinks(REDACTED_VALUE.to_owned(), false))
        } else {
            let redacted = redact_secrets(panicked.message());
            let value = truncate(&redacted, VALUE_LIMIT);
            (value != panicked.message()).then(|| panicked.for_sinks(value.into_owned(), true))
        };
        SinkView {
            panicked,
            sink_copy,
            production,
            stack: OnceCell::new(),
        }
    }

    /// The panic as sinks may see it (what the error reporter is given).
    pub(crate) fn for_reporter(&self) -> &Panicked {
        self.sink_copy.as_ref().unwrap_or(self.panicked)
    }

    /// The panic value for sinks.
    pub(crate) fn value(&self) -> &str {
        self.for_reporter().message()
    }

    /// The stack for sinks, when a backtrace was captured and production mode is off.
    pub(crate) fn stack(&self) -> Option<&str> {
        self.stack
            .get_or_init(|| {
                if self.production {
                    return None;
                }
                self.panicked.backtrace().map(stack_text)
            })
            .as_deref()
    }
}
