//! The `panic.suppressed` event: one per sampling window in which panics of a site were
//! suppressed, with how many, when the first and the last were raised, and the last message
//! (through the egress gate: bounded, redacted, withheld in production mode).

use std::any::Any;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::Value;
use tracing::level_filters::STATIC_MAX_LEVEL;
use tracing::{Dispatch, Level, Metadata};
use tracing_core::callsite::{DefaultCallsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;

use crate::panic::panicked::NON_STRING_MESSAGE;
use crate::telemetry::egress;
use crate::telemetry::trace::dispatch_event;

/// The most bytes of a suppressed panic's message kept (the gate cuts it further).
const MESSAGE_KEEP_LIMIT: usize = 4096;

/// The last message of a window's suppressed panics, kept without allocating per panic: a
/// `&'static str` by reference, a `String` copied into one buffer reused for the window.
pub(crate) enum LastMessage {
    None,
    Static(&'static str),
    Copied(String),
    NotAString,
}

impl LastMessage {
    /// Keeps `payload`'s text. Runs in the panic hook: nothing here panics.
    pub(crate) fn set(&mut self, payload: &(dyn Any + Send)) {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            *self = LastMessage::Static(s);
        } else if let Some(s) = payload.downcast_ref::<String>() {
            let kept = crate::text::prefix(s, MESSAGE_KEEP_LIMIT);
            match self {
                LastMessage::Copied(buffer) => {
                    buffer.clear();
                    buffer.push_str(kept);
                }
                _ => *self = LastMessage::Copied(kept.to_owned()),
            }
        } else {
            *self = LastMessage::NotAString;
        }
    }

    pub(crate) fn text(&self) -> &str {
        match self {
            LastMessage::None => "",
            LastMessage::Static(s) => s,
            LastMessage::Copied(s) => s,
            LastMessage::NotAString => NON_STRING_MESSAGE,
        }
    }
}

/// A window's suppressed panics of one site (or of the overflow bucket).
pub(crate) struct Summary {
    /// Empty for the overflow bucket (panics of sites beyond the tracked ones).
    pub(crate) component: &'static str,
    pub(crate) name: &'static str,
    /// `file:line:column`; `None` for the overflow bucket.
    pub(crate) location: Option<Arc<str>>,
    pub(crate) count: u64,
    pub(crate) first: SystemTime,
    pub(crate) last: SystemTime,
    pub(crate) message: LastMessage,
    /// Where to emit: the subscriber of the thread that suppressed the first panic.
    pub(crate) dispatch: Option<Dispatch>,
}

impl Summary {
    pub(crate) fn same_site(&self, other: &Summary) -> bool {
        self.component == other.component
            && self.name == other.name
            && self.location == other.location
    }

    /// Adds a later window of the same site (its summary not emitted yet).
    pub(crate) fn merge(&mut self, later: Summary) {
        self.count += later.count;
        self.first = self.first.min(later.first);
        self.last = self.last.max(later.last);
        self.message = later.message;
    }

    /// Emits the event to the subscriber of the thread that suppressed the first panic.
    pub(crate) fn emit(&self) {
        match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, || self.emit_here()),
            None => self.emit_here(),
        }
    }

    fn emit_here(&self) {
        if Level::ERROR > STATIC_MAX_LEVEL {
            return;
        }
        let _ = CALLSITE.interest();
        tracing::dispatcher::get_default(|dispatch| {
            if !dispatch.enabled(&METADATA) {
                return;
            }
            let value = egress::value(self.message.text());
            let overflow = self.location.is_none();
            let (first, last) = (rfc3339(self.first), rfc3339(self.last));
            let values: [&dyn Value; FIELD_COUNT] = [
                &format_args!("panic.suppressed"),
                &self.component,
                &self.name,
                &self.location.as_deref().unwrap_or("(other sites)"),
                &self.count,
                &first.as_str(),
                &last.as_str(),
                &&*value,
                &overflow.then_some(true),
            ];
            dispatch_event(dispatch, &METADATA, values);
        });
    }
}

const FIELD_COUNT: usize = FIELD_NAMES.len();
static FIELD_NAMES: [&str; 9] = [
    "message",
    "component",
    "goroutine_name",
    "panic.location",
    "count",
    "first_time",
    "last_time",
    "panic.value",
    "panic.sites_overflowed",
];
static CALLSITE: DefaultCallsite = DefaultCallsite::new(&METADATA);
static METADATA: Metadata<'static> = Metadata::new(
    "panic.suppressed",
    "mruntime",
    Level::ERROR,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(&FIELD_NAMES, Identifier(&CALLSITE)),
    Kind::EVENT,
);

/// `time` as RFC 3339 in UTC with milliseconds (`2026-12-07T16:05:41.123Z`).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_659_541_123);
        assert_eq!(rfc3339(t), "2026-12-07T16:05:41.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_last_message_reuses_its_buffer() {
        let mut m = LastMessage::None;
        m.set(&String::from("first one"));
        let LastMessage::Copied(buffer) = &m else {
            panic!("copied")
        };
        let address = buffer.as_ptr();
        m.set(&String::from("second"));
        assert!(matches!(&m, LastMessage::Copied(b) if b.as_ptr() == address && b == "second"));
        m.set(&"static");
        assert_eq!(m.text(), "static");
        m.set(&42u8);
        assert_eq!(m.text(), NON_STRING_MESSAGE);
    }
}
