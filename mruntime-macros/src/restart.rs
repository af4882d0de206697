//! `restart(max = 5, within = "60s", backoff = "100ms..10s")`: the restart policy of
//! `#[safe_task]` and `safe_go!`, read at compile time into milliseconds, with its duration
//! literals.
//!
//! ```text
//! restart  := "restart" | "restart" "(" [setting ("," setting)* [","]] ")"
//! setting  := "max" "=" INTEGER | "within" "=" "\"" duration "\"" | "backoff" "=" "\"" range "\""
//! duration := DIGITS unit              "250ms", "30s", "5m", "1h"
//! unit     := "ms" | "s" | "m" | "h"
//! range    := duration ".." duration   "100ms..10s" (first <= second)
//! ```
//!
//! Every setting is optional (defaults: `max = 5`, `within = "60s"`, `backoff = "100ms..10s"`);
//! `within` must be at least 1ms. Like the argument list, the settings are
//! read one by one and every error is kept.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseBuffer, ParseStream, Parser};
use syn::{Expr, Ident, Lit, LitInt, LitStr, Token, UnOp};

use crate::errors::Errors;
use crate::list::{
    Element, List, Seen, collect_to_comma, did_you_mean, expect_end, parse_list, value_tokens,
};
use crate::model::Restart;

/// The keywords of `restart(..)`.
pub(crate) mod kw {
    syn::custom_keyword!(max);
    syn::custom_keyword!(within);
    syn::custom_keyword!(backoff);
}

const SETTINGS: &[&str] = &["max", "within", "backoff"];

/// The accepted forms, appended to every duration error.
const ACCEPTED: &str = "a duration is a whole number and a unit (`ms`, `s`, `m` or `h`) without \
                        spaces, e.g. \"250ms\", \"30s\", \"5m\", \"1h\"";

const EXAMPLE: &str = "restart(max = 5, within = \"60s\", backoff = \"100ms..10s\")";

/// Reads what follows the `restart` keyword (at `span`): `(settings)`, or nothing (every
/// default). Errors are recorded in `errors`; the policy returned then holds defaults for the
/// settings that were wrong.
pub(crate) fn parse(input: ParseStream<'_>, span: Span, errors: &mut Errors) -> Restart {
    let mut restart = Restart::defaults(span);
    if input.peek(syn::token::Paren) {
        match parenthesized(input) {
            Ok(content) => {
                let mut settings = Settings {
                    restart: &mut restart,
                    errors,
                    seen: Seen::default(),
                };
                parse_list(&mut settings, &content, "the settings of `restart(..)`");
            }
            Err(error) => errors.push(error),
        }
    } else if input.peek(Token![=]) {
        let eq = input.parse::<Token![=]>().ok();
        let value = collect_to_comma(input);
        errors.push(syn::Error::new_spanned(
            quote::quote!(#eq #value),
            format!("`restart` takes its settings in parentheses, not `=`: `{EXAMPLE}`"),
        ));
    }
    restart
}

fn parenthesized(input: ParseStream<'_>) -> syn::Result<ParseBuffer<'_>> {
    let content;
    syn::parenthesized!(content in input);
    Ok(content)
}

struct Settings<'a> {
    restart: &'a mut Restart,
    errors: &'a mut Errors,
    seen: Seen,
}

impl List for Settings<'_> {
    fn element(&mut self, input: ParseStream<'_>) -> syn::Result<Element> {
        self.parse_setting(input).map(|()| Element::Done)
    }

    fn errors(&mut self) -> &mut Errors {
        self.errors
    }
}

impl Settings<'_> {
    fn parse_setting(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::max) {
            let key: kw::max = input.parse()?;
            let value = self.value(input, "max", key.span, "max = 5");
            let max = value.and_then(|tokens| self.errors.ok(max_value(tokens)));
            if let (true, Some(max)) = (self.first_time("max", key.span), max) {
                self.restart.max = max;
            }
        } else if lookahead.peek(kw::within) {
            let key: kw::within = input.parse()?;
            let value = self.value(input, "within", key.span, "within = \"60s\"");
            let within = value.and_then(|tokens| self.errors.ok(within_value(tokens)));
            if let (true, Some(within)) = (self.first_time("within", key.span), within) {
                self.restart.within_ms = within;
            }
        } else if lookahead.peek(kw::backoff) {
            let key: kw::backoff = input.parse()?;
            let value = self.value(input, "backoff", key.span, "backoff = \"100ms..10s\"");
            let backoff = value.and_then(|tokens| self.errors.ok(backoff_value(tokens)));
            if let (true, Some((first, second))) = (self.first_time("backoff", key.span), backoff) {
                self.restart.first_ms = first;
                self.restart.second_ms = second;
            }
        } else if input.peek(Ident::peek_any) {
            let key = input.call(Ident::parse_any)?;
            let _value = collect_to_comma(input);
            let written = key.unraw().to_string();
            let hint = match setting_meant(&written) {
                Some(suggestion) => format!(" (did you mean `{suggestion}`?)"),
                None => String::new(),
            };
            self.errors.push(syn::Error::new(
                key.span(),
                format!(
                    "unknown setting `{written}` in `restart(..)`{hint}; valid settings: `max`, \
                     `within`, `backoff`, e.g. `{EXAMPLE}`"
                ),
            ));
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }

    /// `= value`: the value's tokens, `None` (error recorded) when there is none.
    fn value(
        &mut self,
        input: ParseStream<'_>,
        key: &str,
        key_span: Span,
        example: &str,
    ) -> Option<TokenStream> {
        self.errors.ok(value_tokens(input, key, key_span, example))
    }

    /// Records `key`; a repeat is an error at the second one (returns false).
    fn first_time(&mut self, key: &'static str, span: Span) -> bool {
        self.seen
            .first_time(key, span, " in `restart(..)`", self.errors)
    }
}

/// The setting a misspelt or differently named one most likely means (`max_restarts`, `window`,
/// `delay`).
fn setting_meant(written: &str) -> Option<&'static str> {
    let folded = written.to_lowercase();
    if ["restart", "retr", "intensity", "limit", "count", "attempt"]
        .iter()
        .any(|word| folded.contains(word))
    {
        Some("max")
    } else if ["window", "period", "interval", "reset"]
        .iter()
        .any(|word| folded.contains(word))
    {
        Some("within")
    } else if ["delay", "backof", "sleep", "wait"]
        .iter()
        .any(|word| folded.contains(word))
    {
        Some("backoff")
    } else {
        did_you_mean(written, SETTINGS)
    }
}

/// `max = 5`: a whole number of restarts.
fn max_value(tokens: TokenStream) -> syn::Result<u32> {
    let parser = |input: ParseStream<'_>| {
        let expr: Expr = input.parse()?;
        expect_end(input)?;
        let message = "`max` is the number of restarts allowed within `within`: a whole number \
                       such as `max = 5` (`max = 0` never restarts)";
        match &expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Int(int) => max_int(int),
                Lit::Str(s) if s.value().trim().parse::<u32>().is_ok() => Err(syn::Error::new(
                    s.span(),
                    format!(
                        "`max` is a number, not a string: write `max = {}`",
                        s.value().trim()
                    ),
                )),
                _ => Err(syn::Error::new_spanned(&expr, message)),
            },
            Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => Err(syn::Error::new_spanned(
                &expr,
                "`max` cannot be negative: it counts restarts (`max = 0` never restarts)",
            )),
            _ => Err(syn::Error::new_spanned(&expr, message)),
        }
    };
    parser.parse2(tokens)
}

fn max_int(int: &LitInt) -> syn::Result<u32> {
    if !matches!(int.suffix(), "" | "u32") {
        return Err(syn::Error::new(
            int.span(),
            format!("`max` is a `u32`: write `max = {}`", int.base10_digits()),
        ));
    }
    int.base10_parse::<u32>().map_err(|_| {
        syn::Error::new(
            int.span(),
            format!("`max` is a `u32`: at most {}", u32::MAX),
        )
    })
}

/// `within = "60s"`: the intensity window, at least 1ms.
fn within_value(tokens: TokenStream) -> syn::Result<u64> {
    let lit = string_value(tokens, "within", "60s")?;
    let ms = duration_ms(&lit.value())
        .map_err(|why| syn::Error::new(lit.span(), format!("invalid `within`: {why}")))?;
    if ms == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "`within` must be at least 1ms: it is the window in which restarts are counted, and \
             how long a run must last to reset the backoff, e.g. `within = \"60s\"`",
        ));
    }
    Ok(ms)
}

/// `backoff = "100ms..10s"`: the first and second bounds, first <= second.
fn backoff_value(tokens: TokenStream) -> syn::Result<(u64, u64)> {
    let lit = string_value(tokens, "backoff", "100ms..10s")?;
    let text = lit.value();
    let error = |why: String| syn::Error::new(lit.span(), format!("invalid `backoff`: {why}"));
    let Some((first, second)) = text.split_once("..") else {
        let hint = match duration_ms(&text) {
            Ok(_) => format!(
                "; for a fixed delay give it twice: \"{0}..{0}\"",
                text.trim()
            ),
            Err(_) => String::new(),
        };
        return Err(error(format!(
            "expected a range \"first..second\", e.g. \"100ms..10s\"{hint}"
        )));
    };
    if let Some(second) = second.strip_prefix('=') {
        return Err(error(format!(
            "write \"{first}..{second}\": both bounds are inclusive, without `..=`"
        )));
    }
    let bound = |which: &str, text: &str| {
        duration_ms(text).map_err(|why| error(format!("its {which} bound: {why}")))
    };
    let (first_ms, second_ms) = match (bound("first", first), bound("second", second)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(error), _) | (_, Err(error)) => return Err(error),
    };
    if first_ms > second_ms {
        return Err(error(format!(
            "the first bound ({first}) exceeds the second ({second}): the delay grows from the \
             first to the second, so write \"{second}..{first}\""
        )));
    }
    Ok((first_ms, second_ms))
}

/// A string value, or an error showing `key = "example"`.
fn string_value(tokens: TokenStream, key: &str, example: &str) -> syn::Result<LitStr> {
    let parser = |input: ParseStream<'_>| {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            expect_end(input)?;
            return Ok(lit);
        }
        let rest: TokenStream = input.parse()?;
        let fix = match syn::parse2::<LitInt>(rest.clone()) {
            // `within = 60`: a number without a unit.
            Ok(int) if int.suffix().is_empty() => {
                format!("write `{key} = \"{}s\"` (or \"{}ms\")", int, int)
            }
            _ => format!("e.g. `{key} = \"{example}\"`"),
        };
        Err(syn::Error::new_spanned(
            rest,
            format!("`{key}` is a string literal: {fix}; {ACCEPTED}"),
        ))
    };
    parser.parse2(tokens)
}

/// Milliseconds in a duration literal (`"250ms"`, `"30s"`, `"5m"`, `"1h"`), or what is wrong
/// with it (with the fix when there is an evident one, then the accepted forms).
pub(crate) fn duration_ms(text: &str) -> Result<u64, String> {
    let explain = |what: String| format!("{what}; {ACCEPTED}");
    if text.trim().is_empty() {
        return Err(explain("the duration is empty".to_owned()));
    }
    if text.chars().any(char::is_whitespace) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let fix = match duration_ms(&compact) {
            Ok(_) => format!(": write \"{compact}\""),
            Err(_) => String::new(),
        };
        return Err(explain(format!("\"{text}\" contains spaces{fix}")));
    }
    if text.starts_with('-') {
        return Err(explain(format!("\"{text}\" is negative")));
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err(explain(format!("\"{text}\" does not start with a number")));
    }
    if let Some(rest) = unit.strip_prefix('.') {
        return Err(explain(fraction(text, number, rest)));
    }
    let Some(per_unit) = unit_ms(unit) else {
        return Err(explain(unknown_unit(text, number, unit)));
    };
    let too_long = || explain(format!("\"{text}\" is too long (at most {} ms)", u64::MAX));
    let count: u64 = number.parse().map_err(|_| too_long())?;
    count.checked_mul(per_unit).ok_or_else(too_long)
}

fn unit_ms(unit: &str) -> Option<u64> {
    match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    }
}

/// `"1.5s"`: the same duration in a smaller unit, when it is a whole number of milliseconds.
fn fraction(text: &str, whole: &str, rest: &str) -> String {
    let decimals_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (decimals, unit) = rest.split_at(decimals_end);
    let exact = unit_ms(unit).and_then(|per_unit| {
        let scale = 10u64.checked_pow(u32::try_from(decimals.len()).ok()?)?;
        let value: u64 = format!("{whole}{decimals}").parse().ok()?;
        let scaled = value.checked_mul(per_unit)?;
        (scaled % scale == 0).then(|| scaled / scale)
    });
    match exact {
        Some(ms) => format!(
            "\"{text}\" has a fraction: write \"{}\"",
            in_largest_unit(ms)
        ),
        None => format!("\"{text}\" has a fraction, and the resolution is 1ms"),
    }
}

/// `60000` ms -> `"1m"`, `1500` -> `"1500ms"`.
fn in_largest_unit(ms: u64) -> String {
    for (unit, per_unit) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms.is_multiple_of(per_unit) {
            return format!("{}{unit}", ms / per_unit);
        }
    }
    format!("{ms}ms")
}

/// `"30"`, `"30sec"`, `"2d"`, `"10us"`: the unit the user meant, if evident.
fn unknown_unit(text: &str, number: &str, unit: &str) -> String {
    let meant = match unit.to_lowercase().as_str() {
        "" => {
            return format!("\"{text}\" has no unit: write \"{number}s\" or \"{number}ms\"");
        }
        "ms" | "msec" | "msecs" | "milli" | "millis" | "millisecond" | "milliseconds" => "ms",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => {
            let hours = number
                .parse::<u64>()
                .ok()
                .and_then(|days| days.checked_mul(24));
            return match hours {
                Some(hours) => format!("\"{text}\": days are not a unit here, write \"{hours}h\""),
                None => format!("\"{text}\": days are not a unit here"),
            };
        }
        "us" | "µs" | "μs" | "ns" | "micros" | "nanos" => {
            return format!("\"{text}\": the resolution is 1ms, the smallest unit `ms`");
        }
        _ => return format!("\"{text}\" has an unknown unit `{unit}`"),
    };
    format!("\"{text}\": write \"{number}{meant}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_restart(tokens: TokenStream) -> (Restart, Vec<String>) {
        let mut errors = Errors::default();
        let mut restart = None;
        let parser = |input: ParseStream<'_>| {
            let key: syn::Ident = input.parse()?;
            restart = Some(parse(input, key.span(), &mut errors));
            Ok(())
        };
        parser.parse2(tokens).unwrap();
        let messages = match errors.finish(()) {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (restart.unwrap(), messages)
    }

    fn millis(restart: Restart) -> (u32, u64, u64, u64) {
        (
            restart.max,
            restart.within_ms,
            restart.first_ms,
            restart.second_ms,
        )
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("250ms"), Ok(250));
        assert_eq!(duration_ms("30s"), Ok(30_000));
        assert_eq!(duration_ms("5m"), Ok(300_000));
        assert_eq!(duration_ms("1h"), Ok(3_600_000));
        assert_eq!(duration_ms("0ms"), Ok(0));
        assert_eq!(duration_ms("007s"), Ok(7_000));
        assert_eq!(
            duration_ms("18446744073709551615ms"),
            Ok(u64::MAX),
            "the largest"
        );
    }

    #[test]
    fn malformed_durations_say_what_to_write() {
        let error = |text: &str| {
            let message = duration_ms(text).unwrap_err();
            assert!(message.ends_with(ACCEPTED), "{message}");
            message[..message.len() - ACCEPTED.len() - 2].to_owned()
        };
        assert_eq!(error("1.5s"), "\"1.5s\" has a fraction: write \"1500ms\"");
        assert_eq!(error("0.5m"), "\"0.5m\" has a fraction: write \"30s\"");
        assert_eq!(
            error("1.0005s"),
            "\"1.0005s\" has a fraction, and the resolution is 1ms"
        );
        assert_eq!(error("30 s"), "\"30 s\" contains spaces: write \"30s\"");
        assert_eq!(error("30"), "\"30\" has no unit: write \"30s\" or \"30ms\"");
        assert_eq!(error("30sec"), "\"30sec\": write \"30s\"");
        assert_eq!(error("5MIN"), "\"5MIN\": write \"5m\"");
        assert_eq!(
            error("2d"),
            "\"2d\": days are not a unit here, write \"48h\""
        );
        assert_eq!(
            error("10us"),
            "\"10us\": the resolution is 1ms, the smallest unit `ms`"
        );
        assert_eq!(error("5x"), "\"5x\" has an unknown unit `x`");
        assert_eq!(error("s"), "\"s\" does not start with a number");
        assert_eq!(error("-1s"), "\"-1s\" is negative");
        assert_eq!(error(""), "the duration is empty");
        assert_eq!(
            error("18446744073709551615s"),
            format!(
                "\"18446744073709551615s\" is too long (at most {} ms)",
                u64::MAX
            )
        );
        assert_eq!(
            error("99999999999999999999ms"),
            format!(
                "\"99999999999999999999ms\" is too long (at most {} ms)",
                u64::MAX
            )
        );
    }

    #[test]
    fn settings_and_defaults() {
        let (restart, errors) = parse_restart(quote!(restart(
            max = 3,
            within = "10s",
            backoff = "50ms..2s"
        )));
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(millis(restart), (3, 10_000, 50, 2_000));

        for tokens in [quote!(restart), quote!(restart())] {
            let (restart, errors) = parse_restart(tokens);
            assert_eq!(errors, Vec::<String>::new());
            assert_eq!(millis(restart), (5, 60_000, 100, 10_000));
        }

        let (restart, errors) = parse_restart(quote!(restart(backoff = "1s..1s", max = 0u32,)));
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(millis(restart), (0, 60_000, 1_000, 1_000));
    }

    #[test]
    fn every_setting_error_is_reported() {
        let (_, errors) = parse_restart(quote!(restart(
            max = "5",
            max = 6,
            within = 60,
            backoff = "10s..100ms",
            maxx = 3
        )));
        assert_eq!(
            errors[..3],
            [
                "`max` is a number, not a string: write `max = 5`",
                "`max` is given twice in `restart(..)`; remove one",
                &format!(
                    "`within` is a string literal: write `within = \"60s\"` (or \"60ms\"); {ACCEPTED}"
                ),
            ]
        );
        assert_eq!(
            errors[3],
            "invalid `backoff`: the first bound (10s) exceeds the second (100ms): the delay grows \
             from the first to the second, so write \"100ms..10s\""
        );
        assert!(
            errors[4].starts_with(
                "unknown setting `maxx` in `restart(..)` (did you mean `max`?); valid settings"
            ),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 5);
    }

    #[test]
    fn settings_named_otherwise() {
        assert_eq!(setting_meant("max_restarts"), Some("max"));
        assert_eq!(setting_meant("retries"), Some("max"));
        assert_eq!(setting_meant("window"), Some("within"));
        assert_eq!(setting_meant("delay"), Some("backoff"));
        assert_eq!(setting_meant("backof"), Some("backoff"));
        assert_eq!(setting_meant("witin"), Some("within"));
        assert_eq!(setting_meant("colour"), None);
    }

    #[test]
    fn value_errors() {
        let first_error = |tokens| parse_restart(tokens).1.remove(0);
        assert_eq!(
            first_error(quote!(restart(within = "0s"))),
            "`within` must be at least 1ms: it is the window in which restarts are counted, and \
             how long a run must last to reset the backoff, e.g. `within = \"60s\"`"
        );
        assert!(first_error(quote!(restart(max = -1))).starts_with("`max` cannot be negative"),);
        assert!(first_error(quote!(restart(max = 5i64))).starts_with("`max` is a `u32`"));
        assert!(first_error(quote!(restart(max = 99999999999))).starts_with("`max` is a `u32`"));
        assert!(first_error(quote!(restart(max))).starts_with("`max` needs a value"));
        assert!(first_error(quote!(restart(max =))).starts_with("`max` needs a value after `=`"));
        assert!(
            first_error(quote!(restart(backoff = "1s")))
                .ends_with("for a fixed delay give it twice: \"1s..1s\""),
        );
        assert_eq!(
            first_error(quote!(restart(backoff = "1s..=5s"))),
            "invalid `backoff`: write \"1s..5s\": both bounds are inclusive, without `..=`"
        );
        assert!(
            first_error(quote!(restart(backoff = "1s..5 s")))
                .starts_with("invalid `backoff`: its second bound: \"5 s\" contains spaces"),
        );
        assert!(
            first_error(quote!(restart = "5"))
                .starts_with("`restart` takes its settings in parentheses")
        );
        assert!(first_error(quote!(restart(within = "60s" max = 1))).starts_with("expected `,`"));
    }
}
