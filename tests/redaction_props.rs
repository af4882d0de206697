//! Redaction, property-tested through the public API: generated secrets in generated shapes
//! (quoted, escaped, Debug, JSON, query, URL-encoded, headers, cookies, URLs and DSNs) never
//! reach the error reporter, and text without secrets reaches it unchanged.
//!
//! Secrets are made of words that each hold capital letters or digits, and everything else
//! (keys, filler, hosts) is lower case without digits: so a capital or a digit left in what the
//! reporter got, once the words mruntime or the shape put there are removed, is a leak of a
//! piece of the secret, however small.

use std::cell::RefCell;
use std::sync::Once;

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked};
use proptest::prelude::*;

thread_local! {
    static REPORTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Keeps what each report said on the thread that recovered the panic (a sync guard reports
/// on its own thread), so tests running in parallel do not see each other's reports.
struct ThreadLocalReporter;

impl ErrorReporter for ThreadLocalReporter {
    fn report(&self, panic: &Panicked) {
        REPORTED.with(|r| r.borrow_mut().push(panic.message().to_owned()));
    }
}

/// What the reporter gets for a panic with `message`.
fn reported(message: &str) -> String {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| mruntime::set_error_reporter(ThreadLocalReporter));
    let caught = mruntime::guard("props", "redaction", KeepRunning, || panic!("{message}"));
    assert_eq!(
        caught.unwrap_err().message(),
        message,
        "the caller's copy is untouched"
    );
    REPORTED.with(|r| r.borrow_mut().pop()).expect("one report")
}

/// Words that mruntime (`[REDACTED]`) or a shape (`Some`, `Bearer`, `Cookie`, ...) writes with
/// capitals: removed before looking for pieces of the secret.
const ALLOWED_CAPITALS: &[&str] = &[
    "[REDACTED]",
    "Authorization",
    "Set-Cookie",
    "Cookie",
    "Bearer",
    "Basic",
    "Token",
    "Some",
    "Ok",
    "%3D",
    "%3d",
    "%3A",
    "%22",
    "%7B",
    "%7D",
];

/// The pieces of a secret left in `text` (capitals and digits outside the allowed words).
fn leaked(text: &str) -> String {
    let mut rest = text.to_owned();
    for word in ALLOWED_CAPITALS {
        rest = rest.replace(word, " ");
    }
    rest.chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect()
}

/// A secret word: a capital or a digit first, so that any piece of it is caught.
fn word() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9a-z]{0,7}"
}

/// An unquoted secret: words joined by characters an unquoted value may hold.
fn unquoted_secret() -> impl Strategy<Value = String> {
    prop::collection::vec((word(), "[._~+=!$*,:@-]?"), 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, sep)| format!("{w}{sep}"))
            .collect::<String>()
            .trim_end_matches(',')
            .to_owned()
    })
}

/// A secret inside quotes: words joined by anything a string may hold, spaces and the other
/// quote included (`quote` itself is escaped by the shape).
fn quoted_secret() -> impl Strategy<Value = String> {
    prop::collection::vec((word(), "[ ,;:&=./'\"\\\\-]{0,2}"), 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, sep)| format!("{w}{sep}"))
            .collect()
    })
}

/// A URL userinfo password (RFC 3986: `/?#@` are percent-encoded there).
fn url_secret() -> impl Strategy<Value = String> {
    prop::collection::vec((word(), "[._~!$&'()*+,;=%-]?"), 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, sep)| format!("{w}{sep}"))
            .collect()
    })
}

fn key() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "private_key",
        "credentials",
        "signature",
        "session",
        "jsessionid",
    ]);
    let affix = prop::sample::select(vec!["", "db_", "x-", "access_", "refresh_", "client_"]);
    (affix, base).prop_map(|(a, b)| format!("{a}{b}"))
}

/// `secret` escaped as in a Rust or JSON string delimited by `quote`.
fn escape(secret: &str, quote: char) -> String {
    let mut out = String::new();
    for c in secret.chars() {
        if c == '\\' || c == quote {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A key and a secret joined in one of the shapes secrets take in panic messages.
fn secret_in_a_shape() -> impl Strategy<Value = String> {
    let keyed_unquoted = (
        key(),
        prop::sample::select(vec!["=", ": ", " = ", ":", "%3D", "%3d", "=>"]),
        unquoted_secret(),
    )
        .prop_map(|(k, sep, s)| format!("{k}{sep}{s}"));
    let keyed_quoted = (
        key(),
        prop::sample::select(vec!["\"", "'"]),
        prop::sample::select(vec!["=", ": ", "\": ", "\":"]),
        quoted_secret(),
    )
        .prop_map(|(k, quote, sep, s)| {
            let q = quote.chars().next().unwrap();
            let key = if sep.starts_with('"') {
                format!("\"{k}")
            } else {
                k
            };
            format!("{key}{sep}{quote}{}{quote}", escape(&s, q))
        });
    let debug = (
        key(),
        prop::sample::select(vec!["Some", "Ok"]),
        quoted_secret(),
    )
        .prop_map(|(k, wrapper, s)| format!("login {{ {k}: {wrapper}(\"{}\") }}", escape(&s, '"')));
    // JSON inside a Debug-printed string: `"{\"password\":\"..\"}"`.
    let escaped_json = (key(), quoted_secret()).prop_map(|(k, s)| {
        let json = format!("{{\"{k}\":\"{}\",\"n\":true}}", escape(&s, '"'));
        format!("body: {:?}", json)
    });
    let query = (key(), unquoted_secret())
        .prop_map(|(k, s)| format!("/cb?state=ok&{k}={}&next=home", s.replace('&', "")));
    let url = (
        prop::sample::select(vec![
            "postgres",
            "mysql",
            "redis",
            "amqp",
            "https",
            "mongodb+srv",
        ]),
        "[a-z]{0,6}",
        url_secret(),
        prop::sample::select(vec!["/app", "", "/", "?sslmode=require"]),
    )
        .prop_map(|(scheme, user, s, tail)| format!("{scheme}://{user}:{s}@db.internal{tail}"));
    let cookie = (
        prop::sample::select(vec!["Cookie: ", "Set-Cookie: ", "cookie: "]),
        "[a-z]{1,6}",
        unquoted_secret(),
    )
        .prop_map(|(header, name, s)| format!("{header}theme=dark; {name}={s}; path=/"));
    let authorization = (
        prop::sample::select(vec![
            "Authorization: ",
            "authorization=",
            "\"Authorization\": \"",
        ]),
        prop::sample::select(vec!["Bearer ", "Basic ", "Token ", ""]),
        unquoted_secret(),
    )
        .prop_map(|(header, scheme, s)| {
            let close = if header.ends_with('"') { "\"" } else { "" };
            format!("{header}{scheme}{s}{close}")
        });
    let bare_bearer = unquoted_secret().prop_map(|s| format!("sent Bearer {s} upstream"));
    // `{:#?}` of a struct whose field is `Some(secret)`.
    let pretty_debug = (key(), quoted_secret()).prop_map(|(k, s)| {
        format!(
            "login {{\n    {k}: Some(\n        \"{}\",\n    ),\n}}",
            escape(&s, '"')
        )
    });
    // Debug of a list of header pairs.
    let pair = (key(), quoted_secret())
        .prop_map(|(k, s)| format!("[(\"user\", \"ana\"), (\"{k}\", \"{}\")]", escape(&s, '"')));
    // URL-encoded JSON in a query string.
    let url_encoded_json = (key(), unquoted_secret()).prop_map(|(k, s)| {
        let s = s.replace('%', "");
        format!("q=%7B%22{k}%22%3A%22{s}%22%7D")
    });
    let byte_string = (key(), quoted_secret())
        .prop_map(|(k, s)| format!("login {{ {k}: b\"{}\" }}", escape(&s, '"')));
    let command_line =
        (key(), unquoted_secret()).prop_map(|(k, s)| format!("ran app --{k} {s} -v"));
    let jwt = prop::collection::vec("[A-Za-z0-9_-]{1,12}", 3)
        .prop_map(|parts| format!("sent eyJ{} upstream", parts.join(".")));
    let pem = prop::collection::vec(word(), 1..4).prop_map(|lines| {
        format!(
            "key: -----begin private key-----\n{}\n-----end private key-----",
            lines.join("\n")
        )
    });
    prop_oneof![
        keyed_unquoted,
        keyed_quoted,
        debug,
        escaped_json,
        query,
        url,
        cookie,
        authorization,
        bare_bearer,
        pretty_debug,
        pair,
        url_encoded_json,
        pem,
        byte_string,
        command_line,
        jwt,
    ]
}

/// Harmless words around a secret: lower case, no digits (see the file's doc).
fn filler() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "request failed",
            "user=ana",
            "retry later",
            "queue: full",
            "{\"id\": \"x\"}",
            "at /var/lib/app",
            "see https://example.com/a?b=c",
            "called `unwrap()` on an empty value",
            "mailto:ana@example.com",
        ]),
        0..3,
    )
    .prop_map(|words| words.join(" "))
}

/// Text without secrets: the filler's words and more, digits and capitals included.
fn clean_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "index out of bounds: the len is 3 but the index is 7",
            "user=ana",
            "n: 3",
            "{\"id\": 7, \"name\": \"Ana\"}",
            "https://example.com:8080/a/b?x=1&y=2",
            "called `Result::unwrap()` on an `Err` value: Io(NotFound)",
            "Some(\"value\")",
            "mailto:ana@example.com",
            "token::parse",
            "tokens left",
            "a=b; c=d",
            "'quoted', \"double\"",
            "đồng 100",
        ]),
        0..5,
    )
    .prop_map(|words| words.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_secret_in_any_shape_never_reaches_a_sink(
        before in filler(),
        secret in secret_in_a_shape(),
        joint in prop::sample::select(vec![" ", ", ", "\n", " | "]),
        after in filler(),
    ) {
        let message = format!("{before}{joint}{secret}{joint}{after}");
        let got = reported(&message);
        prop_assert_eq!(leaked(&got), "", "message {:?} reported as {:?}", message, got);
    }

    #[test]
    fn text_without_secrets_passes_unchanged(text in clean_text()) {
        prop_assert_eq!(reported(&text), text);
    }
}
