//! The item under `#[recover]` or `#[safe_task]`: a function with a body, read piece by piece so
//! that the expansion can re-emit the user's attributes, visibility and signature unchanged.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Block, Expr, ExprAsync, Item, Signature, Token, Visibility, braced};

use crate::model::{GuardedFn, MacroKind};

/// What the attribute is on.
pub(crate) enum Parsed {
    /// A function with a body.
    Fn(Box<GuardedFn>),
    /// Something the attribute cannot go on, and why.
    NotAFunction(syn::Error),
    /// Not Rust syntax at all (a syntax error in the body, an attribute on a statement): rustc
    /// reports it once the item is emitted untouched, so the macro adds nothing.
    SyntaxError,
}

impl Parsed {
    /// Reads `item` for `kind`.
    pub(crate) fn new(kind: MacroKind, item: TokenStream) -> Parsed {
        match parse(kind, item.clone()) {
            Ok(func) => Parsed::Fn(Box::new(func)),
            Err(_) if syn::parse2::<Item>(item).is_err() => Parsed::SyntaxError,
            Err(error) => Parsed::NotAFunction(error),
        }
    }
}

/// Reads the item as a function with a body, or explains why `kind` cannot go on it.
pub(crate) fn parse(kind: MacroKind, item: TokenStream) -> syn::Result<GuardedFn> {
    match syn::parse2::<FnItem>(item.clone()) {
        Ok(FnItem {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            body: Some(block),
        }) => Ok(GuardedFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            block,
        }),
        Ok(FnItem {
            sig, body: None, ..
        }) => Err(syn::Error::new_spanned(
            &sig,
            format!(
                "{} needs a function with a body; on a trait, put it on the method of each impl \
                 (or give the trait method a default body)",
                kind.display()
            ),
        )),
        Err(error) => match syn::parse2::<Item>(item) {
            Ok(Item::Fn(_) | Item::Verbatim(_)) | Err(_) => Err(error),
            Ok(other) => Err(not_a_function(kind, &other)),
        },
    }
}

/// `async move { .. }` or `Box::pin(async move { .. })`: the async block.
pub(crate) fn returned_async_block(expr: &Expr) -> Option<&ExprAsync> {
    match expr {
        Expr::Async(block) => Some(block),
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                return None;
            };
            let mut segments = func.path.segments.iter().rev();
            let is_box_pin = segments.next().is_some_and(|s| s.ident == "pin")
                && segments.next().is_some_and(|s| s.ident == "Box");
            match (is_box_pin, call.args.first()) {
                (true, Some(Expr::Async(block))) if call.args.len() == 1 => Some(block),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The error for an attribute put on something other than a function.
fn not_a_function(kind: MacroKind, item: &Item) -> syn::Error {
    let (what, tokens) = match item {
        Item::Struct(item) => (
            "a struct",
            keyword_and_name(&item.struct_token, &item.ident),
        ),
        Item::Enum(item) => ("an enum", keyword_and_name(&item.enum_token, &item.ident)),
        Item::Union(item) => ("a union", keyword_and_name(&item.union_token, &item.ident)),
        Item::Trait(item) => ("a trait", keyword_and_name(&item.trait_token, &item.ident)),
        Item::Impl(item) => ("an impl block", item.impl_token.to_token_stream()),
        Item::Mod(item) => ("a module", keyword_and_name(&item.mod_token, &item.ident)),
        Item::Const(item) => ("a const", keyword_and_name(&item.const_token, &item.ident)),
        Item::Static(item) => (
            "a static",
            keyword_and_name(&item.static_token, &item.ident),
        ),
        Item::Type(item) => (
            "a type alias",
            keyword_and_name(&item.type_token, &item.ident),
        ),
        Item::Use(item) => ("a use declaration", item.use_token.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    };
    let hint = match item {
        Item::Impl(_) | Item::Trait(_) => "; put it on each method instead",
        _ => "",
    };
    syn::Error::new_spanned(
        tokens,
        format!(
            "{} can only be applied to a function (sync or async, with a body), not to {what}{hint}",
            kind.display()
        ),
    )
}

/// `struct Name`: the tokens an error about an item points at.
fn keyword_and_name(keyword: &dyn ToTokens, name: &dyn ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// `attrs vis sig { inner_attrs stmts }` or `attrs vis sig;`.
struct FnItem {
    outer_attrs: Vec<Attribute>,
    inner_attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: Option<Block>,
}

impl Parse for FnItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            return Ok(FnItem {
                outer_attrs,
                inner_attrs: Vec::new(),
                vis,
                sig,
                body: None,
            });
        }
        let content;
        let brace_token = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts = content.call(Block::parse_within)?;
        Ok(FnItem {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            body: Some(Block { brace_token, stmts }),
        })
    }
}
