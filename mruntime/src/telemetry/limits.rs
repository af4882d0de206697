//! Size limits for panic text in telemetry (the Go package's: value 1024, stack 4096 characters),
//! and the backtrace text sinks receive.

use std::backtrace::Backtrace;
use std::borrow::Cow;

/// The most characters of a panic value sent to any sink.
pub(crate) const VALUE_LIMIT: usize = 1024;
/// The most characters of a backtrace sent to any sink.
pub(crate) const STACK_LIMIT: usize = 4096;
/// The most bytes of a metric label value.
pub(crate) const LABEL_LIMIT: usize = 64;
/// Appended where text was cut.
pub(crate) const TRUNCATED_MARKER: &str = "...[truncated]";

/// `text` cut to at most `limit` characters (marker included), on a character boundary.
pub(crate) fn truncate(text: &str, limit: usize) -> Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let keep = limit.saturating_sub(TRUNCATED_MARKER.chars().count());
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            Cow::Owned(format!("{}{}", &text[..end], TRUNCATED_MARKER))
        }
    }
}

/// A label value cut to [`LABEL_LIMIT`] bytes on a character boundary (no marker: labels are
/// identifiers).
pub(crate) fn label(value: &'static str) -> &'static str {
    if value.len() <= LABEL_LIMIT {
        return value;
    }
    let mut end = LABEL_LIMIT;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Frames of the panic machinery (the hook, std's panicking) that precede the user's frames.
const MACHINERY: &[&str] = &[
    "std::backtrace",
    "mruntime::panic::hook",
    "<alloc::boxed::Box<dyn",
    "std::panicking",
    "core::panicking",
    "std::sys::backtrace",
    "__rustc::rust_begin_unwind",
    "rust_begin_unwind",
    "core::option::unwrap_failed",
    "core::option::expect_failed",
    "core::result::unwrap_failed",
];

/// The backtrace as text for sinks, cut to [`STACK_LIMIT`] characters.
pub(crate) fn stack_text(backtrace: &Backtrace) -> String {
    let full = trimmed_stack(backtrace);
    truncate(&full, STACK_LIMIT).into_owned()
}

/// The backtrace as text: the frames from the panicking code down to the thread's entry, without
/// the frames of the hook and of std's panic machinery above them, nor the runtime's below std's
/// `__rust_begin_short_backtrace` marker (where std's own short backtraces stop too).
pub(crate) fn trimmed_stack(backtrace: &Backtrace) -> String {
    trim_frames(&backtrace.to_string()).to_owned()
}

fn trim_frames(full: &str) -> &str {
    let mut start = None;
    let mut end = full.len();
    let mut offset = 0;
    for line in full.split_inclusive('\n') {
        let frame = line
            .trim_start()
            .split_once(": ")
            .filter(|(index, _)| index.chars().all(|c| c.is_ascii_digit()));
        if let Some((_, function)) = frame {
            if start.is_none() && !MACHINERY.iter().any(|m| function.starts_with(m)) {
                start = Some(offset);
            }
            if start.is_some() && function.contains("__rust_begin_short_backtrace") {
                end = offset;
                break;
            }
        }
        offset += line.len();
    }
    &full[start.unwrap_or(0)..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_borrowed_unchanged() {
        assert!(matches!(truncate("abc", 5), Cow::Borrowed("abc")));
        assert_eq!(truncate("abcde", 5), "abcde");
    }

    #[test]
    fn long_text_is_cut_to_the_limit_with_the_marker() {
        let text = "x".repeat(2000);
        let cut = truncate(&text, VALUE_LIMIT);
        assert_eq!(cut.chars().count(), VALUE_LIMIT);
        assert!(cut.ends_with(TRUNCATED_MARKER));
    }

    #[test]
    fn multibyte_text_is_cut_on_a_char_boundary() {
        let text = "đồng".repeat(400); // 1600 chars, more bytes
        let cut = truncate(&text, VALUE_LIMIT);
        assert_eq!(cut.chars().count(), VALUE_LIMIT);
        assert!(cut.starts_with("đồngđồng"));
    }

    #[test]
    fn stack_keeps_the_user_frames_between_the_machinery_and_the_runtime() {
        let text = "   0: std::backtrace::Backtrace::capture\n             at backtrace.rs:1:1\n   \
                    1: mruntime::panic::hook::hook\n   2: core::panicking::panic_fmt\n   \
                    3: app::handler\n             at src/app.rs:42:9\n   4: app::main\n   \
                    5: std::sys::backtrace::__rust_begin_short_backtrace\n   6: main\n";
        assert_eq!(
            trim_frames(text),
            "   3: app::handler\n             at src/app.rs:42:9\n   4: app::main\n"
        );
    }

    #[test]
    fn labels_are_cut_to_64_bytes_on_a_char_boundary() {
        assert_eq!(label("short"), "short");
        let long: &'static str = "é".repeat(40).leak(); // 80 bytes
        let cut = label(long);
        assert_eq!(cut.len(), 64);
        assert_eq!(cut.chars().count(), 32);
        let odd: &'static str = format!("a{}", "é".repeat(40)).leak();
        assert_eq!(label(odd).len(), 63);
    }
}
