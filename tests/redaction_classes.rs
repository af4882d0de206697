//! The leak classes closed by a rule each, property-tested through every sink (the tracing
//! event, the OpenTelemetry span's `panic.recovered` and `exception` events and its status, the
//! error reporter): a key's value on a later line, an XML element named by a key, credentials
//! recognised by their form with no key, and keys disguised by zero-width or fullwidth
//! characters.
//!
//! As in `redaction_props.rs`, a secret's every word holds capitals or digits, and all else
//! (keys, filler) is lower case without digits: a capital or a digit left in what a sink got,
//! once the words mruntime or the shape put there are removed, is a piece of the secret.

use std::sync::Once;

use mruntime::{Alphabet, SecretPattern, SecretPatternError};
use mruntime_tests::sinks::every_sink;
use proptest::prelude::*;

/// The pieces of a secret left in `text`: capitals and digits outside `[REDACTED]` and the
/// `Some` and `<![CDATA[` the shapes wrote.
fn leaked(text: &str) -> String {
    text.replace("[REDACTED]", " ")
        .replace("Some(", " ")
        .replace("<![CDATA[", " ")
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect()
}

/// Panics unless no sink got a piece of the secret in `message`.
fn assert_no_sink_leaks(message: &str) -> Result<(), TestCaseError> {
    for (sink, got) in every_sink(message).iter() {
        prop_assert_eq!(leaked(got), "", "{} got {:?} for {:?}", sink, got, message);
    }
    Ok(())
}

/// A secret word: a capital or a digit first, so that any piece of it is caught.
fn word() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9a-z]{0,7}"
}

/// A value in one of the alphabets secrets are written in, in one of the ways values are
/// written: bare, quoted, in Debug's `Some(..)`.
fn value() -> impl Strategy<Value = String> {
    let unquoted = prop::collection::vec((word(), "[._~+=!$*:@/-]?"), 1..4)
        .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect());
    let base64 = "[A-Z0-9][A-Za-z0-9+/]{7,40}={0,2}";
    let hex = "[0-9A-F]{8,40}";
    let quoted = prop::collection::vec(word(), 1..4).prop_map(|w| format!("\"{}\"", w.join(" ")));
    let single = prop::collection::vec(word(), 1..3).prop_map(|w| format!("'{}'", w.join(" ")));
    let debug = word().prop_map(|w| format!("Some(\"{w}\")"));
    prop_oneof![
        unquoted,
        base64.prop_map(String::from),
        hex.prop_map(String::from),
        quoted,
        single,
        debug,
    ]
}

fn key() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "private_key",
        "credential",
        "signature",
        "session",
    ]);
    let affix = prop::sample::select(vec!["", "db_", "x-", "access_", "client_", "\""]);
    (affix, base).prop_map(|(a, b)| {
        if a == "\"" {
            format!("\"{b}\"")
        } else {
            format!("{a}{b}")
        }
    })
}

/// Lower-case text without digits around a secret.
fn filler() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "config dump failed",
        "user: ana",
        "retry later",
        "{\"id\": \"x\"}",
    ])
    .prop_map(String::from)
}

/// A key whose value is on a later line: `key:\n  value`, in YAML, pretty-printed configs and
/// multi-line error bodies; after blank lines, a line continuation (`key = \\`) or a YAML
/// block-scalar header (`key: |`, every line indented under the key being the value).
fn value_on_the_next_line() -> impl Strategy<Value = String> {
    (
        "[ ]{0,4}",
        key(),
        prop::sample::select(vec![":", "=", " =", " :", ": ", "=>", ":\t"]),
        prop::sample::select(vec!["", " \\", "\\", " |", " >", " |-", " >+", " |+", "|"]),
        prop::sample::select(vec!["\n", "\r\n"]),
        prop::sample::select(vec!["", "\n", " \t\n"]),
        "[ \t]{1,6}",
        prop::collection::vec(value(), 1..4),
    )
        .prop_map(
            |(key_indent, key, separator, header, line_break, blank, more, values)| {
                let blank = blank.replace('\n', line_break);
                // Only a block scalar's value runs over several lines.
                let lines = if header.contains(['|', '>']) {
                    values.len()
                } else {
                    1
                };
                let indent = format!("{line_break}{key_indent}{more}");
                let value = values[..lines].join(&indent);
                format!("{key_indent}{key}{separator}{header}{line_break}{blank}{key_indent}{more}{value}")
            },
        )
}

/// An XML element named by a key, the value its text: `<password>..</password>`, with a
/// namespace prefix and attributes as SOAP's WS-Security writes it, or in a CDATA section.
fn xml_element() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "wsse:", "soap-env:"]),
        key().prop_map(|k| k.trim_matches('"').to_owned()),
        prop::sample::select(vec!["", " type=\"text\"", "\n  kind='plain'"]),
        value(),
        any::<bool>(),
    )
        .prop_map(|(namespace, key, attributes, value, cdata)| {
            let text = if cdata {
                format!("<![CDATA[{value}]]>")
            } else {
                value
            };
            format!("<{namespace}{key}{attributes}>{text}</{namespace}{key}>")
        })
}

/// `key` with zero-width characters inserted and letters written fullwidth, at the positions
/// `marks` picks (0: as it is, 1: a zero-width character before it, 2: fullwidth).
fn disguise(key: &str, marks: &[u8], zero_width: char) -> String {
    let mut out = String::new();
    for (c, mark) in key.chars().zip(marks.iter().cycle()) {
        match mark % 3 {
            1 => {
                out.push(zero_width);
                out.push(c);
            }
            2 if c.is_ascii_graphic() => {
                out.push(char::from_u32(c as u32 + 0xfee0).expect("fullwidth"));
            }
            _ => out.push(c),
        }
    }
    out
}

fn zero_width() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}',
    ])
}

/// A key disguised by zero-width characters or fullwidth letters, then a separator (plain or
/// fullwidth) and a value.
fn disguised_key() -> impl Strategy<Value = String> {
    (
        key(),
        prop::collection::vec(0u8..3, 1..12),
        zero_width(),
        prop::sample::select(vec!["=", ": ", "＝", "：", " ＝ "]),
        value(),
    )
        .prop_map(|(key, marks, zw, separator, value)| {
            let key = disguise(&key, &marks, zw);
            format!("{key}{separator}{value}")
        })
}

/// A built-in or added form: its prefix, then a body of its alphabet and length.
fn credential() -> impl Strategy<Value = (String, String)> {
    let alnum = "[A-Za-z0-9]";
    let b64url = "[A-Za-z0-9_-]";
    let forms: Vec<(Vec<&'static str>, String)> = vec![
        (
            vec!["AKIA", "ASIA", "ABIA", "ACCA"],
            "[A-Z0-9]{16}".to_owned(),
        ),
        (
            vec!["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
            format!("{alnum}{{36,60}}"),
        ),
        (vec!["github_pat_"], "[A-Za-z0-9_]{40,90}".to_owned()),
        (
            vec!["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"],
            "[A-Za-z0-9-]{20,60}".to_owned(),
        ),
        (
            vec!["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
            format!("{alnum}{{16,99}}"),
        ),
        (vec!["AIza"], format!("{b64url}{{35}}")),
        (
            vec!["glpat-", "glptt-", "glrt-", "gldt-"],
            format!("{b64url}{{20,40}}"),
        ),
        (vec!["npm_"], format!("{alnum}{{36}}")),
        (vec!["sk-"], format!("{alnum}{{32,60}}")),
        (
            vec!["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-ant-"],
            format!("{b64url}{{32,160}}"),
        ),
        (vec!["hf_"], format!("{alnum}{{34,40}}")),
        (vec!["pypi-AgEIcHlwaS5vcmc"], format!("{b64url}{{50,80}}")),
        (
            vec!["SG."],
            "[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}".to_owned(),
        ),
        (
            vec!["shpat_", "shpca_", "shppa_", "shpss_"],
            "[0-9a-f]{32}".to_owned(),
        ),
        (
            vec!["dop_v1_", "doo_v1_", "dor_v1_"],
            "[0-9a-f]{64}".to_owned(),
        ),
        (vec!["dapi"], "[0-9a-f]{32}".to_owned()),
        // Added by `add_patterns`.
        (vec!["acme_live_"], format!("{alnum}{{24,32}}")),
        (vec!["whsec-"], "[A-Z2-7]{40,50}".to_owned()),
    ];
    prop::sample::select(forms).prop_flat_map(|(prefixes, body)| {
        (
            prop::sample::select(prefixes),
            prop::string::string_regex(&body).unwrap(),
        )
            .prop_map(|(prefix, body)| (prefix.to_owned(), body))
    })
}

/// Adds this file's own formats once (the first call in the process).
fn add_patterns() {
    static ADD: Once = Once::new();
    ADD.call_once(|| {
        mruntime::add_secret_patterns([
            SecretPattern::new("acme_live_").length(24..=32),
            SecretPattern::new("whsec-")
                .length(40..=50)
                .alphabet(Alphabet::of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
        ])
        .expect("valid patterns");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_value_on_the_next_line_reaches_no_sink(
        before in filler(),
        secret in value_on_the_next_line(),
        after in filler(),
    ) {
        assert_no_sink_leaks(&format!("{before}\n{secret}\n{after}"))?;
    }

    #[test]
    fn an_xml_element_named_by_a_key_reaches_no_sink(
        before in filler(),
        secret in xml_element(),
        after in filler(),
    ) {
        assert_no_sink_leaks(&format!("{before}<request>{secret}</request>{after}"))?;
    }

    #[test]
    fn a_credential_recognised_by_its_form_reaches_no_sink(
        (prefix, body) in credential(),
        before in prop::sample::select(vec!["", "upstream said ", "(", "\"", "with=", "url: https://x.io/?k=", "line\n"]),
        after in prop::sample::select(vec!["", " retry", ".", ",", ")", "\"", "\n"]),
    ) {
        add_patterns();
        let message = format!("{before}{prefix}{body}{after}");
        for (sink, got) in every_sink(&message).iter() {
            if sink == "span status" {
                continue;
            }
            prop_assert!(!got.contains(&body), "{} got {:?} for {:?}", sink, got, message);
            prop_assert!(got.contains(&format!("{prefix}[REDACTED]")), "{} got {:?}", sink, got);
        }
    }

    #[test]
    fn a_form_inside_a_word_is_not_a_credential(
        (prefix, body) in credential(),
        glued in "[a-z0-9_]",
    ) {
        add_patterns();
        let message = format!("build {glued}{prefix}{body} done");
        // The reporter's copy of a message with no key and no form at a boundary is unchanged.
        let texts = every_sink(&message);
        let (_, reported) = texts.iter().find(|(sink, _)| *sink == "reporter").unwrap();
        prop_assert_eq!(reported, message.as_str());
    }

    #[test]
    fn a_key_disguised_by_zero_width_or_fullwidth_characters_reaches_no_sink(
        before in filler(),
        secret in disguised_key(),
        after in filler(),
    ) {
        assert_no_sink_leaks(&format!("{before} {secret} {after}"))?;
    }

    #[test]
    fn disguising_characters_in_text_without_secrets_pass_unchanged(
        words in prop::collection::vec(
            (prop::sample::select(vec!["index", "queue", "full", "user", "ana", "Retry 3", "ｆｕｌｌ", "１２"]),
             prop::option::of(zero_width())),
            0..6,
        ),
    ) {
        let message: String = words
            .into_iter()
            .map(|(w, zw)| zw.map_or_else(|| format!("{w} "), |zw| format!("{w}{zw}x ")))
            .collect();
        let texts = every_sink(&message);
        let (_, reported) = texts.iter().find(|(sink, _)| *sink == "reporter").unwrap();
        prop_assert_eq!(reported, message.as_str());
    }
}

#[test]
fn invalid_patterns_are_an_error_and_none_of_the_call_is_added() {
    let (min, max) = (10, 5); // an end before the start, as a user's computed range may have
    let refused = mruntime::add_secret_patterns([
        SecretPattern::new("okprefix_").length(20..),
        SecretPattern::new("bad_").length(min..=max),
    ]);
    assert_eq!(
        refused,
        Err(SecretPatternError::EmptyLength {
            prefix: "bad_".to_owned(),
            min: 10,
            max: 5
        })
    );
    assert!(refused.unwrap_err().to_string().contains("bad_"));
    let message = format!("got okprefix_{}", "A1".repeat(12));
    for (sink, got) in every_sink(&message).iter() {
        if sink != "span status" {
            assert_eq!(
                got, message,
                "{sink}: the valid pattern was not added either"
            );
        }
    }
    for pattern in [
        SecretPattern::new(""),
        SecretPattern::new("p_").length(0..),
        SecretPattern::new("p_").alphabet(Alphabet::of("")),
    ] {
        assert!(mruntime::add_secret_patterns([pattern]).is_err());
    }
}
