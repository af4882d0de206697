//! The one gate for text about a panic that leaves the process: every sink (the tracing event,
//! OpenTelemetry span events and log records, the reporter's text, stderr lines, report
//! displays, request paths) takes its text from here, bounded and redacted. Text is cut to its
//! limit *before* it is scanned for secrets, so a 10 MB payload costs what a short one does.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;

use crate::panic::Panicked;
use crate::panic::span_trace::{SPAN_TRACE_BYTES, SPAN_TRACE_CUT};
use crate::telemetry::limits::{VALUE_LIMIT, cut_with_marker, longer_than, window};
use crate::telemetry::redact::{
    REDACTED_VALUE, Scan, keys_version, known_clean, production_mode, redact_secrets,
    remember_clean,
};

/// What stderr says of a sink's own fault in production mode.
const FAULT_REDACTED: &str = "details redacted";

/// Whether production mode is on: no panic value, no stack leaves the process.
pub(crate) fn production() -> bool {
    production_mode()
}

/// A panic value as it may leave the process: in production mode [`REDACTED_VALUE`]; outside
/// it cut to [`VALUE_LIMIT`] characters and its secrets redacted.
pub(crate) fn value_for(text: &str, production: bool) -> Cow<'_, str> {
    if production {
        Cow::Borrowed(REDACTED_VALUE)
    } else {
        bounded_and_redacted(text, Scan::default())
    }
}

/// [`value_for`] outside production mode, for a `&'static str` message (`panic!("literal")`,
/// `unwrap()` on `None`): the same text always gives the same value, so a text found clean
/// under the current keys is remembered (per thread) and not scanned again.
pub(crate) fn static_value(text: &'static str) -> Cow<'static, str> {
    if known_clean(text) {
        return Cow::Borrowed(text);
    }
    let version = keys_version();
    let value = bounded_and_redacted(text, Scan::default());
    if matches!(value, Cow::Borrowed(v) if std::ptr::eq(v, text)) {
        remember_clean(text, version);
    }
    value
}

/// [`value_for`] in the current mode.
pub(crate) fn value(text: &str) -> Cow<'_, str> {
    value_for(text, production())
}

/// A panic message as a display (a shutdown report) may show it: [`value`].
pub(crate) fn message(text: &str) -> Cow<'_, str> {
    value(text)
}

/// A span trace ([`Panicked::span_trace`]) as it may leave the process: withheld (`None`) in
/// production mode, with the panic value; outside it at most [`SPAN_TRACE_BYTES`] bytes, its
/// secrets redacted (a span field `password="..."` never leaves).
pub(crate) fn span_trace_for(text: Option<&str>, production: bool) -> Option<Cow<'_, str>> {
    let text = text.filter(|_| !production)?;
    // The trace is bounded already; a copy from elsewhere is cut before the scan all the same.
    let head = crate::text::prefix(text, SPAN_TRACE_BYTES);
    let whole = head.len() == text.len();
    let version = keys_version();
    if whole && last_clean_span_trace(text, version) {
        return Some(Cow::Borrowed(text));
    }
    let cut = !whole || text.ends_with(SPAN_TRACE_CUT);
    let redacted = redact_secrets(head, Scan { cut, path: false });
    if whole && matches!(redacted, Cow::Borrowed(_)) {
        remember_clean_span_trace(text, version);
        return Some(redacted);
    }
    // Redaction can lengthen the text: cut again after it.
    if whole && redacted.len() <= SPAN_TRACE_BYTES {
        return Some(redacted);
    }
    let kept = crate::text::prefix(&redacted, SPAN_TRACE_BYTES - SPAN_TRACE_CUT.len());
    Some(Cow::Owned(format!("{kept}{SPAN_TRACE_CUT}")))
}

thread_local! {
    /// The last span trace found clean on this thread, and the keys' version then: a storm of
    /// panics at one place repeats its trace, compared at once instead of scanned again.
    static CLEAN_SPAN_TRACE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn last_clean_span_trace(text: &str, version: u64) -> bool {
    CLEAN_SPAN_TRACE
        .try_with(|last| {
            last.try_borrow()
                .is_ok_and(|last| last.0 == version && !last.1.is_empty() && last.1 == text)
        })
        .unwrap_or(false)
}

fn remember_clean_span_trace(text: &str, version: u64) {
    let _ = CLEAN_SPAN_TRACE.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            last.0 = version;
            last.1.clear();
            last.1.push_str(text);
        }
    });
}

/// A request path as telemetry may carry it, in every mode: cut to [`VALUE_LIMIT`] characters,
/// secrets in it (`/reset/password=..`, `;jsessionid=..`) redacted.
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // only the layer serves requests
pub(crate) fn path(text: &str) -> Cow<'_, str> {
    bounded_and_redacted(
        text,
        Scan {
            cut: false,
            path: true,
        },
    )
}

/// `text` cut to [`VALUE_LIMIT`] characters, then scanned: the scanner never sees more than
/// the limit. A secret running into the cut is redacted whole (the scanner is told the text was
/// cut), and the marker goes after what is left.
fn bounded_and_redacted(text: &str, scan: Scan) -> Cow<'_, str> {
    let (head, cut) = window(text, VALUE_LIMIT);
    let redacted = redact_secrets(head, Scan { cut, ..scan });
    // Redaction can lengthen the text (`k=v` becomes `k=[REDACTED]`): cut again after it.
    if cut || longer_than(&redacted, VALUE_LIMIT) {
        Cow::Owned(cut_with_marker(&redacted, VALUE_LIMIT))
    } else {
        redacted
    }
}

/// The panic value every sink sees: the message bounded and redacted, or only that details
/// were redacted in production mode. Borrowed, the very message, when nothing changed.
pub(crate) fn panic_value(panicked: &Panicked, production: bool) -> Cow<'_, str> {
    if production {
        return Cow::Borrowed(REDACTED_VALUE);
    }
    match panicked.static_message() {
        Some(text) => static_value(text),
        None => value_for(panicked.message(), false),
    }
}

/// A one-line description of `panicked` for stderr (`panic in c/n at file:line:col: value`):
/// the value as every sink sees it (bounded, redacted, or withheld in production mode), control
/// characters escaped.
pub(crate) fn stderr_summary(panicked: &Panicked) -> String {
    let value = panic_value(panicked, production());
    let mut line = format!("panic in {}/{}", panicked.component(), panicked.name());
    if let Some(location) = panicked.location() {
        let _ = write!(line, " at {location}");
    }
    line.push_str(": ");
    line.push_str(&escape_control(&value));
    line
}

/// Free text (a sink's own panic message) bound for stderr: as a panic value, control
/// characters escaped; in production mode only that details were redacted.
pub(crate) fn stderr_text(text: &str) -> String {
    if production() {
        return FAULT_REDACTED.to_owned();
    }
    escape_control(&value_for(text, false)).into_owned()
}

/// Writes a line that passed this gate (or is fixed text of ours) to stderr.
pub(crate) use crate::stderr::write_line as write_stderr_line;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::limits::TRUNCATED_MARKER;
    use crate::telemetry::redact::LAST_SCANNED;

    #[test]
    fn the_scanner_only_sees_the_cut_text() {
        let huge = format!("password=hunter2 {}", "x".repeat(10 * 1024 * 1024));
        let out = value_for(&huge, false);
        assert!(LAST_SCANNED.with(|last| last.get()) <= VALUE_LIMIT * 4);
        assert_eq!(out.chars().count(), VALUE_LIMIT);
        assert!(out.starts_with("password=[REDACTED] xxx") && out.ends_with(TRUNCATED_MARKER));
        let short = value_for("password=hunter2", false);
        assert_eq!(short, "password=[REDACTED]");
        assert_eq!(
            LAST_SCANNED.with(|last| last.get()),
            "password=hunter2".len()
        );
    }

    #[test]
    fn a_secret_across_the_cut_is_not_half_leaked() {
        let secret = "s".repeat(3000);
        for prefix in [1000, 1010, 1020, 1023] {
            let text = format!("{}token={secret} tail", "x".repeat(prefix - 6));
            assert!(!value_for(&text, false).contains("ss"), "prefix {prefix}");
            let dsn = format!("{}postgres://ana:{secret}@db/app", "x".repeat(prefix - 15));
            assert!(
                !value_for(&dsn, false).contains("ss"),
                "dsn prefix {prefix}"
            );
        }
    }

    #[test]
    fn a_static_text_found_clean_is_scanned_again_once_the_keys_change() {
        // A key no other test uses: adding it changes nothing else.
        const TEXT: &str = "lookup failed: zzmemokey=4111 for ana";
        for _ in 0..2 {
            assert!(matches!(static_value(TEXT), Cow::Borrowed(TEXT)));
        }
        assert!(known_clean(TEXT));
        crate::telemetry::add_secret_keys(["zzmemokey"]);
        assert!(!known_clean(TEXT));
        for _ in 0..2 {
            assert_eq!(
                static_value(TEXT),
                "lookup failed: zzmemokey=[REDACTED] for ana"
            );
        }
        // A text with a secret is never remembered as clean.
        const SECRET: &str = "password=hunter2";
        assert_eq!(static_value(SECRET), "password=[REDACTED]");
        assert!(!known_clean(SECRET));
    }

    #[test]
    fn span_traces_are_redacted_bounded_and_withheld_in_production() {
        let trace = "app: db.login{user=\"ana\" password=\"hunter2\"}\napp: handler{token=abc}";
        let out = span_trace_for(Some(trace), false).unwrap();
        assert!(!out.contains("hunter2") && !out.contains("abc"), "{out}");
        assert!(out.contains("user=\"ana\""), "{out}");
        assert_eq!(span_trace_for(Some(trace), true), None);
        assert_eq!(span_trace_for(None, false), None);
        let clean = "app: db.debit{account=42}";
        assert!(matches!(span_trace_for(Some(clean), false), Some(Cow::Borrowed(c)) if c == clean));
        let huge = format!("app: x{{note={}}}", "é".repeat(5000));
        let out = span_trace_for(Some(&huge), false).unwrap();
        assert!(out.len() <= SPAN_TRACE_BYTES && out.ends_with(SPAN_TRACE_CUT));
    }

    #[test]
    fn production_mode_withholds_the_value() {
        assert_eq!(value_for("card 4111", true), REDACTED_VALUE);
        assert_eq!(value_for("card 4111", false), "card 4111");
    }

    #[test]
    fn paths_are_redacted_and_bounded() {
        assert_eq!(
            path("/reset/password=hunter2/confirm"),
            "/reset/password=[REDACTED]/confirm"
        );
        let long = format!("/{}", "p".repeat(3000));
        assert_eq!(path(&long).chars().count(), VALUE_LIMIT);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert!(matches!(escape_control("plain"), Cow::Borrowed(_)));
    }
}
