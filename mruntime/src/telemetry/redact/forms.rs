//! Credentials recognised by their form, with no key in front: a prefix at a token boundary,
//! then a run of one alphabet's characters whose length is in a range. No regex engine: the
//! prefixes are found by the scanner's one automaton, the run is counted byte by byte.

use std::fmt;
use std::ops::{Bound, Range, RangeBounds};

/// A set of ASCII characters a credential's body is made of, for a [`SecretPattern`].
///
/// Build one from the constants, or from characters with [`Alphabet::of`] and [`Alphabet::and`]
/// (both `const`). Only ASCII characters count: others are ignored.
///
/// ```
/// use mruntime::Alphabet;
///
/// let base32 = Alphabet::of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
/// assert!(base32.contains('Q') && !base32.contains('1'));
/// let slug = Alphabet::ALPHANUMERIC.and("-");
/// assert!(slug.contains('-') && slug.contains('z'));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alphabet(u128);

/// The bits of the ASCII bytes `lo..=hi`.
const fn span_of(lo: u8, hi: u8) -> u128 {
    let mut set = 0u128;
    let mut b = lo;
    while b <= hi {
        set |= 1 << b;
        b += 1;
    }
    set
}

const DIGIT_BITS: u128 = span_of(b'0', b'9');
const UPPER_BITS: u128 = span_of(b'A', b'Z');
const LOWER_BITS: u128 = span_of(b'a', b'z');

impl Alphabet {
    /// `0-9`.
    pub const DIGITS: Alphabet = Alphabet(DIGIT_BITS);
    /// `0-9a-fA-F`.
    pub const HEX: Alphabet = Alphabet(DIGIT_BITS | span_of(b'a', b'f') | span_of(b'A', b'F'));
    /// `0-9A-Z` (AWS access key ids).
    pub const UPPERCASE_ALPHANUMERIC: Alphabet = Alphabet(DIGIT_BITS | UPPER_BITS);
    /// `0-9a-z`.
    pub const LOWERCASE_ALPHANUMERIC: Alphabet = Alphabet(DIGIT_BITS | LOWER_BITS);
    /// `0-9A-Za-z` (GitHub, npm, Stripe tokens).
    pub const ALPHANUMERIC: Alphabet = Alphabet(DIGIT_BITS | UPPER_BITS | LOWER_BITS);
    /// `0-9A-Za-z_` (GitHub fine-grained tokens).
    pub const WORD: Alphabet = Alphabet::ALPHANUMERIC.and("_");
    /// `0-9A-Za-z-_`, base64url (Google API keys, GitLab tokens).
    pub const BASE64URL: Alphabet = Alphabet::ALPHANUMERIC.and("-_");
    /// `0-9A-Za-z+/=`, standard base64 with its padding.
    pub const BASE64: Alphabet = Alphabet::ALPHANUMERIC.and("+/=");

    /// The ASCII characters of `chars`.
    pub const fn of(chars: &str) -> Alphabet {
        Alphabet(0).and(chars)
    }

    /// This alphabet and the ASCII characters of `chars`.
    pub const fn and(self, chars: &str) -> Alphabet {
        let bytes = chars.as_bytes();
        let mut set = self.0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] < 128 {
                set |= 1 << bytes[i];
            }
            i += 1;
        }
        Alphabet(set)
    }

    /// Whether `c` is in the alphabet.
    pub const fn contains(self, c: char) -> bool {
        (c as u32) < 128 && self.has(c as u8)
    }

    /// Whether the alphabet has no character.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    const fn has(self, byte: u8) -> bool {
        byte < 128 && self.0 & (1 << byte) != 0
    }
}

impl fmt::Debug for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: String = (0u8..128)
            .filter(|&b| self.has(b))
            .map(char::from)
            .collect();
        f.debug_tuple("Alphabet").field(&chars).finish()
    }
}

/// A credential format of your own, recognised with no key in front: a prefix, then a run of
/// characters of an [`Alphabet`] whose length is in a range. Give it to
/// [`add_secret_patterns`](crate::add_secret_patterns).
///
/// The prefix is matched case-sensitively and only at a token boundary (at the start of the
/// text or after a character other than an ASCII letter, digit or `_`); the run must be followed
/// by such a boundary too, so `acme_` + 32 characters inside a longer word is not taken. What is
/// redacted is the run: the prefix stays, to say what kind of credential was there
/// (`acme_[REDACTED]`).
///
/// Defaults: a length of `16..` (16 characters or more) and [`Alphabet::ALPHANUMERIC`].
///
/// ```
/// use mruntime::{Alphabet, SecretPattern};
///
/// let pattern = SecretPattern::new("acme_")
///     .length(32..=40)
///     .alphabet(Alphabet::ALPHANUMERIC);
/// assert_eq!(pattern.prefix(), "acme_");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPattern {
    prefix: String,
    min: usize,
    max: Option<usize>,
    alphabet: Alphabet,
}

impl SecretPattern {
    /// A pattern for credentials starting with `prefix` (length `16..`, alphanumeric).
    pub fn new(prefix: impl Into<String>) -> Self {
        SecretPattern {
            prefix: prefix.into(),
            min: 16,
            max: None,
            alphabet: Alphabet::ALPHANUMERIC,
        }
    }

    /// How many characters of the alphabet follow the prefix: `32..=40`, `36..=36` (exactly),
    /// `20..` (no upper bound). A range that allows zero characters, or none at all, is an
    /// error when the pattern is added.
    pub fn length(mut self, range: impl RangeBounds<usize>) -> Self {
        self.min = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        self.max = match range.end_bound() {
            Bound::Included(&n) => Some(n),
            Bound::Excluded(&n) => Some(n.saturating_sub(1)),
            Bound::Unbounded => None,
        };
        self
    }

    /// The characters the credential's body is made of.
    pub fn alphabet(mut self, alphabet: Alphabet) -> Self {
        self.alphabet = alphabet;
        self
    }

    /// The prefix the credential starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The rule this pattern describes, or why it cannot be one.
    pub(super) fn validate(&self) -> Result<(&str, Body), SecretPatternError> {
        let prefix = || self.prefix.clone();
        if self.prefix.is_empty() {
            return Err(SecretPatternError::EmptyPrefix);
        }
        if self.min == 0 {
            return Err(SecretPatternError::ZeroLength { prefix: prefix() });
        }
        if let Some(max) = self.max.filter(|&max| max < self.min) {
            return Err(SecretPatternError::EmptyLength {
                prefix: prefix(),
                min: self.min,
                max,
            });
        }
        if self.alphabet.is_empty() {
            return Err(SecretPatternError::EmptyAlphabet { prefix: prefix() });
        }
        Ok((
            &self.prefix,
            Body {
                min: self.min,
                max: self.max.unwrap_or(usize::MAX),
                alphabet: self.alphabet,
            },
        ))
    }
}

/// Why [`add_secret_patterns`](crate::add_secret_patterns) refused a [`SecretPattern`] (none of
/// the patterns given in that call was added).
///
/// ```
/// use mruntime::{SecretPattern, SecretPatternError};
///
/// let refused = mruntime::add_secret_patterns([SecretPattern::new("")]);
/// assert_eq!(refused, Err(SecretPatternError::EmptyPrefix));
/// let refused = mruntime::add_secret_patterns([SecretPattern::new("acme_").length(..=8)]);
/// assert!(matches!(refused, Err(SecretPatternError::ZeroLength { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretPatternError {
    /// The prefix is empty: every word would match.
    EmptyPrefix,
    /// The length lets zero characters follow the prefix: the prefix alone would be taken for a
    /// credential.
    ZeroLength {
        /// The pattern's prefix.
        prefix: String,
    },
    /// The length range holds no length (its end before its start).
    EmptyLength {
        /// The pattern's prefix.
        prefix: String,
        /// The range's first length.
        min: usize,
        /// The range's last length.
        max: usize,
    },
    /// The alphabet has no character.
    EmptyAlphabet {
        /// The pattern's prefix.
        prefix: String,
    },
}

impl fmt::Display for SecretPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretPatternError::EmptyPrefix => {
                f.write_str("a secret pattern needs a non-empty prefix")
            }
            SecretPatternError::ZeroLength { prefix } => write!(
                f,
                "secret pattern `{prefix}`: its length must start at 1 or more, e.g. `.length(16..)`"
            ),
            SecretPatternError::EmptyLength { prefix, min, max } => write!(
                f,
                "secret pattern `{prefix}`: the length range {min}..={max} is empty"
            ),
            SecretPatternError::EmptyAlphabet { prefix } => write!(
                f,
                "secret pattern `{prefix}`: its alphabet has no ASCII character"
            ),
        }
    }
}

impl std::error::Error for SecretPatternError {}

/// The forms recognised by default: `(prefixes, alphabet, min, max)`, high-confidence formats
/// from gitleaks' rules and GitHub's secret-scanning partners (the module docs of `redact` and
/// `add_secret_patterns` list them).
const BUILT_IN: &[(&[&str], Alphabet, usize, usize)] = &[
    // AWS access key ids.
    (
        &["AKIA", "ASIA", "ABIA", "ACCA"],
        Alphabet::UPPERCASE_ALPHANUMERIC,
        16,
        16,
    ),
    // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
    (
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        Alphabet::ALPHANUMERIC,
        36,
        usize::MAX,
    ),
    // GitHub's format is 82 (22, `_`, 59); 40 catches a hand-made or cut one too, and no
    // ordinary text has `github_pat_` before 40 word characters.
    (&["github_pat_"], Alphabet::WORD, 40, usize::MAX),
    // Slack bot, user, app-level, refresh and legacy tokens.
    (
        &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"],
        Alphabet::ALPHANUMERIC.and("-"),
        20,
        usize::MAX,
    ),
    // Stripe secret and restricted keys (publishable `pk_` keys are not secret).
    (
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        Alphabet::ALPHANUMERIC,
        16,
        usize::MAX,
    ),
    // Google API keys.
    (&["AIza"], Alphabet::BASE64URL, 35, 35),
    // GitLab personal, pipeline-trigger, runner and deploy tokens.
    (
        &["glpat-", "glptt-", "glrt-", "gldt-"],
        Alphabet::BASE64URL,
        20,
        usize::MAX,
    ),
    // npm access tokens.
    (&["npm_"], Alphabet::ALPHANUMERIC, 36, 36),
    // OpenAI-style keys: `sk-` and 32+ letters and digits; project, service-account, admin
    // and Anthropic keys, whose bodies hold `-` and `_`.
    (&["sk-"], Alphabet::ALPHANUMERIC, 32, usize::MAX),
    (
        &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-ant-"],
        Alphabet::BASE64URL,
        32,
        usize::MAX,
    ),
    // Hugging Face access tokens.
    (&["hf_"], Alphabet::ALPHANUMERIC, 34, usize::MAX),
    // PyPI upload tokens (the prefix is the base64 of their fixed header).
    (
        &["pypi-AgEIcHlwaS5vcmc"],
        Alphabet::BASE64URL,
        50,
        usize::MAX,
    ),
    // SendGrid API keys (`SG.` + 22 + `.` + 43).
    (&["SG."], Alphabet::BASE64URL.and("."), 66, 66),
    // Shopify access tokens and shared secrets.
    (
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        Alphabet::HEX,
        32,
        32,
    ),
    // DigitalOcean personal, OAuth and refresh tokens.
    (&["dop_v1_", "doo_v1_", "dor_v1_"], Alphabet::HEX, 64, 64),
    // Databricks personal access tokens.
    (&["dapi"], Alphabet::HEX, 32, 32),
];

/// The built-in forms, as prefixes with their bodies.
pub(super) fn built_in() -> Vec<Form> {
    let mut forms = Vec::new();
    for &(prefixes, alphabet, min, max) in BUILT_IN {
        for prefix in prefixes {
            add_form(&mut forms, prefix, Body { min, max, alphabet });
        }
    }
    forms
}

/// Adds `body` under `prefix` (a prefix given twice keeps one entry with both bodies).
pub(super) fn add_form(forms: &mut Vec<Form>, prefix: &str, body: Body) {
    match forms.iter_mut().find(|f| &*f.prefix == prefix) {
        Some(form) if form.bodies.contains(&body) => {}
        Some(form) => form.bodies.push(body),
        None => forms.push(Form {
            prefix: prefix.into(),
            bodies: vec![body],
        }),
    }
}

/// What follows a prefix: `min..=max` characters of `alphabet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Body {
    min: usize,
    max: usize,
    alphabet: Alphabet,
}

/// A prefix and the bodies that may follow it.
#[derive(Debug, Clone)]
pub(super) struct Form {
    pub(super) prefix: Box<str>,
    bodies: Vec<Body>,
}

/// Whether `b` continues a word (`\w` in ASCII): a prefix or a body next to one is not at a
/// token boundary.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Form {
    /// The body to redact when this form's prefix, found (ASCII case-insensitively) at
    /// `start..end` of `bytes`, starts a credential. `cut`: the text was cut at its end, so a
    /// body running to it is taken even when shorter than the minimum.
    pub(super) fn body_span(
        &self,
        bytes: &[u8],
        start: usize,
        end: usize,
        cut: bool,
    ) -> Option<Range<usize>> {
        if &bytes[start..end] != self.prefix.as_bytes() {
            return None; // the case differs
        }
        if start > 0 && is_word(bytes[start - 1]) {
            return None;
        }
        self.bodies
            .iter()
            .filter_map(|body| body.span(bytes, end, cut))
            .max_by_key(|span| span.end)
    }
}

impl Body {
    fn span(&self, bytes: &[u8], at: usize, cut: bool) -> Option<Range<usize>> {
        let mut run = bytes[at..]
            .iter()
            .take(self.max.saturating_add(1))
            .take_while(|&&b| self.alphabet.has(b))
            .count();
        // Dots at the end close a sentence, not a credential.
        while run > 0 && bytes[at + run - 1] == b'.' {
            run -= 1;
        }
        let end = at + run;
        if run == 0 || run > self.max {
            return None;
        }
        let taken = match bytes.get(end) {
            None => run >= self.min || cut,
            Some(&next) => run >= self.min && !is_word(next),
        };
        taken.then_some(at..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_of_form(prefix: &str, text: &str, cut: bool) -> Option<String> {
        let forms = built_in();
        let form = forms.iter().find(|f| &*f.prefix == prefix).unwrap();
        let start = text.find(prefix)?;
        form.body_span(text.as_bytes(), start, start + prefix.len(), cut)
            .map(|r| text[r].to_owned())
    }

    #[test]
    fn a_body_is_taken_at_its_length_between_boundaries() {
        let key = "AKIAIOSFODNN7EXAMPLE";
        assert_eq!(
            span_of_form("AKIA", &format!("id {key} ok"), false).as_deref(),
            Some("IOSFODNN7EXAMPLE")
        );
        // Too short, too long, inside a word, lower case, followed by a word character.
        for text in [
            "AKIAIOSFODNN7EXAMPL ok",
            "AKIAIOSFODNN7EXAMPLEX ok",
            "xAKIAIOSFODNN7EXAMPLE",
            "_AKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLEs",
        ] {
            assert_eq!(span_of_form("AKIA", text, false), None, "{text}");
        }
        assert_eq!(span_of_form("AKIA", "akiaiosfodnn7example", false), None);
    }

    #[test]
    fn a_dot_ending_the_sentence_is_not_the_bodys() {
        let key = format!("SG.{}.{}", "a".repeat(22), "B".repeat(43));
        assert_eq!(
            span_of_form("SG.", &format!("{key}."), false).as_deref(),
            Some(&key[3..])
        );
    }

    #[test]
    fn a_body_cut_off_at_the_texts_end_is_taken_when_the_text_was_cut() {
        assert_eq!(span_of_form("ghp_", "t ghp_abc", false), None);
        assert_eq!(
            span_of_form("ghp_", "t ghp_abc", true).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn patterns_are_validated() {
        let ok = SecretPattern::new("acme_").length(32..=40);
        assert!(ok.validate().is_ok());
        assert_eq!(
            SecretPattern::new("").validate().unwrap_err(),
            SecretPatternError::EmptyPrefix
        );
        for range in [(0usize, Some(3usize)), (5, Some(4))] {
            let pattern = match range {
                (min, Some(max)) => SecretPattern::new("p").length(min..=max),
                (min, None) => SecretPattern::new("p").length(min..),
            };
            assert!(pattern.validate().is_err(), "{range:?}");
        }
        assert!(SecretPattern::new("p").length(..0).validate().is_err());
        assert!(
            SecretPattern::new("p")
                .alphabet(Alphabet::of("é"))
                .validate()
                .is_err()
        );
        assert_eq!(
            SecretPattern::new("p").length(3..5).validate().unwrap().1,
            Body {
                min: 3,
                max: 4,
                alphabet: Alphabet::ALPHANUMERIC
            }
        );
    }

    #[test]
    fn alphabets_hold_what_they_say() {
        assert!(Alphabet::BASE64URL.contains('-') && Alphabet::BASE64URL.contains('_'));
        assert!(!Alphabet::ALPHANUMERIC.contains('-'));
        assert!(!Alphabet::HEX.contains('g') && Alphabet::HEX.contains('F'));
        assert!(!Alphabet::ALPHANUMERIC.contains('é'));
        assert_eq!(
            format!("{:?}", Alphabet::of("ba")),
            "Alphabet(\"ab\")".to_owned()
        );
    }
}
