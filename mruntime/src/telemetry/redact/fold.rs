//! Characters that disguise keys, folded before the scan: zero-width characters are dropped and
//! fullwidth ASCII is read as ASCII, so `pass\u{200b}word=` and `ｐａｓｓｗｏｒｄ=` are keys.
//! The folded copy is made only for a text that holds one of them; the spans found in it are
//! mapped back to the original text, which is what gets redacted.

use std::ops::Range;

/// Byte sequences the scanner's automaton looks for: each starts a character that may need
/// folding (the fullwidth ones are found by their first two bytes and checked by
/// [`folds_at`]).
pub(super) const TRIGGERS: [&[u8]; 7] = [
    "\u{200b}".as_bytes(),
    "\u{200c}".as_bytes(),
    "\u{200d}".as_bytes(),
    "\u{2060}".as_bytes(),
    "\u{feff}".as_bytes(),
    b"\xef\xbc",
    b"\xef\xbd",
];

/// Zero-width space, non-joiner, joiner, word joiner, and the byte-order mark (zero-width
/// no-break space): invisible, dropped.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
}

/// Fullwidth `！`..`～` (U+FF01..U+FF5E), read as ASCII `!`..`~`.
fn fullwidth_to_ascii(c: char) -> Option<char> {
    matches!(c, '\u{ff01}'..='\u{ff5e}')
        .then(|| char::from_u32(c as u32 - 0xfee0))
        .flatten()
}

/// Whether the character starting at byte `at` of `text` is folded.
pub(super) fn folds_at(text: &str, at: usize) -> bool {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| is_zero_width(c) || fullwidth_to_ascii(c).is_some())
}

/// A text with its disguising characters folded, and where each of its bytes came from.
pub(super) struct Folded {
    pub(super) text: String,
    /// `origin[i]`: the offset in the original text of the character byte `i` comes from.
    origin: Vec<usize>,
    original_len: usize,
}

/// `text` folded.
pub(super) fn fold(text: &str) -> Folded {
    let mut folded = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        if is_zero_width(c) {
            continue;
        }
        let c = fullwidth_to_ascii(c).unwrap_or(c);
        folded.push(c);
        origin.extend(std::iter::repeat_n(at, c.len_utf8()));
    }
    Folded {
        text: folded,
        origin,
        original_len: text.len(),
    }
}

impl Folded {
    /// The span of the original text that `span` of the folded one came from (the dropped
    /// characters just before its end included).
    pub(super) fn original(&self, span: Range<usize>) -> Range<usize> {
        let at = |i: usize| self.origin.get(i).copied().unwrap_or(self.original_len);
        at(span.start)..at(span.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_characters_are_dropped_and_fullwidth_ascii_read_as_ascii() {
        let text = "pass\u{200b}wo\u{feff}rd＝ｈｉ é";
        let folded = fold(text);
        assert_eq!(folded.text, "password=hi é");
        let value = folded.text.find("hi").unwrap();
        let span = folded.original(value..value + 2);
        assert_eq!(&text[span], "ｈｉ");
        let whole = folded.original(0..folded.text.len());
        assert_eq!(whole, 0..text.len());
    }

    #[test]
    fn only_the_listed_characters_fold() {
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '！', '～',
        ] {
            assert!(folds_at(&c.to_string(), 0), "{c:?}");
        }
        // Halfwidth katakana, the ideographic space, a soft hyphen, Cyrillic `а`.
        for c in ['\u{ff5f}', 'ｱ', '\u{3000}', '\u{ad}', 'а', 'a'] {
            assert!(!folds_at(&c.to_string(), 0), "{c:?}");
        }
    }
}
