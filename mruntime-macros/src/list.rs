//! What the two comma-separated `key = value` lists share: the macros' arguments (`args`) and
//! the settings of `restart(..)` (`restart`). The loop over elements that goes on after an
//! error, repeated keys, "needs a value" errors and typo suggestions are written once, here.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::Token;
use syn::parse::ParseStream;

use crate::errors::Errors;

/// How an element leaves the list.
pub(crate) enum Element {
    /// Read (its errors recorded); the next element may follow a comma.
    Done,
    /// The last element (`safe_go!`'s future): the list stops there.
    Last,
}

/// A list being read: how to read one element, and where its errors go.
pub(crate) trait List {
    /// Reads one element. Problems with a value are recorded and the element consumed; an `Err`
    /// means it could not be read at all (its tokens are then skipped).
    fn element(&mut self, input: ParseStream<'_>) -> syn::Result<Element>;

    fn errors(&mut self) -> &mut Errors;

    /// Tokens were skipped after an error.
    fn skipped(&mut self) {}
}

/// Reads every element of `list`, separated by commas (`between` names them in "expected `,`
/// between .."), going on after each error so that all are reported. Returns whether an
/// element ended the list early ([`Element::Last`]).
pub(crate) fn parse_list(list: &mut impl List, input: ParseStream<'_>, between: &str) -> bool {
    while !input.is_empty() {
        match list.element(input) {
            Ok(Element::Last) => return true,
            Ok(Element::Done) => {}
            Err(error) => {
                list.errors().push(error);
                list.skipped();
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            list.errors().push(syn::Error::new(
                error.span(),
                format!("expected `,` between {between}"),
            ));
            list.skipped();
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    false
}

/// The keys given so far in one list (also those whose value was invalid).
#[derive(Default)]
pub(crate) struct Seen {
    keys: Vec<&'static str>,
}

impl Seen {
    /// Records `key`; a repeat is an error at the second one (`place` says where: "" or
    /// " in `restart(..)`"), and gives false.
    pub(crate) fn first_time(
        &mut self,
        key: &'static str,
        span: Span,
        place: &str,
        errors: &mut Errors,
    ) -> bool {
        if self.contains(key) {
            errors.push(syn::Error::new(
                span,
                format!("`{key}` is given twice{place}; remove one"),
            ));
            return false;
        }
        self.keys.push(key);
        true
    }

    /// Counts `key` as given without checking for a repeat.
    pub(crate) fn insert(&mut self, key: &'static str) {
        self.keys.push(key);
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.keys.contains(&key)
    }
}

/// `= value`: the value's tokens, up to the next top-level comma. Without `=` (the rest of the
/// element skipped) or without a value, the error says so and shows `example`.
pub(crate) fn value_tokens(
    input: ParseStream<'_>,
    key: &str,
    key_span: Span,
    example: &str,
) -> syn::Result<TokenStream> {
    let Ok(eq) = input.parse::<Token![=]>() else {
        skip_to_comma(input);
        return Err(needs_value(key, key_span, example));
    };
    let tokens = collect_to_comma(input);
    if tokens.is_empty() {
        return Err(needs_value_after_eq(key, eq.span, example));
    }
    Ok(tokens)
}

/// "`key` needs a value, e.g. `example`", at the key.
pub(crate) fn needs_value(key: &str, key_span: Span, example: &str) -> syn::Error {
    syn::Error::new(key_span, format!("`{key}` needs a value, e.g. `{example}`"))
}

/// "`key` needs a value after `=`, e.g. `example`", at the `=`.
pub(crate) fn needs_value_after_eq(key: &str, eq_span: Span, example: &str) -> syn::Error {
    syn::Error::new(
        eq_span,
        format!("`{key}` needs a value after `=`, e.g. `{example}`"),
    )
}

/// Errors with "expected `,`" if tokens are left after a value.
pub(crate) fn expect_end(input: ParseStream<'_>) -> syn::Result<()> {
    if input.is_empty() {
        Ok(())
    } else {
        Err(input.error("expected `,` after the value"))
    }
}

/// Whether the token at the cursor is the last one.
pub(crate) fn is_last_token(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    let _ = fork.parse::<TokenTree>();
    fork.is_empty()
}

/// Consumes the tokens up to (not including) the next top-level comma.
pub(crate) fn collect_to_comma(input: ParseStream<'_>) -> TokenStream {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        match input.parse::<TokenTree>() {
            Ok(tree) => tokens.extend([tree]),
            Err(_) => break,
        }
    }
    tokens
}

pub(crate) fn skip_to_comma(input: ParseStream<'_>) {
    let _ = collect_to_comma(input);
}

/// The candidate closest to `written`, if it is close enough to be a typo.
pub(crate) fn did_you_mean(written: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let written = written.to_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            (
                edit_distance(&written, &candidate.to_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance counting a swap of two neighbours as one edit (`nmae` -> `name`), for typo
/// suggestions on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggestions() {
        assert_eq!(did_you_mean("nmae", &["component", "name"]), Some("name"));
        assert_eq!(
            did_you_mean("colour", &["component", "name", "policy"]),
            None
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nmae", "name"), 1);
    }
}
