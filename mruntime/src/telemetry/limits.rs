//! Size limits for panic text in telemetry (the Go package's: value 1024, stack 4096 characters),
//! and the backtrace text sinks receive.

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::fmt::Write as _;

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
    if text.len() <= limit {
        return Cow::Borrowed(text); // a character is at least one byte
    }
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some(_) => Cow::Owned(cut_with_marker(text, limit)),
    }
}

/// The first `limit` characters of `text` (found without reading further), and whether
/// anything was left out.
pub(crate) fn window(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false); // a character is at least one byte
    }
    match text.char_indices().nth(limit) {
        None => (text, false),
        Some((end, _)) => (&text[..end], true),
    }
}

/// Whether `text` has more than `limit` characters: a length compare for text of at most
/// `limit` bytes (a character is at least one byte), counted only beyond.
#[inline]
pub(crate) fn longer_than(text: &str, limit: usize) -> bool {
    text.len() > limit && text.chars().nth(limit).is_some()
}

/// `text` cut so that, with [`TRUNCATED_MARKER`] appended, it has at most `limit` characters.
pub(crate) fn cut_with_marker(text: &str, limit: usize) -> String {
    let keep = limit.saturating_sub(TRUNCATED_MARKER.chars().count());
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    format!("{}{}", &text[..end], TRUNCATED_MARKER)
}

/// A label value cut to [`LABEL_LIMIT`] bytes on a character boundary (no marker: labels are
/// identifiers).
pub(crate) fn label(value: &'static str) -> &'static str {
    crate::text::prefix(value, LABEL_LIMIT)
}

/// Frames of the panic machinery (the hook, std's panicking) that precede the user's frames.
const MACHINERY: &[&str] = &[
    "std::backtrace",
    "mruntime::panic::capture",
    "mruntime::guard::hook",
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

/// A trimmed stack as telemetry carries it: every frame, cut to [`STACK_LIMIT`] characters.
pub(crate) fn bounded_stack(trimmed: &str) -> String {
    truncate(trimmed, STACK_LIMIT).into_owned()
}

/// Crates whose frames a reader of a log line cannot act on: the runtime's, std's and
/// mruntime's own. A frame's crate is the first path segment of its function (`<` stripped).
const RUNTIME_CRATES: &[&str] = &[
    "tokio",
    "tokio_util",
    "std",
    "core",
    "alloc",
    "futures",
    "futures_core",
    "futures_util",
    "futures_executor",
    "mruntime",
    "tracing",
    "tracing_core",
    "tower",
    "tower_service",
    "tower_layer",
    "hyper",
    "hyper_util",
    "axum",
];

/// A trimmed stack for people reading a log line: one line per frame of the user's code
/// (`function at file:line:col`), and each run of runtime frames collapsed into one line
/// (`... 14 frames of tokio, std, mruntime`), cut to [`STACK_LIMIT`] characters.
pub(crate) fn readable_stack(trimmed: &str) -> String {
    let mut out = String::new();
    let mut collapsed: Vec<&str> = Vec::new();
    let mut collapsed_count = 0usize;
    let flush = |out: &mut String, crates: &mut Vec<&str>, count: &mut usize| {
        if *count > 0 {
            let noun = if *count == 1 { "frame" } else { "frames" };
            let _ = writeln!(out, "... {count} {noun} of {}", crates.join(", "));
            crates.clear();
            *count = 0;
        }
    };
    let mut frames = frames(trimmed).peekable();
    if frames.peek().is_none() {
        return bounded_stack(trimmed);
    }
    for (function, location) in frames {
        match runtime_crate(function) {
            Some(name) => {
                collapsed_count += 1;
                if !collapsed.contains(&name) {
                    collapsed.push(name);
                }
            }
            None => {
                flush(&mut out, &mut collapsed, &mut collapsed_count);
                out.push_str(function);
                if let Some(location) = location {
                    let _ = write!(out, " at {location}");
                }
                out.push('\n');
            }
        }
    }
    flush(&mut out, &mut collapsed, &mut collapsed_count);
    out.truncate(out.trim_end().len());
    truncate(&out, STACK_LIMIT).into_owned()
}

/// The runtime crate a frame belongs to, or `None` for the user's code. A frame without a
/// path (`main`, `start_thread`, `<unknown>`) counts as the runtime's.
fn runtime_crate(function: &str) -> Option<&str> {
    let path = function.trim_start_matches('<');
    match path.split_once("::") {
        None => Some(path.split_whitespace().next().unwrap_or("unknown")),
        Some((name, _)) => RUNTIME_CRATES.iter().find(|&&c| c == name).copied(),
    }
}

/// The frames of a backtrace's text: each frame's function and its first `at` location.
fn frames(text: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        loop {
            let line = lines.next()?;
            let Some(function) = frame_function(line) else {
                continue;
            };
            let location = lines
                .peek()
                .and_then(|next| next.trim_start().strip_prefix("at "));
            if location.is_some() {
                lines.next();
            }
            return Some((function, location));
        }
    })
}

/// The function of a frame header line (`  12: app::handler`).
fn frame_function(line: &str) -> Option<&str> {
    line.trim_start()
        .split_once(": ")
        .filter(|(index, _)| !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, function)| function.trim_end())
}

/// Frames of unwinding plumbing between user frames: `catch_unwind` and mruntime's own guard.
const PLUMBING: &[&str] = &[
    "<core::panic::unwind_safe::AssertUnwindSafe<",
    "std::panicking::catch_unwind",
    "std::panic::catch_unwind",
    "__rust_try",
    "mruntime::guard::",
    "mruntime::__private::",
];

/// The backtrace as text: the frames from the panicking code down to the thread's entry, without
/// the frames of the hook and of std's panic machinery above them, the runtime's below std's
/// `__rust_begin_short_backtrace` marker (where std's own short backtraces stop too), nor the
/// `catch_unwind` plumbing in between.
pub(crate) fn trimmed_stack(backtrace: &Backtrace) -> String {
    trim_frames(&backtrace.to_string())
}

fn trim_frames(full: &str) -> String {
    let mut kept = String::with_capacity(full.len());
    let mut started = false;
    let mut keep_frame = false;
    for line in full.split_inclusive('\n') {
        if let Some(function) = frame_function(line) {
            if !started && !MACHINERY.iter().any(|m| function.starts_with(m)) {
                started = true;
            }
            if started && function.contains("__rust_begin_short_backtrace") {
                break;
            }
            keep_frame = started && !PLUMBING.iter().any(|p| function.starts_with(p));
        }
        // Lines that are not frame headers (`at file:line`) follow their frame.
        if keep_frame {
            kept.push_str(line);
        }
    }
    kept
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
                    1: mruntime::guard::hook::hook\n   2: core::panicking::panic_fmt\n   \
                    3: app::handler\n             at src/app.rs:42:9\n   4: app::main\n   \
                    5: std::sys::backtrace::__rust_begin_short_backtrace\n   6: main\n";
        assert_eq!(
            trim_frames(text),
            "   3: app::handler\n             at src/app.rs:42:9\n   4: app::main\n"
        );
        let plumbing = "   3: app::handler::{{closure}}\n             at src/app.rs:42:9\n   \
                        4: std::panicking::catch_unwind\n             at panicking.rs:1:1\n   \
                        5: __rust_try\n   6: mruntime::guard::catch\n   7: app::handler\n";
        assert_eq!(
            trim_frames(plumbing),
            "   3: app::handler::{{closure}}\n             at src/app.rs:42:9\n   7: app::handler\n"
        );
    }

    #[test]
    fn readable_stack_keeps_user_frames_and_collapses_runtime_runs() {
        let trimmed = "   3: app::handler::{{closure}}\n             at ./src/app.rs:42:9\n   \
                       4: <core::pin::Pin<P> as core::future::future::Future>::poll\n             \
                       at /rustc/x/library/core/src/future/future.rs:124:9\n   \
                       5: mruntime::task::spawn::run::{{closure}}\n   \
                       6: tokio::runtime::task::core::Core<T,S>::poll\n   \
                       7: <app::Job as app::Run>::run\n             at ./src/job.rs:7:1\n   \
                       8: std::thread::local::LocalKey<T>::with\n   9: start_thread\n";
        assert_eq!(
            readable_stack(trimmed),
            "app::handler::{{closure}} at ./src/app.rs:42:9\n\
             ... 3 frames of core, mruntime, tokio\n\
             <app::Job as app::Run>::run at ./src/job.rs:7:1\n\
             ... 2 frames of std, start_thread"
        );
        assert_eq!(readable_stack("no frames here"), "no frames here");
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
