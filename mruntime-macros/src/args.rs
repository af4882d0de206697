//! Parsing the arguments of `#[recover(..)]`, `#[safe_task(..)]` and `safe_go!(..)` into
//! [`Args`], keeping the tokens of every value for error spans.
//!
//! The list is split at top-level commas and every element is parsed on its own, so one bad
//! element does not hide the errors of the others: all of them are collected in [`Errors`].

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, LitStr, Path, Token};

use crate::errors::Errors;
use crate::list::{
    Element, List, Seen, collect_to_comma, did_you_mean, expect_end, is_last_token, needs_value,
    needs_value_after_eq, parse_list, skip_to_comma, value_tokens,
};
use crate::model::{Label, MacroKind, Policy, Restart};
use crate::restart;
use crate::snippet::snippet;

/// The keywords of the argument lists.
pub(crate) mod kw {
    syn::custom_keyword!(component);
    syn::custom_keyword!(name);
    syn::custom_keyword!(policy);
    syn::custom_keyword!(on_panic);
    syn::custom_keyword!(allow_raw_spawn);
    syn::custom_keyword!(restart);
    syn::custom_keyword!(group);
    syn::custom_keyword!(context);
    syn::custom_keyword!(health);
}

/// What the arguments of each macro may be.
impl MacroKind {
    fn keys(self) -> &'static [&'static str] {
        match self {
            MacroKind::Recover => &["component", "name", "policy", "on_panic", "allow_raw_spawn"],
            MacroKind::SafeTask => &[
                "component",
                "name",
                "policy",
                "restart",
                "group",
                "health",
                "allow_raw_spawn",
            ],
            MacroKind::SafeGo => &["component", "name", "policy", "restart", "group", "context"],
        }
    }

    fn valid_keys(self) -> String {
        let keys: Vec<String> = self.keys().iter().map(|key| format!("`{key}`")).collect();
        keys.join(", ")
    }

    fn example(self) -> &'static str {
        match self {
            MacroKind::Recover => "#[recover(component = \"payments\")]",
            MacroKind::SafeTask => "#[safe_task(component = \"payments\")]",
            MacroKind::SafeGo => {
                "safe_go!(component = \"notification\", name = \"email-sender\", async move { .. })"
            }
        }
    }

    fn allows(self, key: &str) -> bool {
        self.keys().contains(&key)
    }
}

/// A policy as written: the value, and the path that named it.
pub(crate) struct PolicyArg {
    pub(crate) policy: Policy,
    pub(crate) path: Path,
}

/// `on_panic = path::to_fn`.
pub(crate) struct OnPanic {
    pub(crate) key: kw::on_panic,
    pub(crate) handler: Expr,
}

/// The arguments of one macro invocation, each with the tokens it was written as.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) component: Option<Label>,
    pub(crate) name: Option<Label>,
    pub(crate) policy: Option<PolicyArg>,
    pub(crate) on_panic: Option<OnPanic>,
    pub(crate) allow_raw_spawn: Option<kw::allow_raw_spawn>,
    /// `restart(..)`: `#[safe_task]` and `safe_go!`.
    pub(crate) restart: Option<Restart>,
    /// `group = expr`: `#[safe_task]` and `safe_go!`.
    pub(crate) group: Option<Expr>,
    /// `health`: `#[safe_task]` only (the task is a health component).
    pub(crate) health: Option<kw::health>,
    /// `context = expr`: `safe_go!` only (a `#[safe_task]` takes it as an argument).
    pub(crate) context: Option<Expr>,
    /// `safe_go!` only: the future (or the closure), its last argument.
    pub(crate) future: Option<Expr>,
}

impl Args {
    /// The policy given, or the default `KeepRunning`.
    pub(crate) fn policy(&self) -> Policy {
        self.policy
            .as_ref()
            .map(|arg| arg.policy)
            .unwrap_or_default()
    }
}

/// Parses the arguments of `kind`. Always gives the arguments it could read, together with
/// every error found.
pub(crate) fn parse(kind: MacroKind, tokens: TokenStream) -> (Args, Errors) {
    let mut list = ArgList {
        kind,
        args: Args::default(),
        errors: Errors::default(),
        seen: Seen::default(),
        suggested: Vec::new(),
        positional: 0,
        keyed: false,
        malformed: false,
    };
    let parser = |input: ParseStream<'_>| {
        list.parse_all(input);
        Ok(())
    };
    if let Err(error) = parser.parse2(tokens) {
        list.errors.push(error);
    }
    list.require_keys();
    (list.args, list.errors)
}

/// The state of parsing one argument list.
struct ArgList {
    kind: MacroKind,
    args: Args,
    errors: Errors,
    /// Keys given so far (also when their value was invalid), to reject repeats.
    seen: Seen,
    /// Keys suggested for a misspelt key: not reported missing as well.
    suggested: Vec<&'static str>,
    positional: usize,
    keyed: bool,
    /// Tokens were skipped: later "missing" errors would be noise.
    malformed: bool,
}

impl List for ArgList {
    fn element(&mut self, input: ParseStream<'_>) -> syn::Result<Element> {
        self.parse_element(input)
    }

    fn errors(&mut self) -> &mut Errors {
        &mut self.errors
    }

    fn skipped(&mut self) {
        self.malformed = true;
    }
}

impl ArgList {
    fn parse_all(&mut self, input: ParseStream<'_>) {
        // `safe_go!`'s future ends the list: nothing may follow it.
        if parse_list(self, input, "arguments") {
            self.after_future(input);
        }
    }

    /// Parses one element (see [`List::element`]).
    fn parse_element(&mut self, input: ParseStream<'_>) -> syn::Result<Element> {
        if input.peek(LitStr) && self.is_positional(input) {
            let lit: LitStr = input.parse()?;
            self.positional(lit);
            return Ok(Element::Done);
        }
        let is_key =
            input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==]);
        let is_flag =
            input.peek(Ident::peek_any) && (input.peek2(Token![,]) || is_last_token(input));
        let is_call = input.peek(Ident::peek_any) && input.peek2(syn::token::Paren);
        if self.kind == MacroKind::SafeGo && input.peek(kw::health) && input.peek2(Token![,]) {
            // A bare `health` before the future is the flag of #[safe_task], not a future.
            let key: kw::health = input.parse()?;
            self.keyed = true;
            self.errors.push(syn::Error::new(
                key.span,
                "safe_go! has no `health`: a one-shot task is never a health component; for a \
                 long-running task, give it `restart(..)` (every supervised task is one) or use \
                 `#[safe_task(.., health)]` / `Task::new(..).health()`",
            ));
            return Ok(Element::Done);
        }
        if self.kind == MacroKind::SafeGo && !is_key && !is_restart_key(input) {
            self.args.future = Some(input.parse()?);
            return Ok(Element::Last);
        }

        let lookahead = input.lookahead1();
        if lookahead.peek(kw::component) {
            let key: kw::component = input.parse()?;
            let value = self.string_value(input, "component", key.span);
            if self.check_repeat("component", key.span) {
                self.args.component = value;
            }
        } else if lookahead.peek(kw::name) {
            let key: kw::name = input.parse()?;
            let value = self.string_value(input, "name", key.span);
            if self.check_repeat("name", key.span) {
                self.args.name = value;
            }
        } else if lookahead.peek(kw::policy) {
            let key: kw::policy = input.parse()?;
            self.keyed = true;
            let value = value_tokens(input, "policy", key.span, "policy = CrashProcess")
                .and_then(policy_value);
            if self.check_repeat("policy", key.span) {
                self.args.policy = self.errors.ok(value);
            }
        } else if self.kind.allows("on_panic") && lookahead.peek(kw::on_panic) {
            let key: kw::on_panic = input.parse()?;
            self.keyed = true;
            let value = value_tokens(input, "on_panic", key.span, "on_panic = fallback")
                .and_then(on_panic_value);
            if self.check_repeat("on_panic", key.span) {
                self.args.on_panic = self
                    .errors
                    .ok(value)
                    .map(|handler| OnPanic { key, handler });
            }
        } else if self.kind.allows("allow_raw_spawn") && lookahead.peek(kw::allow_raw_spawn) {
            let key: kw::allow_raw_spawn = input.parse()?;
            if self.flag(input, "allow_raw_spawn", key.span)? {
                self.args.allow_raw_spawn = Some(key);
            }
        } else if self.kind.allows("health") && lookahead.peek(kw::health) {
            let key: kw::health = input.parse()?;
            if self.flag(input, "health", key.span)? {
                self.args.health = Some(key);
            }
        } else if self.kind.allows("restart") && lookahead.peek(kw::restart) {
            let key: kw::restart = input.parse()?;
            self.keyed = true;
            let value = restart::parse(input, key.span, &mut self.errors);
            if self.check_repeat("restart", key.span) {
                self.args.restart = Some(value);
            }
        } else if self.kind.allows("group") && lookahead.peek(kw::group) {
            let key = input.call(Ident::parse_any)?;
            let value = self.expr_value(input, &key, "group = workers");
            if self.check_repeat("group", key.span()) {
                self.args.group = value;
            }
        } else if self.kind.allows("context") && lookahead.peek(kw::context) {
            let key = input.call(Ident::parse_any)?;
            let value = self.expr_value(input, &key, "context = parent_ctx");
            if self.check_repeat("context", key.span()) {
                self.args.context = value;
            }
        } else if is_key || is_flag || is_call {
            let key = input.call(Ident::parse_any)?;
            let _value = collect_to_comma(input);
            let error = self.unknown_key(&key, is_key);
            self.errors.push(error);
        } else {
            return Err(lookahead.error());
        }
        Ok(Element::Done)
    }

    /// Whether the string literal at the cursor is a positional component or name rather than
    /// (for `safe_go!`) the future.
    fn is_positional(&self, input: ParseStream<'_>) -> bool {
        match self.kind {
            MacroKind::SafeGo => {
                // A string followed by more arguments cannot be the future (it comes last).
                let fork = input.fork();
                let more_follow = fork.parse::<LitStr>().is_ok()
                    && fork.parse::<Token![,]>().is_ok()
                    && !fork.is_empty();
                let ends_the_list = fork.is_empty();
                more_follow || (ends_the_list && !self.keyed && self.positional < 2)
            }
            MacroKind::Recover | MacroKind::SafeTask => true,
        }
    }

    fn positional(&mut self, lit: LitStr) {
        if self.positional == 2 {
            self.errors.push(syn::Error::new(
                lit.span(),
                "at most two positional strings (the component, then the name) are accepted; \
                 write the others as `key = value`",
            ));
            return;
        }
        self.positional += 1;
        if self.keyed {
            // Misplaced: say which key it would be, and count it as given.
            let message = match ["component", "name"]
                .into_iter()
                .find(|k| !self.seen.contains(k))
            {
                Some(slot) => {
                    self.seen.insert(slot);
                    format!(
                        "positional strings must come before any `key = value`; write `{slot} = {}`",
                        lit.to_token_stream()
                    )
                }
                None => "unexpected string: `component` and `name` are already given".to_owned(),
            };
            self.errors.push(syn::Error::new(lit.span(), message));
            return;
        }
        let slot = if self.positional == 1 {
            "component"
        } else {
            "name"
        };
        let value = self.check_string(slot, lit.clone()).map(label_text);
        if self.check_repeat(slot, lit.span()) {
            match slot {
                "component" => self.args.component = value,
                _ => self.args.name = value,
            }
        }
    }

    /// Reads a `key = expr` value (any expression, up to the next top-level comma).
    fn expr_value(&mut self, input: ParseStream<'_>, key: &Ident, example: &str) -> Option<Expr> {
        self.keyed = true;
        let key_name = key.unraw().to_string();
        let Ok(eq) = input.parse::<Token![=]>() else {
            skip_to_comma(input);
            self.errors
                .push(needs_value(&key_name, key.span(), example));
            return None;
        };
        if input.is_empty() || input.peek(Token![,]) {
            self.errors
                .push(needs_value_after_eq(&key_name, eq.span, example));
            return None;
        }
        if input.peek(LitStr) {
            let lit: LitStr = input.parse().ok()?;
            let what = if key_name == "group" {
                "a `TaskGroup`"
            } else {
                "the parent `TaskContext`"
            };
            self.errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "`{key_name}` is an expression that gives {what}, not a string: write \
                     `{key_name} = {}`",
                    lit.value()
                ),
            ));
            let _ = collect_to_comma(input);
            return None;
        }
        match input.parse::<Expr>() {
            Ok(expr) if input.is_empty() || input.peek(Token![,]) => Some(expr),
            Ok(_) => {
                self.errors
                    .push(input.error("expected `,` after the value"));
                self.malformed = true;
                let _ = collect_to_comma(input);
                None
            }
            Err(error) => {
                self.errors.push(error);
                self.malformed = true;
                let _ = collect_to_comma(input);
                None
            }
        }
    }

    /// Reads a `key = "string"` or `key = path::TO_CONSTANT` value; a literal must not be
    /// empty (a constant is checked when the expansion is compiled).
    fn string_value(
        &mut self,
        input: ParseStream<'_>,
        key: &'static str,
        key_span: Span,
    ) -> Option<Label> {
        self.keyed = true;
        let example = format!("{key} = \"{}\"", example_value(key));
        let value = value_tokens(input, key, key_span, &example).and_then(|tokens| {
            let parser = |input: ParseStream<'_>| {
                if input.peek(LitStr) {
                    let lit: LitStr = input.parse()?;
                    expect_end(input)?;
                    return Ok(Err(lit));
                }
                let rest: TokenStream = input.parse()?;
                match syn::parse2::<Path>(rest.clone()) {
                    Ok(path) if names_constant(&path) => Ok(Ok(path)),
                    // `component = payments`: the user meant the word.
                    Ok(path) => Err(syn::Error::new_spanned(
                        rest,
                        format!(
                            "`{key}` must be a string literal or a `&'static str` constant: \
                             write `{key} = \"{}\"` (or `{key} = labels::{}` for a constant)",
                            snippet(&path),
                            example_value(key).to_uppercase().replace('-', "_"),
                        ),
                    )),
                    Err(_) => Err(syn::Error::new_spanned(
                        rest,
                        format!(
                            "`{key}` must be a string literal or a `&'static str` constant: e.g. \
                             `{example}`"
                        ),
                    )),
                }
            };
            parser.parse2(tokens)
        });
        match self.errors.ok(value)? {
            Ok(path) => Some(Label::Const(path)),
            Err(lit) => self.check_string(key, lit).map(label_text),
        }
    }

    /// A string value must not be empty; gives it back if it is valid.
    fn check_string(&mut self, key: &str, lit: LitStr) -> Option<LitStr> {
        if lit.value().trim().is_empty() {
            self.errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "`{key}` must not be empty: it labels every report and metric, e.g. `{key} = \"{}\"`",
                    example_value(key)
                ),
            ));
            return None;
        }
        Some(lit)
    }

    /// Records that `key` was given; a repeat is an error at the second one (returns false).
    fn check_repeat(&mut self, key: &'static str, span: Span) -> bool {
        self.seen.first_time(key, span, "", &mut self.errors)
    }

    fn unknown_key(&mut self, key: &Ident, with_value: bool) -> syn::Error {
        let kind = self.kind;
        let written = key.unraw().to_string();
        let valid = kind.valid_keys();
        let message = if kind == MacroKind::Recover
            && matches!(written.as_str(), "restart" | "group" | "context")
        {
            format!(
                "#[recover] has no `{written}`: it guards one call, in the caller's task; \
                 `{written}` is for tasks (`#[safe_task]`, `safe_go!`); valid keys: {valid}"
            )
        } else if kind == MacroKind::SafeTask && written == "context" {
            format!(
                "#[safe_task] has no `context` key: take the parent context as an argument, \
                 `ctx: mruntime::TaskContext`, and the body receives the task's own context under \
                 that name; valid keys: {valid}"
            )
        } else if written == "on_panic" {
            format!(
                "{} has no `on_panic`: a task's panic reaches whoever awaits its TaskHandle as \
                 `Err(TaskError::Panicked(..))`; valid keys: {valid}",
                kind.display()
            )
        } else if kind.allows(&written) && !with_value {
            return needs_value(&written, key.span(), &format!("{written} = .."));
        } else {
            let hint = match did_you_mean(&written, kind.keys()) {
                Some(suggestion) => {
                    self.suggested.push(suggestion);
                    format!(" (did you mean `{suggestion}`?)")
                }
                None => String::new(),
            };
            format!(
                "unknown key `{written}` for {}{hint}; valid keys: {valid}",
                kind.display()
            )
        };
        syn::Error::new(key.span(), message)
    }

    /// A flag key just parsed (`allow_raw_spawn`, `health`): a value after it is an error saying
    /// so; `true` when it is to be recorded (not a repeat).
    fn flag(
        &mut self,
        input: ParseStream<'_>,
        name: &'static str,
        span: Span,
    ) -> syn::Result<bool> {
        self.keyed = true;
        if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            let value = collect_to_comma(input);
            self.errors.push(syn::Error::new_spanned(
                quote::quote!(#eq #value),
                format!("`{name}` is a flag and takes no value: write just `{name}`"),
            ));
        }
        Ok(self.check_repeat(name, span))
    }

    /// After `safe_go!`'s future nothing may follow but one trailing comma.
    fn after_future(&mut self, input: ParseStream<'_>) {
        let _ = input.parse::<Option<Token![,]>>();
        if !input.is_empty() {
            let rest: TokenStream = input.parse().unwrap_or_default();
            self.errors.push(syn::Error::new_spanned(
                rest,
                "the future must be the last argument of safe_go!; move these arguments before it",
            ));
        }
    }

    /// Reports required keys that were not given.
    fn require_keys(&mut self) {
        if self.malformed {
            return;
        }
        let display = self.kind.display();
        if !self.seen.contains("component") && !self.suggested.contains(&"component") {
            self.errors.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "{display} needs a `component`: it labels every report and metric; add one, e.g. `{}`",
                    self.kind.example()
                ),
            ));
        }
        if self.kind == MacroKind::SafeGo {
            if !self.seen.contains("name") && !self.suggested.contains(&"name") {
                self.errors.push(syn::Error::new(
                    Span::call_site(),
                    format!(
                        "safe_go! needs a `name` (there is no function name to default to); add one, e.g. `{}`",
                        self.kind.example()
                    ),
                ));
            }
            if self.args.future.is_none() {
                self.errors.push(syn::Error::new(
                    Span::call_site(),
                    "safe_go! needs a future as its last argument: \
                     `safe_go!(component = \"notification\", name = \"email-sender\", async move { .. })`",
                ));
            }
        }
    }
}

fn label_text(lit: LitStr) -> Label {
    Label::Text(lit.value())
}

/// Whether a path names a constant by Rust's convention, its last segment in upper case
/// (`PAYMENTS`, `labels::PAYMENTS`); `payments` is taken for a word missing its quotes.
fn names_constant(path: &Path) -> bool {
    path.segments.last().is_some_and(|segment| {
        let name = segment.ident.unraw().to_string();
        segment.arguments.is_none()
            && name.chars().any(|c| c.is_ascii_uppercase())
            && !name.chars().any(|c| c.is_lowercase())
    })
}

/// A plausible value of a string key, for messages.
fn example_value(key: &str) -> &'static str {
    match key {
        "component" => "payments",
        _ => "balance-sync",
    }
}

/// Parses the value of `policy`: `KeepRunning`, `CrashProcess` or a path ending in one.
fn policy_value(tokens: TokenStream) -> syn::Result<PolicyArg> {
    let parser = |input: ParseStream<'_>| {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            let suggestion = policy_name(&lit.value()).unwrap_or("CrashProcess");
            return Err(syn::Error::new(
                lit.span(),
                format!("`policy` is a path, not a string: write `policy = {suggestion}`"),
            ));
        }
        let path = match input.parse::<Path>() {
            Ok(path) => path,
            Err(_) => {
                let rest: TokenStream = input.parse()?;
                return Err(syn::Error::new_spanned(
                    rest,
                    "`policy` must be `KeepRunning` or `CrashProcess`, e.g. `policy = CrashProcess`",
                ));
            }
        };
        expect_end(input)?;
        let last = path
            .segments
            .last()
            .map(|segment| segment.ident.unraw().to_string());
        let policy = match last.as_deref() {
            Some("KeepRunning") => Policy::KeepRunning,
            Some("CrashProcess") => Policy::CrashProcess,
            other => {
                let written = other.unwrap_or_default();
                let hint = match policy_name(written) {
                    Some(suggestion) => format!(" (did you mean `{suggestion}`?)"),
                    None => String::new(),
                };
                return Err(syn::Error::new_spanned(
                    &path,
                    format!(
                        "unknown policy `{}`{hint}: expected `KeepRunning` or `CrashProcess` \
                         (a path ending in one works too, e.g. `mruntime::PanicPolicy::CrashProcess`)",
                        snippet(&path)
                    ),
                ));
            }
        };
        Ok(PolicyArg { policy, path })
    };
    parser.parse2(tokens)
}

/// The policy a misspelling most likely means.
fn policy_name(written: &str) -> Option<&'static str> {
    let folded: String = written.chars().filter(|c| c.is_alphanumeric()).collect();
    let folded = folded.to_lowercase();
    if folded.contains("crash") || folded.contains("abort") {
        Some("CrashProcess")
    } else if folded.contains("keep") || folded.contains("continue") || folded.contains("recover") {
        Some("KeepRunning")
    } else {
        did_you_mean(written, &["KeepRunning", "CrashProcess"])
    }
}

/// Parses the value of `on_panic`: a path to a function (or a closure).
fn on_panic_value(tokens: TokenStream) -> syn::Result<Expr> {
    let parser = |input: ParseStream<'_>| {
        if input.peek(Lit) {
            let lit: Lit = input.parse()?;
            let hint = match &lit {
                Lit::Str(s) => format!(": write `on_panic = {}`", s.value()),
                _ => String::new(),
            };
            return Err(syn::Error::new(
                lit.span(),
                format!("`on_panic` takes a path to a function, not a literal{hint}"),
            ));
        }
        let expr: Expr = input.parse()?;
        expect_end(input)?;
        match expr {
            Expr::Path(_) | Expr::Closure(_) => Ok(expr),
            other => Err(syn::Error::new_spanned(
                other,
                "`on_panic` takes a path to a `fn(mruntime::Panicked) -> T` (T: the function's \
                 return type), e.g. `on_panic = fallback`",
            )),
        }
    };
    parser.parse2(tokens)
}

/// In `safe_go!`, whether the element at the cursor is the `restart` key rather than the
/// future: a bare `restart`, `restart(..)` followed by more arguments (the future comes last),
/// or `restart(..)` ending the list with settings or nothing inside (a call to a function named
/// `restart` ending the list is the future).
fn is_restart_key(input: ParseStream<'_>) -> bool {
    if !input.peek(kw::restart) {
        return false;
    }
    let fork = input.fork();
    let _ = fork.parse::<kw::restart>();
    if fork.is_empty() || fork.peek(Token![,]) {
        return true;
    }
    let Ok(TokenTree::Group(group)) = fork.parse::<TokenTree>() else {
        return false;
    };
    if group.delimiter() != proc_macro2::Delimiter::Parenthesis {
        return false;
    }
    if fork.parse::<Token![,]>().is_ok() && !fork.is_empty() {
        return true;
    }
    if !fork.is_empty() {
        return false; // `restart(x).await`, `restart(x)?`: an expression
    }
    let mut settings = group.stream().into_iter();
    match (settings.next(), settings.next()) {
        (None, _) => true,
        (Some(TokenTree::Ident(_)), Some(TokenTree::Punct(eq))) => eq.as_char() == '=',
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(errors: Errors) -> Vec<String> {
        match errors.finish(()) {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn text(label: Option<Label>) -> String {
        match label {
            Some(Label::Text(text)) => text,
            Some(Label::Const(path)) => panic!("a constant: {}", snippet(&path)),
            None => panic!("no label"),
        }
    }

    #[test]
    fn constants_as_labels() {
        let args = parse_ok(
            MacroKind::Recover,
            quote!(component = labels::PAYMENTS, name = NAME),
        );
        assert!(
            matches!(args.component, Some(Label::Const(path)) if snippet(&path) == "labels::PAYMENTS")
        );
        assert!(matches!(args.name, Some(Label::Const(path)) if snippet(&path) == "NAME"));
        // A lower-case word is a string missing its quotes, not a constant.
        let errors = parse_err(MacroKind::Recover, quote!(component = labels::payments));
        assert!(
            errors[0].contains("write `component = \"labels::payments\"`"),
            "{errors:?}"
        );
    }

    fn parse_ok(kind: MacroKind, tokens: TokenStream) -> Args {
        let (args, errors) = parse(kind, tokens);
        assert_eq!(messages(errors), Vec::<String>::new());
        args
    }

    fn parse_err(kind: MacroKind, tokens: TokenStream) -> Vec<String> {
        let (_, errors) = parse(kind, tokens);
        messages(errors)
    }

    #[test]
    fn keyed_arguments() {
        let args = parse_ok(
            MacroKind::Recover,
            quote!(
                component = "onboarding",
                name = "handler.create",
                policy = KeepRunning
            ),
        );
        assert_eq!(text(args.component), "onboarding");
        assert_eq!(text(args.name), "handler.create");
        assert_eq!(args.policy.unwrap().policy, Policy::KeepRunning);
    }

    #[test]
    fn positional_then_keyed() {
        let args = parse_ok(
            MacroKind::Recover,
            quote!(
                "onboarding",
                "create",
                policy = mruntime::PanicPolicy::CrashProcess,
            ),
        );
        assert_eq!(text(args.component), "onboarding");
        assert_eq!(text(args.name), "create");
        assert_eq!(args.policy.unwrap().policy, Policy::CrashProcess);
    }

    #[test]
    fn policy_defaults_to_keep_running() {
        let args = parse_ok(MacroKind::SafeTask, quote!(component = "jobs"));
        assert_eq!(args.policy(), Policy::KeepRunning);
        assert!(args.name.is_none());
    }

    #[test]
    fn flag_and_on_panic() {
        let args = parse_ok(
            MacroKind::Recover,
            quote!(
                component = "jobs",
                on_panic = fallback::value,
                allow_raw_spawn
            ),
        );
        assert!(args.allow_raw_spawn.is_some());
        assert!(matches!(args.on_panic.unwrap().handler, Expr::Path(_)));
    }

    #[test]
    fn safe_go_forms() {
        let args = parse_ok(
            MacroKind::SafeGo,
            quote!(component = "n", name = "email", async move { send().await }),
        );
        assert!(matches!(args.future, Some(Expr::Async(_))));
        let args = parse_ok(MacroKind::SafeGo, quote!("n", "email", fut,));
        assert_eq!(text(args.name), "email");
        assert!(matches!(args.future, Some(Expr::Path(_))));
        // A third string is the future, not a third positional.
        let args = parse_ok(MacroKind::SafeGo, quote!("n", "email", "not a future"));
        assert!(matches!(args.future, Some(Expr::Lit(_))));
        // A misplaced positional string is reported as such, not taken for the future.
        let errors = parse_err(MacroKind::SafeGo, quote!(component = "n", "email", fut));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("positional strings must come before"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::SafeGo, quote!("n", "email", "x", fut));
        assert!(
            errors[0].starts_with("at most two positional strings"),
            "{errors:?}"
        );
        // Commas inside a turbofish belong to the future.
        let args = parse_ok(MacroKind::SafeGo, quote!("n", "email", run::<A, B>(x)));
        assert!(matches!(args.future, Some(Expr::Call(_))));
    }

    #[test]
    fn safe_go_needs_name_and_future() {
        let errors = parse_err(MacroKind::SafeGo, quote!("n", "email"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("safe_go! needs a future"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::SafeGo, quote!(component = "n", async {}));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("safe_go! needs a `name`"),
            "{errors:?}"
        );
        let errors = parse_err(
            MacroKind::SafeGo,
            quote!(component = "n", name = "x", fut, policy = KeepRunning),
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("must be the last argument"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let errors = parse_err(
            MacroKind::Recover,
            quote!(
                component = payments,
                name = "a",
                name = "b",
                policy = Crash,
                colour = "red"
            ),
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(
            errors[0],
            "`component` must be a string literal or a `&'static str` constant: write \
             `component = \"payments\"` (or `component = labels::PAYMENTS` for a constant)"
        );
        assert_eq!(errors[1], "`name` is given twice; remove one");
        assert!(errors[2].contains("unknown policy `Crash` (did you mean `CrashProcess`?)"));
        assert!(errors[3].starts_with("unknown key `colour` for #[recover]"));
    }

    #[test]
    fn missing_component() {
        let errors = parse_err(MacroKind::Recover, quote!(name = "a"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("#[recover] needs a `component`"));
        let errors = parse_err(MacroKind::SafeTask, quote!());
        assert!(errors[0].starts_with("#[safe_task] needs a `component`"));
    }

    #[test]
    fn misspelt_component_is_not_also_missing() {
        let errors = parse_err(MacroKind::Recover, quote!(componnet = "a"));
        assert_eq!(
            errors,
            vec![
                "unknown key `componnet` for #[recover] (did you mean `component`?); valid keys: \
             `component`, `name`, `policy`, `on_panic`, `allow_raw_spawn`"
                    .to_string()
            ]
        );
    }

    #[test]
    fn repeated_positional_and_keyed() {
        let errors = parse_err(MacroKind::Recover, quote!("a", component = "b"));
        assert_eq!(
            errors,
            vec!["`component` is given twice; remove one".to_string()]
        );
        let errors = parse_err(MacroKind::Recover, quote!(component = "a", "b"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("positional strings must come before"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::Recover, quote!("a", "b", "c"));
        assert!(
            errors[0].starts_with("at most two positional strings"),
            "{errors:?}"
        );
    }

    #[test]
    fn value_errors() {
        let errors = parse_err(MacroKind::Recover, quote!(component = ""));
        assert!(
            errors[0].starts_with("`component` must not be empty"),
            "{errors:?}"
        );
        let errors = parse_err(
            MacroKind::Recover,
            quote!(component = "a", policy = "crash"),
        );
        assert_eq!(
            errors,
            vec!["`policy` is a path, not a string: write `policy = CrashProcess`".to_string()]
        );
        let errors = parse_err(
            MacroKind::Recover,
            quote!(component = "a", on_panic = "fallback"),
        );
        assert_eq!(
            errors,
            vec![
                "`on_panic` takes a path to a function, not a literal: write `on_panic = fallback`"
                    .to_string()
            ]
        );
        let errors = parse_err(
            MacroKind::Recover,
            quote!(component = "a", allow_raw_spawn = true),
        );
        assert!(
            errors[0].starts_with("`allow_raw_spawn` is a flag"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::Recover, quote!(component));
        assert!(
            errors[0].starts_with("`component` needs a value"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::Recover, quote!(component = ));
        assert!(
            errors[0].starts_with("`component` needs a value after `=`"),
            "{errors:?}"
        );
    }

    #[test]
    fn missing_comma() {
        let errors = parse_err(MacroKind::Recover, quote!(component = "a" name = "b"));
        assert_eq!(errors, vec!["expected `,` after the value".to_string()]);
    }

    #[test]
    fn keys_of_other_macros() {
        let errors = parse_err(MacroKind::SafeTask, quote!(component = "a", on_panic = f));
        assert!(
            errors[0].starts_with("#[safe_task] has no `on_panic`"),
            "{errors:?}"
        );
        let errors = parse_err(
            MacroKind::SafeGo,
            quote!(component = "a", name = "b", allow_raw_spawn = x, fut),
        );
        assert!(
            errors[0].starts_with("unknown key `allow_raw_spawn` for safe_go!"),
            "{errors:?}"
        );
    }

    #[test]
    fn garbage_lists_what_is_expected() {
        let errors = parse_err(MacroKind::Recover, quote!(42));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("expected one of"), "{errors:?}");
    }

    #[test]
    fn restart_group_and_context() {
        let args = parse_ok(
            MacroKind::SafeTask,
            quote!(
                component = "delivery",
                group = self.workers,
                restart(max = 3, within = "1m"),
            ),
        );
        let restart = args.restart.unwrap();
        assert_eq!((restart.max, restart.within_ms), (3, 60_000));
        assert!(matches!(args.group, Some(Expr::Field(_))));

        let args = parse_ok(
            MacroKind::SafeGo,
            quote!(
                "n",
                "email",
                restart,
                group = get::<A, B>(),
                context = &parent,
                |ctx| async move {}
            ),
        );
        assert!(args.restart.is_some());
        assert!(matches!(args.group, Some(Expr::Call(_))));
        assert!(matches!(args.context, Some(Expr::Reference(_))));
        assert!(matches!(args.future, Some(Expr::Closure(_))));
    }

    #[test]
    fn safe_go_tells_the_restart_key_from_a_future() {
        let key = |tokens: TokenStream| parse_ok(MacroKind::SafeGo, tokens).restart.is_some();
        assert!(key(quote!("n", "e", restart(max = 1), f)));
        assert!(key(quote!("n", "e", restart(), f)));
        assert!(key(quote!("n", "e", restart, f)));
        // A call to a function named `restart`, last: the future.
        assert!(!key(quote!("n", "e", restart(queue))));
        assert!(!key(quote!("n", "e", restart(queue).boxed())));
        let args = parse_ok(MacroKind::SafeGo, quote!("n", "e", restart(queue),));
        assert!(matches!(args.future, Some(Expr::Call(_))));
        // Settings last, and no future: the key, and the future is missing.
        let errors = parse_err(MacroKind::SafeGo, quote!("n", "e", restart(max = 1)));
        assert!(
            errors[0].starts_with("safe_go! needs a future"),
            "{errors:?}"
        );
    }

    #[test]
    fn restart_group_and_context_errors() {
        let errors = parse_err(
            MacroKind::SafeTask,
            quote!(
                component = "d",
                group = a,
                group = b,
                group = "workers",
                context = parent,
                restart(max = 1),
                restart
            ),
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert_eq!(errors[0], "`group` is given twice; remove one");
        // The third `group`: its value is wrong, and it is a repeat.
        assert!(
            errors[1]
                .starts_with("`group` is an expression that gives a `TaskGroup`, not a string"),
            "{errors:?}"
        );
        assert_eq!(errors[2], "`group` is given twice; remove one");
        assert!(
            errors[3].starts_with("#[safe_task] has no `context` key"),
            "{errors:?}"
        );
        assert_eq!(errors[4], "`restart` is given twice; remove one");

        let errors = parse_err(
            MacroKind::Recover,
            quote!(component = "d", restart(max = 1), group = g),
        );
        assert!(
            errors[0].starts_with("#[recover] has no `restart`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("#[recover] has no `group`"),
            "{errors:?}"
        );
        let errors = parse_err(MacroKind::SafeTask, quote!(component = "d", group));
        assert!(errors[0].starts_with("`group` needs a value"), "{errors:?}");
        let errors = parse_err(MacroKind::SafeTask, quote!(component = "d", group = ));
        assert!(
            errors[0].starts_with("`group` needs a value after `=`"),
            "{errors:?}"
        );
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(
            did_you_mean("policy", &["component", "name", "policy"]),
            Some("policy")
        );
        assert_eq!(policy_name("Crash"), Some("CrashProcess"));
        assert_eq!(policy_name("keep_running"), Some("KeepRunning"));
        assert_eq!(policy_name("KeepRuning"), Some("KeepRunning"));
        assert_eq!(policy_name("Whatever"), None);
    }
}
