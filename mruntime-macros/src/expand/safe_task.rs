//! `#[safe_task]`: calling the function spawns its body as a guarded task and returns the
//! task's `TaskHandle`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::{FnArg, Pat, PatIdent, PatType, ReturnType, Signature};

use super::{output_type, site_ref, site_static, typed_body};
use crate::item::GuardedFn;
use crate::validate::{Ret, SafeTask};

/// ```text
/// #attrs #vis fn NAME(ARGS) -> ::mruntime::__private::TaskHandle<RET> {
///     static __MRUNTIME_SITE: Site = ..;
///     spawn(&__MRUNTIME_SITE, async move { ARG REBINDINGS; TYPED_BODY })      // async fn
///     spawn_blocking(&__MRUNTIME_SITE, move || { ARG REBINDINGS; TYPED_BODY }) // sync fn
/// }
/// ```
///
/// Every argument is moved into the task, as an `async fn` moves its arguments into its future:
/// an argument the body never mentions (a `_permit`, a drop guard) lives as long as the task,
/// not just until the call returns.
pub(crate) fn safe_task(model: &SafeTask) -> TokenStream {
    let GuardedFn {
        outer_attrs,
        inner_attrs,
        vis,
        block,
        ..
    } = &model.func;
    let (sig, rebind) = task_signature(&model.func.sig, &model.ret);
    let site = site_static(&model.site);
    let site_ref = site_ref();
    let body = typed_body(&model.ret, rebind, block);
    let spawn = match &model.func.sig.asyncness {
        // Errors about the task (not `Send`, not `'static`) point at `async`/`fn`.
        Some(asyncness) => quote_spanned! {asyncness.span=>
            ::mruntime::__private::spawn(#site_ref, async move #body)
        },
        None => quote_spanned! {model.func.sig.fn_token.span=>
            ::mruntime::__private::spawn_blocking(#site_ref, move || #body)
        },
    };
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #site
            #spawn
        }
    }
}

/// The signature of the expanded function (sync, returning `TaskHandle<RET>`, arguments
/// renamed where a pattern cannot be rebound) and the statements that move every argument into
/// the task.
pub(crate) fn task_signature(sig: &Signature, ret: &Ret) -> (Signature, TokenStream) {
    let mut sig = sig.clone();
    let output = output_type(ret);
    let arrow = match &sig.output {
        ReturnType::Type(arrow, _) => *arrow,
        ReturnType::Default => Default::default(),
    };
    sig.output = ReturnType::Type(
        arrow,
        Box::new(syn::parse_quote!(::mruntime::__private::TaskHandle<#output>)),
    );
    sig.asyncness = None;
    sig.constness = None;

    let mut rebind = TokenStream::new();
    let mut inputs = Punctuated::new();
    for (index, pair) in sig.inputs.pairs().enumerate() {
        let (arg, comma) = pair.into_tuple();
        let arg = match arg {
            FnArg::Typed(typed) => FnArg::Typed(move_into_task(index, typed, &mut rebind)),
            receiver @ FnArg::Receiver(_) => receiver.clone(),
        };
        inputs.push_value(arg);
        if let Some(comma) = comma {
            inputs.push_punct(*comma);
        }
    }
    sig.inputs = inputs;
    (sig, rebind)
}

/// `mut name: T` -> `name: T` + `let mut name = name;`;
/// `(a, b): (A, B)` -> `__mruntime_arg1: (A, B)` +
/// `let __mruntime_arg1 = __mruntime_arg1; let (a, b) = __mruntime_arg1;`.
fn move_into_task(index: usize, arg: &PatType, rebind: &mut TokenStream) -> PatType {
    let cfg = arg
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr"));
    let cfg: Vec<_> = cfg.collect();
    let mut arg = arg.clone();
    match &*arg.pat {
        Pat::Ident(PatIdent {
            by_ref: None,
            subpat: None,
            mutability,
            ident,
            ..
        }) => {
            // The parameter keeps its name (for docs) with the macro's hygiene; the body sees
            // the user's binding, which lives as long as the task even if the body never reads
            // it (a `_permit`), as in an `async fn`.
            let param = Ident::new(
                &ident.to_string(),
                Span::mixed_site().located_at(ident.span()),
            );
            rebind.extend(quote! {
                #(#cfg)*
                #[allow(clippy::no_effect_underscore_binding)]
                let #mutability #ident = #param;
            });
            arg.pat = Box::new(Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: param,
                subpat: None,
            }));
        }
        pat => {
            let name = format_ident!("__mruntime_arg{}", index, span = Span::mixed_site());
            rebind.extend(quote!(#(#cfg)* let #name = #name;));
            // `_` binds nothing: the value stays in `#name` until the task ends.
            if !matches!(pat, Pat::Wild(_)) {
                rebind.extend(quote!(#(#cfg)* let #pat = #name;));
            }
            arg.pat = Box::new(Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: name,
                subpat: None,
            }));
        }
    }
    arg
}
