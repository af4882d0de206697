//! Size limits for panic text in telemetry (the Go package's: value 1024, stack 4096 characters).

use std::borrow::Cow;

/// The most characters of a panic value sent to any sink.
pub(crate) const VALUE_LIMIT: usize = 1024;
/// The most characters of a backtrace sent to any sink.
pub(crate) const STACK_LIMIT: usize = 4096;
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
}
