//! Redaction of panic text before it leaves the process (Go's later `SetProductionMode`): one
//! scan, one automaton, that replaces by `[REDACTED]`, each class by its own rule:
//!
//! - the value of a secret-looking key after a separator, quoted or not, on the same line or
//!   indented on the next one (`password:\n  hunter2`);
//! - the credentials of URLs, bare bearer tokens, JSON Web Tokens, the bodies of PEM blocks;
//! - credentials recognised by their form with no key in front (`forms.rs`: a prefix at a
//!   token boundary, then a length of one alphabet);
//! - keys disguised by zero-width or fullwidth characters, folded first (`fold.rs`).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::AhoCorasick;

mod fold;
mod forms;

use forms::Form;
pub use forms::{Alphabet, SecretPattern, SecretPatternError};

static PRODUCTION: AtomicBool = AtomicBool::new(false);

/// What sinks receive as the panic value in production mode.
pub(crate) const REDACTED_VALUE: &str = "panic recovered (details redacted)";
/// What replaces a secret's value outside production mode.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// The keys whose values are always redacted (matched inside longer keys, ASCII case-insensitive).
const DEFAULT_KEYS: &[&str] = &[
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
    "privatekey",
    "private-key",
    "credential",
    "signature",
    "authorization",
    "bearer",
    "cookie",
    "session",
];

/// Authorization schemes kept before the credential they introduce (`Bearer [REDACTED]`).
const SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "ntlm",
    "bot",
    "apikey",
    "key",
];

/// Turns production mode on or off (default off), for every sink, from the next report on.
///
/// - In production mode panic values are replaced by `panic recovered (details redacted)` and
///   backtraces are dropped, in the log event, the span event, what the error reporter gets, the
///   lines mruntime writes to stderr and a [`ShutdownReport`](crate::ShutdownReport)'s display.
/// - Outside it, secrets are replaced by `[REDACTED]`: the values of secret-looking keys (see
///   [`add_secret_keys`] for the list) in `key=value`, `key: value`, JSON, Debug (`key:
///   Some("..")`), header, query, cookie, URL-encoded (`key%3Dvalue`) and XML element
///   (`<password>..</password>`) forms, quoted or not; the value may also be on a later line,
///   indented (`password:\n  hunter2`; after blank lines, a line continuation `\` or a YAML
///   block-scalar header `|`/`>`, whose whole block goes); the password of a URL or DSN (`postgres://user:[REDACTED]@host/db`); the credential after `Bearer`,
///   `Basic` or `Token`; JSON Web Tokens; the bodies of PEM blocks; credentials recognised by
///   their form with no key in front (see [`add_secret_patterns`] for the list). Zero-width
///   characters and fullwidth letters inside a key do not hide it.
///
/// Request paths are redacted in both modes. [`Panicked`](crate::Panicked) values your code
/// receives are never changed: only what leaves the process is.
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

/// Adds keys whose values are redacted from all text that leaves the process, to the defaults
/// (`password`, `passwd`, `passphrase`, `pwd`, `secret`, `token`, `api_key`, `apikey`,
/// `api-key`, `private_key`, `privatekey`, `private-key`, `credential`, `signature`,
/// `authorization`, `bearer`, `cookie`, `session`), which always stay.
///
/// A key matches, ASCII case-insensitively, any key that contains it: `token` covers
/// `access_token`, `X-Refresh-Token` and `tokens`; `session` covers `jsessionid`. Empty keys are
/// ignored. Keys take effect from the next report on, process-wide.
///
/// Its value is redacted after `=`, `:`, `=>` or URL-encoded `%3D`/`%3A`, quoted or not, and
/// also when the separator ends its line and the value is on the next one, indented more than
/// the key's line (`password:\n    hunter2`, `password =\r\n\thunter2`: YAML, pretty-printed
/// configs).
///
/// Before keys are matched, zero-width characters (U+200B, U+200C, U+200D, U+2060, U+FEFF) are
/// dropped and fullwidth ASCII (U+FF01..U+FF5E, `ｐａｓｓｗｏｒｄ`) is read as ASCII, so
/// `pass\u{200b}word=x` and `ｐａｓｓｗｏｒｄ＝x` are redacted like `password=x`. Nothing else is
/// folded: look-alike letters of other scripts (Cyrillic `а` in `pаssword`), mathematical
/// alphanumerics (`𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝`), soft hyphens, other invisible characters and Unicode case folding
/// are out of scope.
///
/// ```
/// use mruntime::PanicPolicy::KeepRunning;
///
/// mruntime::add_secret_keys(["iban", "ssn"]);
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Seen(Arc<Mutex<String>>);
/// # impl mruntime::ErrorReporter for Seen {
/// #     fn report(&self, p: &mruntime::Panicked) { *self.0.lock().unwrap() = p.message().to_owned(); }
/// # }
/// # let seen = Seen::default();
/// # mruntime::set_error_reporter(seen.clone());
/// let failed = mruntime::guard("payments", "payout", KeepRunning, || {
///     panic!("payout refused for IBAN=DE89370400440532013000, ssn: 078-05-1120")
/// });
/// // Your code keeps the whole message; every sink gets it redacted:
/// assert!(failed.unwrap_err().message().contains("DE89370400440532013000"));
/// # mruntime::clear_error_reporter();
/// # assert_eq!(*seen.0.lock().unwrap(), "payout refused for IBAN=[REDACTED], ssn: [REDACTED]");
/// ```
pub fn add_secret_keys<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) {
    let keys: Vec<String> = keys
        .into_iter()
        .map(|key| key.as_ref().trim().to_ascii_lowercase())
        .filter(|key| !key.is_empty())
        .collect();
    update_rules(|list, _| {
        for key in keys {
            if !list.contains(&key) {
                list.push(key);
            }
        }
    });
}

/// Adds credential formats of your own, recognised with no key in front, to the built-in ones
/// (which always stay): a prefix at a token boundary, then a number of characters of an
/// [`Alphabet`] (see [`SecretPattern`]). The characters after the prefix are replaced by
/// `[REDACTED]`; the prefix stays, to say what was there. No regex engine is involved: the
/// prefixes join the one automaton the scanner runs.
///
/// Recognised by default (high-confidence formats from gitleaks' rules and GitHub's
/// secret-scanning partners; the prefix is case-sensitive, the length counts what follows it):
///
/// | credential | prefix | then |
/// |---|---|---|
/// | AWS access key id | `AKIA`, `ASIA`, `ABIA`, `ACCA` | exactly 16 of `A-Z0-9` |
/// | GitHub token | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` | 36 or more of `A-Za-z0-9` |
/// | GitHub fine-grained token | `github_pat_` | 40 or more of `A-Za-z0-9_` (GitHub's are 82) |
/// | Slack token | `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xapp-` | 20 or more of `A-Za-z0-9-` |
/// | Stripe secret or restricted key | `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_` | 16 or more of `A-Za-z0-9` |
/// | Google API key | `AIza` | exactly 35 of `A-Za-z0-9-_` |
/// | GitLab token | `glpat-`, `glptt-`, `glrt-`, `gldt-` | 20 or more of `A-Za-z0-9-_` |
/// | npm token | `npm_` | exactly 36 of `A-Za-z0-9` |
/// | OpenAI-style key | `sk-` | 32 or more of `A-Za-z0-9` |
/// | OpenAI project, service-account, admin key; Anthropic key | `sk-proj-`, `sk-svcacct-`, `sk-admin-`, `sk-ant-` | 32 or more of `A-Za-z0-9-_` |
/// | Hugging Face token | `hf_` | 34 or more of `A-Za-z0-9` |
/// | PyPI token | `pypi-AgEIcHlwaS5vcmc` | 50 or more of `A-Za-z0-9-_` |
/// | SendGrid key | `SG.` | exactly 66 of `A-Za-z0-9-_.` |
/// | Shopify token | `shpat_`, `shpca_`, `shppa_`, `shpss_` | exactly 32 of `0-9a-fA-F` |
/// | DigitalOcean token | `dop_v1_`, `doo_v1_`, `dor_v1_` | exactly 64 of `0-9a-fA-F` |
/// | Databricks token | `dapi` | exactly 32 of `0-9a-fA-F` |
///
/// A form is taken only between token boundaries: the prefix at the start of the text or after
/// a character other than an ASCII letter, digit or `_`, and its characters followed by the end
/// of the text or such a character (so `AKIA` + 17 capitals, or a prefix inside a longer word,
/// is not a credential). When the text was cut at the 1024-character limit, a form running
/// into the cut is redacted even if shorter than its length. JSON Web Tokens and PEM blocks are
/// recognised too (see [`set_production_mode`]).
///
/// Patterns take effect from the next report on, process-wide. If any pattern is invalid (an
/// empty prefix, a length that allows zero characters or none, an empty alphabet), none of
/// them is added and the error says which and why; this function never panics.
///
/// ```
/// use mruntime::PanicPolicy::KeepRunning;
/// use mruntime::{Alphabet, SecretPattern};
///
/// mruntime::add_secret_patterns([
///     SecretPattern::new("acme_").length(32..=40).alphabet(Alphabet::ALPHANUMERIC),
///     SecretPattern::new("wh-").length(24..).alphabet(Alphabet::BASE64URL),
/// ])?;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Seen(Arc<Mutex<String>>);
/// # impl mruntime::ErrorReporter for Seen {
/// #     fn report(&self, p: &mruntime::Panicked) { *self.0.lock().unwrap() = p.message().to_owned(); }
/// # }
/// # let seen = Seen::default();
/// # mruntime::set_error_reporter(seen.clone());
/// let _ = mruntime::guard("billing", "charge", KeepRunning, || {
///     panic!("upstream refused acme_3kQz9LmP0xYv7RtW2nB5cD8eF1gH4jK6 (aws AKIAIOSFODNN7EXAMPLE)")
/// });
/// // Every sink gets:
/// # mruntime::clear_error_reporter();
/// # assert_eq!(*seen.0.lock().unwrap(),
/// "upstream refused acme_[REDACTED] (aws AKIA[REDACTED])"
/// # );
/// # Ok::<(), mruntime::SecretPatternError>(())
/// ```
pub fn add_secret_patterns(
    patterns: impl IntoIterator<Item = SecretPattern>,
) -> Result<(), SecretPatternError> {
    let patterns: Vec<SecretPattern> = patterns.into_iter().collect();
    for pattern in &patterns {
        pattern.validate()?;
    }
    update_rules(|_, forms| {
        for pattern in &patterns {
            if let Ok((prefix, body)) = pattern.validate() {
                forms::add_form(forms, prefix, body);
            }
        }
    });
    Ok(())
}

/// Changes the keys and forms, process-wide, and bumps [`KEYS_VERSION`].
fn update_rules(change: impl FnOnce(&mut Vec<String>, &mut Vec<Form>)) {
    let mut current = KEYS.write().unwrap_or_else(PoisonError::into_inner);
    let (mut list, mut forms) = match current.as_ref() {
        Some(rules) => (rules.list.clone(), rules.forms.clone()),
        None => (default_keys(), forms::built_in()),
    };
    change(&mut list, &mut forms);
    *current = Some(Arc::new(Keys::new(list, forms)));
    KEYS_VERSION.fetch_add(1, Ordering::Release);
}

fn default_keys() -> Vec<String> {
    DEFAULT_KEYS.iter().map(|&k| k.to_owned()).collect()
}

/// The key list, the credential forms, and the automaton finding, in one pass, the keys, then
/// `://`, `-----BEGIN` and `eyJ`, then the characters to fold, then the forms' prefixes.
struct Keys {
    list: Vec<String>,
    forms: Vec<Form>,
    /// `None` if it could not be built: then nothing is let through (fail closed).
    finder: Option<AhoCorasick>,
}

/// Where each kind of pattern starts among the automaton's pattern ids.
#[derive(Clone, Copy)]
struct Layout {
    keys: usize,
}

impl Layout {
    const URL: usize = 0;
    const PEM: usize = 1;
    const JWT: usize = 2;
    const FIXED: usize = 3;

    fn fold(self) -> Range<usize> {
        let start = self.keys + Self::FIXED;
        start..start + fold::TRIGGERS.len()
    }

    fn form(self, pattern: usize) -> Option<usize> {
        pattern.checked_sub(self.fold().end)
    }
}

impl Keys {
    fn new(list: Vec<String>, forms: Vec<Form>) -> Self {
        let finder = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(
                list.iter()
                    .map(String::as_bytes)
                    .chain([URL_SEPARATOR, PEM_BEGIN, JWT_START].map(str::as_bytes))
                    .chain(fold::TRIGGERS)
                    .chain(forms.iter().map(|form| form.prefix.as_bytes())),
            )
            .ok();
        Keys {
            list,
            forms,
            finder,
        }
    }

    fn layout(&self) -> Layout {
        Layout {
            keys: self.list.len(),
        }
    }
}

const URL_SEPARATOR: &str = "://";
/// The start of a JSON Web Token (`{"` in base64url): a token of three dot-separated parts that
/// starts so is redacted whole, with or without a key.
const JWT_START: &str = "eyJ";
/// The start of a PEM block (`-----BEGIN PRIVATE KEY-----`): its body is redacted.
const PEM_BEGIN: &str = "-----BEGIN";
const PEM_DASHES: &[u8] = b"-----";
const PEM_END: &[u8] = b"-----END";

static KEYS: RwLock<Option<Arc<Keys>>> = RwLock::new(None);
/// Bumped after each change of [`KEYS`]: a thread's cached keys are current while it matches.
static KEYS_VERSION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of [`KEYS`] and its version: a report reads one atomic, not the lock
    /// and the `Arc` count that every reporting thread would share.
    static CACHED_KEYS: RefCell<Option<(u64, Arc<Keys>)>> = const { RefCell::new(None) };
}

/// The version of the keys now: a text found clean under it stays clean while it is current.
pub(crate) fn keys_version() -> u64 {
    KEYS_VERSION.load(Ordering::Acquire)
}

/// How many static texts each thread remembers as clean.
const CLEAN_STATICS: usize = 4;

/// A static text (by address and length) found free of secrets under keys `version`.
#[derive(Clone, Copy)]
struct Clean {
    addr: usize,
    len: usize,
    version: u64,
}

const NO_CLEAN: Clean = Clean {
    addr: 0,
    len: 0,
    version: 0,
};

thread_local! {
    /// The static texts this thread last found clean, newest first.
    static CLEAN: Cell<[Clean; CLEAN_STATICS]> = const { Cell::new([NO_CLEAN; CLEAN_STATICS]) };
}

/// Whether `text` was found clean on this thread under the current keys. A `&'static str`
/// never changes, so its address and length identify its content.
pub(crate) fn known_clean(text: &'static str) -> bool {
    let version = keys_version();
    let addr = text.as_ptr() as usize;
    CLEAN
        .try_with(|clean| {
            clean
                .get()
                .iter()
                .any(|c| c.addr == addr && c.len == text.len() && c.version == version)
        })
        .unwrap_or(false)
}

/// Remembers that `text` was found clean under keys `version` (read before the scan).
pub(crate) fn remember_clean(text: &'static str, version: u64) {
    let _ = CLEAN.try_with(|clean| {
        let mut entries = clean.get();
        entries.rotate_right(1);
        entries[0] = Clean {
            addr: text.as_ptr() as usize,
            len: text.len(),
            version,
        };
        clean.set(entries);
    });
}

/// `f` of the current keys (this thread's copy while it is current).
fn with_current_keys<R>(f: impl Fn(&Keys) -> R) -> R {
    let version = KEYS_VERSION.load(Ordering::Acquire);
    let cached = CACHED_KEYS.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if cache.as_ref().is_none_or(|(v, _)| *v != version) {
            *cache = Some((version, keys()));
        }
        cache.as_ref().map(|(_, keys)| f(keys))
    });
    match cached {
        Ok(Some(result)) => result,
        _ => f(&keys()),
    }
}

fn keys() -> Arc<Keys> {
    if let Some(keys) = KEYS.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
        return Arc::clone(keys);
    }
    let mut slot = KEYS.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(slot.get_or_insert_with(|| Arc::new(Keys::new(default_keys(), forms::built_in()))))
}

/// What is being scanned.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scan {
    /// The text is the start of a longer one: a value or URL running to its end is redacted
    /// whole, since its rest was cut off.
    pub(crate) cut: bool,
    /// The text is a URL path: `/` ends an unquoted value (a segment).
    pub(crate) path: bool,
}

#[cfg(test)]
thread_local! {
    /// The length of the last text scanned on this thread (tests check that it is bounded).
    pub(crate) static LAST_SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `text` with every secret replaced by `[REDACTED]`; borrowed when there is none.
pub(crate) fn redact_secrets(text: &str, scan: Scan) -> Cow<'_, str> {
    #[cfg(test)]
    LAST_SCANNED.with(|last| last.set(text.len()));
    let spans = with_current_keys(|keys| {
        let finder = keys.finder.as_ref()?;
        match secret_spans(text, keys, finder, scan, true) {
            Ok(spans) => Some(spans),
            // Characters that disguise keys: scan a folded copy, redact the original.
            Err(Unscanned::NeedsFolding) => {
                let folded = fold::fold(text);
                let spans = secret_spans(&folded.text, keys, finder, scan, false).ok()?;
                Some(spans.into_iter().map(|s| folded.original(s)).collect())
            }
            Err(Unscanned::Failed) => None,
        }
    });
    let Some(spans) = spans else {
        return Cow::Borrowed(REDACTED_VALUE);
    };
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(replace_spans(text, spans))
}

/// How a key's unquoted value ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// At a blank, `&`, `;`, a closing bracket or quote, or `, `.
    Plain,
    /// `Authorization: <scheme> <credential>`: the scheme is kept.
    Authorization,
    /// A cookie header: the whole line (`a=1; b=2`).
    Cookie,
    /// `Bearer <credential>`, also without a separator.
    Bearer,
}

fn kind_of(key: &[u8]) -> Kind {
    if key.eq_ignore_ascii_case(b"bearer") {
        Kind::Bearer
    } else if find(key, 0, b"authorization").is_some() {
        Kind::Authorization
    } else if find(key, 0, b"cookie").is_some() {
        Kind::Cookie
    } else {
        Kind::Plain
    }
}

/// Why a text was not scanned to its end.
enum Unscanned {
    /// It holds a character that disguises keys: it must be folded, then scanned again.
    NeedsFolding,
    /// The automaton refused the search (it cannot with the settings it is built with): then
    /// nothing of the text is let through (fail closed).
    Failed,
}

/// The byte ranges of `text` to replace, in any order, possibly overlapping, found by `keys`'
/// `finder` in one pass. With `fold`, a character to fold stops the scan (the caller scans a
/// folded copy); without, such characters are passed over.
fn secret_spans(
    text: &str,
    keys: &Keys,
    finder: &AhoCorasick,
    scan: Scan,
    fold: bool,
) -> Result<Vec<Range<usize>>, Unscanned> {
    let layout = keys.layout();
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut last_key_end = 0;
    // Overlapping: a form's prefix found inside a key (or a key inside a form) hides neither.
    let hits = finder
        .try_find_overlapping_iter(text)
        .map_err(|_| Unscanned::Failed)?;
    for hit in hits {
        let pattern = hit.pattern().as_usize();
        if let Some(fixed) = pattern.checked_sub(layout.keys) {
            match fixed {
                Layout::URL => spans.extend(url_credentials(bytes, hit.start(), scan)),
                Layout::PEM => spans.extend(pem_body(bytes, hit.end())),
                Layout::JWT => spans.extend(jwt(bytes, hit.start())),
                _ if layout.fold().contains(&pattern) => {
                    if fold && fold::folds_at(text, hit.start()) {
                        return Err(Unscanned::NeedsFolding);
                    }
                }
                _ => {
                    let form = layout.form(pattern).and_then(|i| keys.forms.get(i));
                    spans.extend(
                        form.and_then(|f| f.body_span(bytes, hit.start(), hit.end(), scan.cut)),
                    );
                }
            }
            continue;
        }
        let start = key_run_start(bytes, hit.start());
        let end = key_run_end(bytes, hit.end());
        if end <= last_key_end {
            continue; // a second keyword of the same key (`session_token`)
        }
        last_key_end = end;
        let kind = kind_of(&bytes[start..end]);
        let value_at = match separator_end(bytes, start, end) {
            Some(Value::At(at)) => at,
            Some(Value::Block(block)) => {
                spans.extend(non_empty(block));
                continue;
            }
            // A bare `Bearer <credential>`, a command-line `--password <value>`.
            None if (kind == Kind::Bearer || bytes[start..end].starts_with(b"--"))
                && bytes.get(end) == Some(&b' ') =>
            {
                skip_blanks(bytes, end)
            }
            // An XML element named by the key: `<password>..</password>`, `<wsse:Password>`.
            None => {
                spans.extend(xml_element_text(bytes, start, end));
                continue;
            }
        };
        spans.extend(value_span(bytes, value_at, kind, scan));
    }
    Ok(spans)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn key_run_start(bytes: &[u8], mut at: usize) -> usize {
    while at > 0 && is_key_byte(bytes[at - 1]) {
        at -= 1;
    }
    at
}

fn key_run_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).copied().is_some_and(is_key_byte) {
        at += 1;
    }
    at
}

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

fn skip_backslashes(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b'\\') {
        at += 1;
    }
    at
}

/// Where a key's value is.
enum Value {
    /// It starts here.
    At(usize),
    /// A YAML block scalar (`password: |` and the lines indented under it): all of it.
    Block(Range<usize>),
}

/// Where the value is, when a separator (`=`, `:`, `=>`, URL-encoded `%3D`/`%3A`, after an
/// optional closing quote of the key, escaped or not) follows the key `key_start..at`.
fn separator_end(bytes: &[u8], key_start: usize, at: usize) -> Option<Value> {
    let mut at = at;
    let quote = skip_backslashes(bytes, at);
    let quoted = matches!(bytes.get(quote), Some(b'"' | b'\''));
    if quoted {
        at = quote + 1;
    } else if url_encoded_quote(bytes, at) {
        at += 3;
    }
    at = skip_blanks(bytes, at);
    let rest = bytes.get(at..).unwrap_or_default();
    let separator = if rest.starts_with(b"=>") {
        2
    } else if rest.starts_with(b"=") || (rest.starts_with(b":") && !rest.starts_with(b"::")) {
        1
    } else if rest.len() >= 3
        && (rest[..3].eq_ignore_ascii_case(b"%3d") || rest[..3].eq_ignore_ascii_case(b"%3a"))
    {
        3
    } else if quoted && rest.starts_with(b",") {
        // A `("key", "value")` pair.
        let value = skip_blanks(bytes, at + 1);
        let value_quote = skip_backslashes(bytes, value);
        return matches!(bytes.get(value_quote), Some(b'"' | b'\'')).then_some(Value::At(value));
    } else {
        return None;
    };
    Some(later_line_value(
        bytes,
        key_start,
        skip_blanks(bytes, at + separator),
    ))
}

/// Where the value is when nothing of it is on the separator's line, `at` being just after the
/// separator and its blanks: the line ends there, or holds only a line continuation (`\`) or a
/// YAML block-scalar header (`|`, `>`, `|-`, `>+2`, ...) before it ends. The value is then on
/// the next line that is not blank, if that line is indented more than the key's
/// (`password:\n  x`, `password:\n\n  x`, `password = \\\n  x`); a block scalar is every
/// line indented more than the key's. Otherwise the value starts at `at`.
fn later_line_value(bytes: &[u8], key_start: usize, at: usize) -> Value {
    let header_end = block_scalar_header_end(bytes, at);
    let line_break = match (header_end, bytes.get(at)) {
        (Some(end), _) => end,
        (None, Some(b'\\')) => skip_blanks(bytes, at + 1),
        _ => at,
    };
    let Some(mut line) = after_line_break(bytes, line_break) else {
        return Value::At(at);
    };
    let key_indent = line_indent(bytes, key_start);
    // Blank lines before the value are skipped, as YAML does.
    let value = loop {
        let first = skip_blanks(bytes, line);
        match after_line_break(bytes, first) {
            Some(next) => line = next,
            None => break first,
        }
    };
    if value == bytes.len() || value - line <= key_indent {
        return Value::At(at);
    }
    if header_end.is_none() {
        return Value::At(value);
    }
    // The block runs over every following line that is blank or indented more than the key.
    let mut end = line_end(bytes, value);
    while let Some(next) = after_line_break(bytes, end) {
        let first = skip_blanks(bytes, next);
        let blank = first == bytes.len() || after_line_break(bytes, first).is_some();
        if !blank && first - next <= key_indent {
            break;
        }
        if !blank {
            end = line_end(bytes, first);
        } else if first == bytes.len() {
            break;
        } else {
            end = first;
        }
    }
    Value::Block(value..trim_blank_end(bytes, value, end))
}

/// The text of the XML element whose name (after an optional namespace prefix) is the key
/// `start..end`: `<password>text</password>`, `<wsse:Password Type="..">text<`, a CDATA
/// section's content; up to the next `<`, or the end of a cut text.
fn xml_element_text(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let mut open = start.checked_sub(1)?;
    if bytes[open] == b':' {
        open = key_run_start(bytes, open).checked_sub(1)?;
    }
    if bytes[open] != b'<' {
        return None;
    }
    let tag_end = match bytes.get(end)? {
        b'>' => end,
        b' ' | b'\t' | b'\r' | b'\n' => {
            end + bytes[end..].iter().position(|&b| b == b'>' || b == b'<')?
        }
        _ => return None,
    };
    if bytes[tag_end] != b'>' || bytes[tag_end - 1] == b'/' {
        return None;
    }
    let text = tag_end + 1;
    let rest = &bytes[text..];
    if rest.starts_with(b"<![CDATA[") {
        let content = text + 9;
        let close = find(bytes, content, b"]]>").unwrap_or(bytes.len());
        return non_empty(content..close);
    }
    let close = rest
        .iter()
        .position(|&b| b == b'<')
        .map_or(bytes.len(), |n| text + n);
    non_empty(text..close)
}

/// Just after the line break (`\n` or `\r\n`) at `at`, if one is there.
fn after_line_break(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at..) {
        Some([b'\n', ..]) => Some(at + 1),
        Some([b'\r', b'\n', ..]) => Some(at + 2),
        _ => None,
    }
}

/// Where a YAML block-scalar header at `at` (`|` or `>`, then at most two of `-`, `+` or a
/// digit) and its trailing blanks end, if the line ends there.
fn block_scalar_header_end(bytes: &[u8], at: usize) -> Option<usize> {
    if !matches!(bytes.get(at), Some(b'|' | b'>')) {
        return None;
    }
    let mut end = at + 1;
    while end - at <= 2 && matches!(bytes.get(end), Some(b'-' | b'+' | b'1'..=b'9')) {
        end += 1;
    }
    let end = skip_blanks(bytes, end);
    after_line_break(bytes, end).map(|_| end)
}

/// `start..end` without the blanks and line breaks it ends with.
fn trim_blank_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

/// The blanks at the start of the line holding byte `at`.
fn line_indent(bytes: &[u8], at: usize) -> usize {
    let line_start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |n| n + 1);
    skip_blanks(bytes, line_start) - line_start
}

/// The secret part of the value starting at `at`.
fn value_span(bytes: &[u8], mut at: usize, kind: Kind, scan: Scan) -> Option<Range<usize>> {
    // Debug wrappers: `Some("x")`, `Secret(Some("x"))` keep their names; `Secret { .. }` does not.
    loop {
        if !bytes.get(at).is_some_and(u8::is_ascii_uppercase) {
            break;
        }
        let name_end = key_run_end(bytes, at);
        match bytes.get(name_end) {
            // Pretty Debug (`{:#?}`) puts the inner value on the next line.
            Some(b'(') => at = skip_whitespace(bytes, name_end + 1),
            Some(b' ') if bytes.get(name_end + 1) == Some(&b'{') => {
                return non_empty(at..group_end(bytes, name_end + 1));
            }
            _ => break,
        }
    }
    if url_encoded_quote(bytes, at) {
        let open = at + 3;
        let close = find(bytes, open, b"%22")
            .or_else(|| find(bytes, open, b"%27"))
            .unwrap_or(bytes.len());
        return non_empty(open..close);
    }
    // A byte string's Debug: `b"hunter2"`.
    if bytes.get(at) == Some(&b'b') && matches!(bytes.get(at + 1), Some(b'"' | b'\'')) {
        at += 1;
    }
    let escapes = skip_backslashes(bytes, at) - at;
    match bytes.get(at + escapes) {
        Some(&quote @ (b'"' | b'\'')) => {
            let open = at + escapes + 1;
            non_empty(open..closing_quote(bytes, open, quote, escapes))
        }
        Some(b'[' | b'{' | b'(') if escapes == 0 => non_empty(at..group_end(bytes, at)),
        _ if scan.path => non_empty(at..token_end(bytes, at, scan)),
        _ => match kind {
            Kind::Cookie => non_empty(at..line_end(bytes, at)),
            Kind::Authorization => {
                let word_end = key_run_end(bytes, at);
                let is_scheme = SCHEMES
                    .iter()
                    .any(|s| bytes[at..word_end].eq_ignore_ascii_case(s.as_bytes()));
                let credential = skip_blanks(bytes, word_end);
                if is_scheme && credential > word_end && credential < bytes.len() {
                    // Digest credentials are a list of `k="v"` pairs: all of them go.
                    if bytes[at..word_end].eq_ignore_ascii_case(b"digest") {
                        non_empty(credential..line_end(bytes, credential))
                    } else {
                        non_empty(credential..token_end(bytes, credential, scan))
                    }
                } else {
                    non_empty(at..token_end(bytes, at, scan))
                }
            }
            Kind::Plain | Kind::Bearer => non_empty(at..token_end(bytes, at, scan)),
        },
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Whether a URL-encoded quote (`%22` or `%27`) starts at `at`.
fn url_encoded_quote(bytes: &[u8], at: usize) -> bool {
    bytes
        .get(at..at + 3)
        .is_some_and(|q| q == b"%22" || q == b"%27")
}

/// Where `needle` next occurs in `bytes` from `from` (ASCII case-insensitively).
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|n| from + n)
}

/// The JSON Web Token starting at `at`, if the word there has three dot-separated base64url
/// parts (the signature may be cut off).
fn jwt(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    let end = at
        + bytes[at..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
            .unwrap_or(bytes.len() - at);
    let dots = bytes[at..end].iter().filter(|&&b| b == b'.').count();
    (starts_word && (dots == 2 || (dots == 1 && end == bytes.len()))).then_some(at..end)
}

/// The body of the PEM block whose `-----BEGIN` ends at `at`: from after its header line's
/// closing dashes to its `-----END` (or the text's end).
fn pem_body(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let header_end = find(bytes, at, PEM_DASHES).map_or(bytes.len(), |n| n + PEM_DASHES.len());
    let end = find(bytes, header_end, PEM_END).unwrap_or(bytes.len());
    non_empty(header_end..end)
}

fn non_empty(span: Range<usize>) -> Option<Range<usize>> {
    (span.start < span.end).then_some(span)
}

/// The end of an unquoted value: a blank, `&`, `;`, a quote, a closing bracket, `, ` (a comma
/// inside the value, `abc,def`, does not end it), and `/` in a path.
fn token_end(bytes: &[u8], mut at: usize, scan: Scan) -> usize {
    while let Some(&b) = bytes.get(at) {
        let ends = match b {
            b if b.is_ascii_whitespace() => true,
            b'&' | b';' | b'"' | b'\'' | b'<' | b'>' | b')' | b']' | b'}' => true,
            b',' => bytes.get(at + 1).is_none_or(u8::is_ascii_whitespace),
            b'/' => scan.path,
            _ => false,
        };
        if ends {
            break;
        }
        at += 1;
    }
    at
}

fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |n| at + n)
}

/// The end of the content of a string opened at `open` by `quote` after `escapes` backslashes:
/// at the same quote after an even number of backslashes (plain), or after exactly `escapes`
/// backslashes (a string inside an escaped string, `{\"k\":\"v\"}`); the text's end if none.
fn closing_quote(bytes: &[u8], open: usize, quote: u8, escapes: usize) -> usize {
    let mut at = open;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == quote) {
        let close = at + offset;
        let before = close
            - bytes[open..close]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
        let backslashes = close - before;
        if (escapes == 0 && backslashes.is_multiple_of(2))
            || (escapes > 0 && backslashes == escapes)
        {
            return if escapes == 0 { close } else { before };
        }
        at = close + 1;
    }
    bytes.len()
}

/// The end of the bracketed group opening at `open` (after its closing bracket), skipping
/// quoted strings; the text's end if it is not closed.
fn group_end(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut at = open;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'[' | b'{' | b'(' => depth += 1,
            b']' | b'}' | b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return at + 1;
                }
            }
            b'"' | b'\'' => at = closing_quote(bytes, at + 1, b, 0),
            _ => {}
        }
        at += 1;
    }
    bytes.len()
}

/// The credentials of the URL whose `://` starts at `separator`: the password of
/// `scheme://user:password@host`, or the whole userinfo when it has no `:` (a token). When the
/// text was cut inside the authority, everything after its first `:` (or all of it).
fn url_credentials(bytes: &[u8], separator: usize, scan: Scan) -> Option<Range<usize>> {
    let has_scheme = separator > 0 && bytes[separator - 1].is_ascii_alphanumeric();
    if !has_scheme {
        return None;
    }
    let start = separator + URL_SEPARATOR.len();
    let end = bytes[start..]
        .iter()
        .position(|&b| {
            b.is_ascii_whitespace() || matches!(b, b'/' | b'?' | b'#' | b'"' | b'<' | b'>' | b'`')
        })
        .map_or(bytes.len(), |n| start + n);
    let authority = &bytes[start..end];
    let (userinfo_end, cut_inside) = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => (start + at, false),
        None if scan.cut && end == bytes.len() => (end, true),
        None => return None,
    };
    match bytes[start..userinfo_end].iter().position(|&b| b == b':') {
        Some(colon) => non_empty(start + colon + 1..userinfo_end),
        None if cut_inside => non_empty(start..userinfo_end),
        None => non_empty(start..userinfo_end),
    }
}

/// `text` with `spans` (widened to character boundaries, merged) replaced by `[REDACTED]`.
fn replace_spans(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|span| span.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        let (mut start, mut end) = (span.start, span.end);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match merged.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => merged.push(start..end),
        }
    }
    let mut out = String::with_capacity(text.len() + merged.len() * REDACTED.len());
    let mut copied = 0;
    for span in merged {
        out.push_str(&text[copied..span.start]);
        out.push_str(REDACTED);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        redact_secrets(text, Scan::default()).into_owned()
    }

    #[test]
    fn key_value_forms_are_redacted() {
        assert_eq!(
            redact("login failed password=hunter2 user=ana"),
            "login failed password=[REDACTED] user=ana"
        );
        assert_eq!(
            redact("api_key: abc123, retry"),
            "api_key: [REDACTED], retry"
        );
        assert_eq!(
            redact(r#"{"user":"ana","access_token":"eyJhbGci","n":1}"#),
            r#"{"user":"ana","access_token":"[REDACTED]","n":1}"#
        );
        assert_eq!(redact("SECRET=s3cr3t&x=1"), "SECRET=[REDACTED]&x=1");
    }

    #[test]
    fn quoting_and_debug_forms_are_redacted_whole() {
        let cases = [
            ("password='single quoted'", "password='[REDACTED]'"),
            (r#"password="two words" ok"#, r#"password="[REDACTED]" ok"#),
            (
                r#"Login { password: Some("x"), user: "ana" }"#,
                r#"Login { password: Some("[REDACTED]"), user: "ana" }"#,
            ),
            (r#"{"password": "a\"b c"}"#, r#"{"password": "[REDACTED]"}"#),
            (
                r#"body: "{\"password\":\"hunter2\",\"n\":1}""#,
                r#"body: "{\"password\":\"[REDACTED]\",\"n\":1}""#,
            ),
            ("token=abc,def", "token=[REDACTED]"),
            ("secret: [1, 2, 3] left", "secret: [REDACTED] left"),
            (
                "creds: Credential { pin: 1 } end",
                "creds: Credential { pin: 1 } end",
            ),
            (
                "credential: Pin { pin: 1 } end",
                "credential: [REDACTED] end",
            ),
            ("password%3Dhunter2%26x", "password%3D[REDACTED]"),
            (
                r#"Login { password: b"hunter2" }"#,
                r#"Login { password: b"[REDACTED]" }"#,
            ),
            (
                "ran mysql --password hunter2 -u root",
                "ran mysql --password [REDACTED] -u root",
            ),
            ("password hunter2", "password hunter2"),
            (
                "sent eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln upstream",
                "sent [REDACTED] upstream",
            ),
            ("keyJ eyJ alone", "keyJ eyJ alone"),
            (
                "%7B%22password%22%3A%22hunter2%22%7D",
                "%7B%22password%22%3A%22[REDACTED]%22%7D",
            ),
            (
                "Login {\n    password: Some(\n        \"hunter2\",\n    ),\n}",
                "Login {\n    password: Some(\n        \"[REDACTED]\",\n    ),\n}",
            ),
            (
                r#"[("user", "ana"), ("password", "hunter2")]"#,
                r#"[("user", "ana"), ("password", "[REDACTED]")]"#,
            ),
            (
                "key: -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- ok",
                "key: -----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY----- ok",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn authorization_cookies_and_urls_are_redacted() {
        let cases = [
            (
                "Authorization: Bearer abc.def.ghi",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "Authorization: Token t0k3n x",
                "Authorization: Token [REDACTED] x",
            ),
            (
                "authorization=Basic dXNlcjpwYXNz",
                "authorization=Basic [REDACTED]",
            ),
            ("Authorization: raw-credential", "Authorization: [REDACTED]"),
            (
                "Authorization: Digest username=\"ana\", response=\"6629fae4\"\nnext",
                "Authorization: Digest [REDACTED]\nnext",
            ),
            (
                "sent bearer xyz987 upstream",
                "sent bearer [REDACTED] upstream",
            ),
            (
                "Cookie: sid=1; theme=dark\nnext",
                "Cookie: [REDACTED]\nnext",
            ),
            ("Set-Cookie: id=a3fWa; Path=/", "Set-Cookie: [REDACTED]"),
            (
                "dial postgres://ana:pa55@db:5432/app failed",
                "dial postgres://ana:[REDACTED]@db:5432/app failed",
            ),
            (
                "clone https://ghp_x1@github.com/o/r",
                "clone https://[REDACTED]@github.com/o/r",
            ),
            (
                "see https://example.com:8080/a?b=c",
                "see https://example.com:8080/a?b=c",
            ),
            (
                "?access_token=a1&refresh_token=b2&x=1",
                "?access_token=[REDACTED]&refresh_token=[REDACTED]&x=1",
            ),
            (
                "client_secret=c passphrase=p private_key=k",
                "client_secret=[REDACTED] passphrase=[REDACTED] private_key=[REDACTED]",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn paths_end_values_at_a_segment() {
        let path = Scan {
            cut: false,
            path: true,
        };
        assert_eq!(
            redact_secrets("/reset/password=hunter2/confirm", path),
            "/reset/password=[REDACTED]/confirm"
        );
        assert_eq!(
            redact_secrets("/login;jsessionid=A1B2C3", path),
            "/login;jsessionid=[REDACTED]"
        );
        assert!(matches!(
            redact_secrets("/accounts/7/balance", path),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_cut_text_redacts_what_runs_to_its_end() {
        let cut = Scan {
            cut: true,
            path: false,
        };
        assert_eq!(
            redact_secrets("dsn postgres://ana:pa", cut),
            "dsn postgres://ana:[REDACTED]"
        );
        assert_eq!(
            redact_secrets("dsn postgres://ana:pa", Scan::default()),
            "dsn postgres://ana:pa"
        );
        assert_eq!(
            redact_secrets(r#"password="hun"#, cut),
            r#"password="[REDACTED]"#
        );
    }

    #[test]
    fn redaction_is_idempotent() {
        for text in [
            "password=hunter2",
            r#"{"token":"x"}"#,
            "secret: [1]",
            "postgres://a:b@h/d",
            "Authorization: Bearer x",
        ] {
            let once = redact(text);
            assert_eq!(redact(&once), once, "{text}");
        }
    }

    #[test]
    fn a_value_on_the_next_line_indented_is_the_keys() {
        let cases = [
            ("password:\n   hunter2", "password:\n   [REDACTED]"),
            ("password:\r\n\thunter2 x", "password:\r\n\t[REDACTED] x"),
            ("password =\n  hunter2", "password =\n  [REDACTED]"),
            (
                "db:\n  password:  \n    \"two words\"\n  user: ana",
                "db:\n  password:  \n    \"[REDACTED]\"\n  user: ana",
            ),
            // Not indented more than the key's line: the next key, not a value.
            ("password:\nuser: ana", "password:\nuser: ana"),
            ("  password:\n  user: ana", "  password:\n  user: ana"),
            // Blank lines before the value are skipped (YAML's rule); blanks alone are no value.
            ("password:\n\n  x", "password:\n\n  [REDACTED]"),
            (
                "password:\r\n  \r\n\t x y",
                "password:\r\n  \r\n\t [REDACTED] y",
            ),
            ("password:\n   ", "password:\n   "),
            ("password:\n\n", "password:\n\n"),
            // A line continuation: the value is on the next line.
            ("password = \\\n  hunter2", "password = \\\n  [REDACTED]"),
            // A YAML block scalar: every line indented under the key.
            (
                "secret: |\n  line one\n\n  line two\nuser: ana",
                "secret: |\n  [REDACTED]\nuser: ana",
            ),
            (
                "db:\n  password: >-\r\n    folded\r\n    text\r\n  user: ana\n",
                "db:\n  password: >-\r\n    [REDACTED]\r\n  user: ana\n",
            ),
            ("token: |+2\n   x\n", "token: |+2\n   [REDACTED]\n"),
            // A `|` with nothing indented under it is the value itself.
            ("password: |\nuser: ana", "password: [REDACTED]\nuser: ana"),
            ("password: |x", "password: [REDACTED]"),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text:?}");
        }
    }

    #[test]
    fn an_xml_element_named_by_a_key_has_its_text_redacted() {
        let cases = [
            (
                "<user>ana</user><password>hunter2</password>",
                "<user>ana</user><password>[REDACTED]</password>",
            ),
            (
                "<wsse:Password Type=\"#PasswordText\">hunter 2</wsse:Password>",
                "<wsse:Password Type=\"#PasswordText\">[REDACTED]</wsse:Password>",
            ),
            (
                "<api_key><![CDATA[hunter<2>]]></api_key>",
                "<api_key><![CDATA[[REDACTED]]]></api_key>",
            ),
            ("<token>abc", "<token>[REDACTED]"),
            // Empty, self-closing, or not an element: nothing to redact.
            (
                "<password></password><secret/>",
                "<password></password><secret/>",
            ),
            ("a <b>password</b> c", "a <b>password</b> c"),
            ("x<password y", "x<password y"),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text:?}");
        }
    }

    #[test]
    fn credentials_are_recognised_by_their_form() {
        let ghp = format!("ghp_{}", "aB3".repeat(12));
        let pat = format!("github_pat_{}", "a_B3".repeat(21));
        let cases = [
            (
                "aws AKIAIOSFODNN7EXAMPLE ok".to_owned(),
                "aws AKIA[REDACTED] ok",
            ),
            (format!("clone with {ghp}."), "clone with ghp_[REDACTED]."),
            (format!("\"{pat}\""), "\"github_pat_[REDACTED]\""),
            (format!("pat {}", &pat[..60]), "pat github_pat_[REDACTED]"),
            (
                "slack xoxb-1234567890-1234567890123-AbCdEfGh".to_owned(),
                "slack xoxb-[REDACTED]",
            ),
            (
                "key=sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned(),
                "key=sk_live_[REDACTED]",
            ),
            (
                format!("sk-proj-{}", "Ab_-9".repeat(8)),
                "sk-proj-[REDACTED]",
            ),
            (
                "google AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI!".to_owned(),
                "google AIza[REDACTED]!",
            ),
            (
                "the task-abcdefghijklmnopqrstuvwxyz0123456789 ran".to_owned(),
                "the task-abcdefghijklmnopqrstuvwxyz0123456789 ran",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(&text), want, "{text}");
        }
    }

    #[test]
    fn a_form_inside_a_key_hides_neither() {
        // `sk-` and `sk_live_` overlap keys and each other: every match is looked at.
        assert_eq!(
            redact("risk-token=abc sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            "risk-token=[REDACTED] sk_live_[REDACTED]"
        );
    }

    #[test]
    fn disguised_keys_are_folded_and_the_original_redacted() {
        let cases = [
            (
                "pass\u{200b}word=hunter2 ok",
                "pass\u{200b}word=[REDACTED] ok",
            ),
            (
                "ｐａｓｓｗｏｒｄ=hunter2 ok",
                "ｐａｓｓｗｏｒｄ=[REDACTED] ok",
            ),
            ("ｔｏｋｅｎ＝ｈｕｎｔｅｒ２ ok", "ｔｏｋｅｎ＝[REDACTED] ok"),
            (
                "\u{feff}api\u{2060}_key: \u{200d}hunter2\u{200c} ok",
                "\u{feff}api\u{2060}_key: \u{200d}[REDACTED] ok",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text:?}");
        }
        // Text with such characters but no secret is borrowed as it is.
        for text in ["zero\u{200b}width ｆｕｌｌ", "ｱｲｳ and “quotes” — dashes"] {
            assert!(
                matches!(redact_secrets(text, Scan::default()), Cow::Borrowed(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn harmless_text_is_borrowed_unchanged() {
        for text in [
            "index out of bounds: the len is 3 but the index is 7",
            "tokens left: none",
            "called `Option::unwrap()` on a `None` value",
            "token::parse failed",
            "",
        ] {
            assert!(
                matches!(redact_secrets(text, Scan::default()), Cow::Borrowed(_)),
                "{text}"
            );
        }
    }
}
