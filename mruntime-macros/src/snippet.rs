//! Tokens as the user would write them, for messages: `&'a str`, `Cow<'a, str>`,
//! `mruntime::PanicPolicy::CrashProcess`, `impl Fn(&str) -> usize + Send`. The one printer of
//! types and paths in this crate (`TokenStream`'s `Display` spaces every token).

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;

/// `tokens` printed compactly, spaced as rustfmt would.
pub(crate) fn snippet(tokens: &dyn ToTokens) -> String {
    let mut printer = Printer::default();
    printer.stream(tokens.to_token_stream());
    printer.out
}

#[derive(Default)]
struct Printer {
    out: String,
    /// The last token was a word (an identifier or a literal): a word after it needs a space.
    after_word: bool,
    /// Punctuation of the operator being printed (`-` of `->`).
    operator: String,
}

/// Operators spaced on both sides; any other punctuation is printed tight.
const SPACED: &[&str] = &["=", "+", "->", "=>", "|", ".."];

impl Printer {
    fn stream(&mut self, tokens: TokenStream) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(ident) => self.word(&ident.to_string()),
                TokenTree::Literal(literal) => self.word(&literal.to_string()),
                TokenTree::Punct(punct) => {
                    self.operator.push(punct.as_char());
                    if punct.spacing() == Spacing::Alone || punct.as_char() == '\'' {
                        self.end_operator();
                    }
                }
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{ ", " }"),
                        Delimiter::None => ("", ""),
                    };
                    // `mut [u8]`, `&mut (A, B)`; but `fn(&str)`, `Fn(u8)`.
                    let last_word = self
                        .out
                        .rsplit(|c: char| !c.is_alphanumeric() && c != '_')
                        .next();
                    let keyword = last_word.is_some_and(|word| {
                        ["mut", "dyn", "impl", "const", "as", "in"].contains(&word)
                    });
                    let bracket = group.delimiter() == Delimiter::Bracket;
                    if self.after_word && (keyword || bracket) {
                        self.out.push(' ');
                    }
                    self.out.push_str(open);
                    self.after_word = false;
                    self.stream(group.stream());
                    self.out.push_str(close);
                    self.after_word = group.delimiter() == Delimiter::None && self.after_word;
                }
            }
        }
    }

    fn word(&mut self, word: &str) {
        if self.after_word {
            self.out.push(' ');
        }
        self.out.push_str(word);
        self.after_word = true;
    }

    fn end_operator(&mut self) {
        let operator = std::mem::take(&mut self.operator);
        if SPACED.contains(&operator.as_str()) {
            self.out.push(' ');
            self.out.push_str(&operator);
            self.out.push(' ');
        } else {
            self.out.push_str(&operator);
            if operator == "," || operator == ";" {
                self.out.push(' ');
            }
        }
        self.after_word = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> String {
        snippet(&syn::parse_str::<syn::Type>(text).unwrap())
    }

    #[test]
    fn types_print_as_written() {
        for text in [
            "&str",
            "&'a str",
            "&'static mut [u8]",
            "Cow<'a, str>",
            "Vec<&str>",
            "(u32, &'static str, &u8)",
            "Box<dyn Error + 'a>",
            "impl Future<Output = ()> + 'a",
            "fn(&str) -> &str",
            "mruntime::TaskContext",
            "&mut Vec<u8>",
            "&mut (u8, u16)",
            "HashMap<String, Vec<u8>>",
        ] {
            assert_eq!(ty(text), text);
        }
    }

    #[test]
    fn paths_and_receivers() {
        let path: syn::Path = syn::parse_str("mruntime :: PanicPolicy :: CrashProcess").unwrap();
        assert_eq!(snippet(&path), "mruntime::PanicPolicy::CrashProcess");
        let receiver: syn::Receiver = syn::parse_str("&'a mut self").unwrap();
        assert_eq!(snippet(&receiver), "&'a mut self");
    }
}
