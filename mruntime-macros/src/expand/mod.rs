//! Code generation. Every function here takes a validated model and cannot fail.
//!
//! Generated code names only `::mruntime::__private::..` and `::core::..`; its locals are
//! `__mruntime_*` idents with `Span::mixed_site()` hygiene, so the user's code can neither see
//! nor clash with them. The user's own tokens keep their spans, so type errors and lints land on
//! the user's code.

mod recover;
mod safe_go;
mod safe_task;

pub(crate) use recover::recover;
pub(crate) use safe_go::safe_go;
pub(crate) use safe_task::{safe_task, task_signature};

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Expr, GenericArgument, PathArguments, Signature, Type};

use crate::model::{GuardedFn, Label, Policy, Restart, Ret, Site};

/// The name of the `static` every expansion declares for its site.
const SITE: &str = "__MRUNTIME_SITE";

/// The name of the `static` an expansion with `restart(..)` declares for its policy.
const RESTART: &str = "__MRUNTIME_RESTART";

/// The user's function again with `sig` and `body` in place of its own: its outer attributes
/// (then `attrs`), its visibility, and its inner attributes first in the body.
fn user_fn(
    func: &GuardedFn,
    attrs: TokenStream,
    sig: &Signature,
    body: TokenStream,
) -> TokenStream {
    let GuardedFn {
        outer_attrs,
        inner_attrs,
        vis,
        ..
    } = func;
    quote! {
        #(#outer_attrs)*
        #attrs
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    }
}

/// `static __MRUNTIME_SITE: Site = Site::new("component", "name", PanicPolicy::KeepRunning);`
///
/// The policy is always written by its canonical path. A path the user wrote
/// (`policy = PanicPolicy::CrashProcess`) is type-checked next to it, so that a path naming
/// something else is an error at the user's tokens and the user's import of it is used.
fn site_static(site: &Site) -> TokenStream {
    let static_name = Ident::new(SITE, Span::call_site());
    let (component, component_check) = label(&site.component, "component");
    let (name, name_check) = label(&site.name, "name");
    let policy = match site.policy {
        Policy::KeepRunning => quote!(KeepRunning),
        Policy::CrashProcess => quote!(CrashProcess),
    };
    let policy_check = site
        .policy_path
        .as_ref()
        .map(|path| quote!(const _: ::mruntime::__private::PanicPolicy = #path;));
    quote! {
        static #static_name: ::mruntime::__private::Site = ::mruntime::__private::Site::new(
            #component,
            #name,
            ::mruntime::__private::PanicPolicy::#policy,
        );
        #policy_check
        #component_check
        #name_check
    }
}

/// A label's value in the site; for a constant, the constant typed `&'static str` (a mismatch
/// is reported there, once) and the compile-time check that it is not empty (a literal was
/// checked when parsed), spanned at the user's path.
fn label(label: &Label, key: &str) -> (TokenStream, TokenStream) {
    match label {
        Label::Text(text) => (
            Literal::string(text).into_token_stream(),
            TokenStream::new(),
        ),
        Label::Const(path) => {
            let value = Ident::new(
                &format!("__MRUNTIME_{}", key.to_uppercase()),
                Span::mixed_site(),
            );
            let message = Literal::string(&format!(
                "`{key}` must not be empty: it labels every report and metric"
            ));
            let check = quote_spanned! {path.span()=>
                const #value: &'static str = #path;
                const _: () = ::core::assert!(!#value.trim_ascii().is_empty(), #message);
            };
            (value.into_token_stream(), check)
        }
    }
}

/// `&__MRUNTIME_SITE`.
fn site_ref() -> TokenStream {
    let static_name = Ident::new(SITE, Span::call_site());
    quote!(&#static_name)
}

/// `static __MRUNTIME_RESTART: RestartPolicy = RestartPolicy::from_millis(max, within, first, second);`
///
/// The values were checked when parsed (`within >= 1`, `first <= second`), so the const
/// assertions of `from_millis` hold.
fn restart_static(restart: &Restart) -> TokenStream {
    let static_name = Ident::new(RESTART, Span::call_site());
    let max = Literal::u32_unsuffixed(restart.max);
    let within = Literal::u64_unsuffixed(restart.within_ms);
    let first = Literal::u64_unsuffixed(restart.first_ms);
    let second = Literal::u64_unsuffixed(restart.second_ms);
    quote_spanned! {restart.span=>
        static #static_name: ::mruntime::__private::RestartPolicy =
            ::mruntime::__private::RestartPolicy::from_millis(#max, #within, #first, #second);
    }
}

/// `&__MRUNTIME_RESTART`.
fn restart_ref(_restart: &Restart) -> TokenStream {
    let static_name = Ident::new(RESTART, Span::call_site());
    quote!(&#static_name)
}

/// `group = EXPR`, as an owned `TaskGroup` (a handle: cloning it is one reference count):
///
/// ```text
/// { PRELUDE; let __mruntime_group: &TaskGroup = &(EXPR); <TaskGroup as Clone>::clone(__mruntime_group) }
/// ```
///
/// Deref coercion accepts a `TaskGroup`, a `&TaskGroup`, an `Arc<TaskGroup>` or a
/// `LazyLock<TaskGroup>` static; any other type is a mismatch at `EXPR`. Owning the handle
/// ends the borrow of whatever `EXPR` reads (`self.workers`) before the task's body moves it.
fn group_value(prelude: TokenStream, expr: &Expr) -> TokenStream {
    owned_handle(prelude, expr, "__mruntime_group", "TaskGroup")
}

/// `context = EXPR` (`safe_go!`): the parent `TaskContext`, owned, as for [`group_value`].
fn context_value(expr: &Expr) -> TokenStream {
    owned_handle(TokenStream::new(), expr, "__mruntime_parent", "TaskContext")
}

fn owned_handle(prelude: TokenStream, expr: &Expr, name: &str, ty: &str) -> TokenStream {
    let borrowed = local(name);
    // Spanned at the expression: a mismatch points there, "expected `&TaskGroup`".
    let span = expr.span();
    let ty = Ident::new(ty, span);
    let check = quote_spanned! {span=>
        let #borrowed: &::mruntime::__private::#ty = &(#expr);
    };
    quote! {
        {
            #prelude
            #check
            <::mruntime::__private::#ty as ::core::clone::Clone>::clone(#borrowed)
        }
    }
}

/// A local of the generated code.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The type a task or closure yields for `ret`: `()`, `Infallible` for `!` (which cannot be
/// written as a type argument on stable), or the declared type.
fn output_type(ret: &Ret) -> TokenStream {
    match ret {
        Ret::Unit => quote!(()),
        Ret::Never => quote!(::core::convert::Infallible),
        Ret::Type(ty) => ty.to_token_stream(),
    }
}

/// The user's body as the block of a closure or async block that yields [`output_type`]:
///
/// ```text
/// {
///     PRELUDE
///     if let Some(__mruntime_ret) = None::<RET> { return __mruntime_ret; }
///     BODY
/// }
/// ```
///
/// The unreachable `return` (the "return edge") fixes the closure's return type to the
/// function's before the body is checked, so an early `return` or `?` in the body coerces and
/// infers as in the user's function, and a mismatched tail is reported at the user's tail
/// expression. `impl Trait` cannot be written there and is replaced by `_`. The body stays the
/// tail (not a `let` initializer), so a body that diverges is not a diverging sub-expression.
pub(crate) fn typed_body(ret: &Ret, prelude: TokenStream, block: &Block) -> TokenStream {
    let (ty, span) = match ret {
        Ret::Type(ty) => (erase_impl_trait(ty), ty.span()),
        other => (output_type(other), block.brace_token.span.open()),
    };
    let value = local("__mruntime_ret");
    // Spanned at the return type: "return type inferred to be `T` here" points at it.
    let returned = Ident::new("__mruntime_ret", Span::mixed_site().located_at(span));
    let return_edge = quote_spanned!(span=> return #returned;);
    let block = user_block(block);
    quote! {
        {
            #prelude
            if let ::core::option::Option::Some(#value) = ::core::option::Option::None::<#ty> {
                #return_edge
            }
            #block
        }
    }
}

/// The user's block, its braces marked as the macro's (at the same place): as the tail of the
/// generated block they would otherwise draw `unused_braces` on a one-line body, with a fix
/// (`fn f() -> T expr`) that does not compile. The statements keep their spans and lints.
fn user_block(block: &Block) -> Group {
    let stmts = &block.stmts;
    let mut group = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
    group.set_span(Span::mixed_site().located_at(block.brace_token.span.join()));
    group
}

/// `Result<impl Display, E>` -> `Result<_, E>`.
fn erase_impl_trait(ty: &Type) -> TokenStream {
    let mut ty = ty.clone();
    erase(&mut ty);
    ty.into_token_stream()
}

fn erase(ty: &mut Type) {
    match ty {
        Type::ImplTrait(impl_trait) => {
            let underscore = syn::Token![_](impl_trait.impl_token.span);
            *ty = Type::Infer(syn::TypeInfer {
                attrs: Vec::new(),
                underscore_token: underscore,
            });
        }
        Type::Array(inner) => erase(&mut inner.elem),
        Type::Group(inner) => erase(&mut inner.elem),
        Type::Paren(inner) => erase(&mut inner.elem),
        Type::Ptr(inner) => erase(&mut inner.elem),
        Type::Reference(inner) => erase(&mut inner.elem),
        Type::Slice(inner) => erase(&mut inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(erase),
        Type::Path(path) => {
            for segment in &mut path.path.segments {
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        match arg {
                            GenericArgument::Type(ty) => erase(ty),
                            GenericArgument::AssocType(assoc) => erase(&mut assoc.ty),
                            _ => {}
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
