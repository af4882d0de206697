//! Redaction of panic text before it reaches any sink (Go's later `SetProductionMode`).

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use regex::Regex;

static PRODUCTION: AtomicBool = AtomicBool::new(false);

/// What sinks receive as the panic value in production mode.
pub(crate) const REDACTED_VALUE: &str = "panic recovered (details redacted)";
/// What replaces a secret's value outside production mode.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Turns production mode on or off (default off), for every sink, from the next report on.
///
/// - In production mode panic values are replaced by `panic recovered (details redacted)` and
///   backtraces are dropped, in the log event, the span event, and what the error reporter gets.
/// - Outside it, values of keys that look secret (`password`, `token`, `secret`, `api_key`,
///   `bearer`, `authorization`, in `key=value`, `key: value` and JSON `"key": "value"` forms)
///   are replaced by `[REDACTED]`.
///
/// [`Panicked`](crate::Panicked) values your code receives are never changed: only what leaves
/// the process is.
///
/// ```
/// mruntime::set_production_mode(std::env::var("APP_ENV").as_deref() == Ok("production"));
/// ```
pub fn set_production_mode(on: bool) {
    PRODUCTION.store(on, Ordering::Relaxed);
}

pub(crate) fn production_mode() -> bool {
    PRODUCTION.load(Ordering::Relaxed)
}

/// `key=value`, `key: value`, `"key": "value"`, with an optional `Bearer ` before the value.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?P<key>[\w.-]*(?:password|passwd|token|secret|api_key|apikey|api-key|authorization)[\w.-]*)(?P<sep>"?\s*[:=]\s*"?)(?P<scheme>bearer\s+|basic\s+)?(?P<value>[^\s"',;&}\]]+)"#,
    )
    .expect("valid redaction pattern")
});

/// A bare `Bearer <credential>`.
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?P<scheme>bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]+)"#)
        .expect("valid redaction pattern")
});

/// Words one of which every match of the patterns contains (case-insensitively).
const KEYWORDS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"token",
    b"secret",
    b"api_key",
    b"apikey",
    b"api-key",
    b"authorization",
    b"bearer",
];

/// Whether `text` contains one of [`KEYWORDS`]: most panic messages do not, and this skips the
/// regexes for them.
fn might_hold_secret(text: &str) -> bool {
    text.as_bytes().windows(5).enumerate().any(|(at, window)| {
        KEYWORDS.iter().any(|keyword| {
            window.eq_ignore_ascii_case(&keyword[..5])
                && text.as_bytes()[at..]
                    .get(..keyword.len())
                    .is_some_and(|candidate| candidate.eq_ignore_ascii_case(keyword))
        })
    })
}

/// `text` with the values of secret-looking keys replaced by `[REDACTED]`.
pub(crate) fn redact_secrets(text: &str) -> Cow<'_, str> {
    if !might_hold_secret(text) {
        return Cow::Borrowed(text);
    }
    let replaced = KEY_VALUE.replace_all(text, |c: &regex::Captures<'_>| {
        format!(
            "{}{}{}{REDACTED}",
            &c["key"],
            &c["sep"],
            c.name("scheme").map_or("", |m| m.as_str())
        )
    });
    match BEARER.replace_all(&replaced, |c: &regex::Captures<'_>| {
        if &c["value"] == REDACTED || c["value"].starts_with('[') {
            c[0].to_owned()
        } else {
            format!("{} {REDACTED}", &c["scheme"])
        }
    }) {
        Cow::Borrowed(_) => replaced,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_forms_are_redacted() {
        assert_eq!(
            redact_secrets("login failed password=hunter2 user=ana"),
            "login failed password=[REDACTED] user=ana"
        );
        assert_eq!(
            redact_secrets("api_key: abc123, retry"),
            "api_key: [REDACTED], retry"
        );
        assert_eq!(
            redact_secrets(r#"{"user":"ana","access_token":"eyJhbGci","n":1}"#),
            r#"{"user":"ana","access_token":"[REDACTED]","n":1}"#
        );
        assert_eq!(redact_secrets("SECRET=s3cr3t&x=1"), "SECRET=[REDACTED]&x=1");
    }

    #[test]
    fn bearer_credentials_are_redacted() {
        assert_eq!(
            redact_secrets("Authorization: Bearer abc.def.ghi"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact_secrets("sent bearer xyz987 upstream"),
            "sent bearer [REDACTED] upstream"
        );
    }

    #[test]
    fn keyword_check_is_case_insensitive_and_exact() {
        assert!(might_hold_secret("the PassWord was wrong"));
        assert!(might_hold_secret("Authorization: x"));
        assert!(might_hold_secret("x-api-key=1"));
        assert!(!might_hold_secret("index out of bounds"));
        assert!(!might_hold_secret("toke"));
        assert!(!might_hold_secret("api_ke"));
        assert!(!might_hold_secret(""));
    }

    #[test]
    fn harmless_text_is_borrowed_unchanged() {
        let text = "index out of bounds: the len is 3 but the index is 7";
        assert!(matches!(redact_secrets(text), Cow::Borrowed(_)));
        assert_eq!(redact_secrets("tokens left: none"), "tokens left: none");
    }
}
