//! Cutting text on a character boundary, for every floor that bounds what it keeps (the panic
//! captures, the sampler's summaries, telemetry's labels and span traces).

/// The longest prefix of `s` of at most `limit` bytes that ends on a character boundary.
// `str::floor_char_boundary` is newer than the crate's rust-version.
pub(crate) fn prefix(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::prefix;

    #[test]
    fn a_prefix_ends_on_a_character_boundary() {
        assert_eq!(prefix("hello", 10), "hello");
        assert_eq!(prefix("hello", 3), "hel");
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("日本", 0), "");
    }
}
