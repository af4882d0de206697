//! `#[recover]`: the function keeps its signature; its body runs guarded.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Stmt, Type};

use super::{local, site_ref, site_static, typed_body, user_fn};
use crate::item::returned_async_block;
use crate::model::{Policy, Recover, RecoverBody, Ret};

/// ```text
/// #attrs #vis #sig {
///     static __MRUNTIME_SITE: Site = ..;
///     match guard_sync(&__MRUNTIME_SITE, move || TYPED_BODY) {          // sync fn
///     match guard_async(&__MRUNTIME_SITE, async move TYPED_BODY).await { // async fn
///         Ok(value) => value,
///         Err(panicked) => from_panic(panicked) | (on_panic)(panicked) | crashed(panicked),
///     }
/// }
/// ```
///
/// A sync function that returns `Box::pin(async move { .. })` (what `#[async_trait]` writes)
/// or `async move { .. }` keeps its body, and that async block is guarded instead. A function
/// returning `impl Stream` becomes `guard_stream_sync(&SITE, move || BODY)` (or
/// `guard_stream_async(&SITE, async move BODY).await`): the stream is guarded on every poll.
pub(crate) fn recover(model: &Recover) -> TokenStream {
    let block = &model.func.block;
    let site = site_static(&model.site);
    let site_ref = site_ref();
    let body = match &model.body {
        RecoverBody::Sync => {
            let body = typed_body(&model.ret, TokenStream::new(), block);
            let guarded = quote!(::mruntime::__private::guard_sync(#site_ref, move || #body));
            outcome(model, guarded, Some(&model.ret), ret_span(model))
        }
        RecoverBody::Async => {
            let body = typed_body(&model.ret, TokenStream::new(), block);
            let guarded =
                quote!(::mruntime::__private::guard_async(#site_ref, async move #body).await);
            outcome(model, guarded, Some(&model.ret), ret_span(model))
        }
        // The stream's own guard yields the last item for a panic, and applies the policy.
        RecoverBody::Stream { is_async: false } => {
            let body = typed_body(&model.ret, TokenStream::new(), block);
            quote!(::mruntime::__private::guard_stream_sync(#site_ref, move || #body))
        }
        RecoverBody::Stream { is_async: true } => {
            let body = typed_body(&model.ret, TokenStream::new(), block);
            quote!(::mruntime::__private::guard_stream_async(#site_ref, async move #body).await)
        }
        RecoverBody::ReturnsAsyncBlock { stmt, output } => {
            let stmts = block
                .stmts
                .iter()
                .enumerate()
                .map(|(index, statement)| match statement {
                    Stmt::Expr(expr, None) if index == *stmt => {
                        let span = output.as_ref().map_or_else(|| expr.span(), Spanned::span);
                        guard_returned_future(model, expr, output.as_deref(), span)
                    }
                    other => other.to_token_stream(),
                });
            quote!(#(#stmts)*)
        }
    };
    user_fn(
        &model.func,
        TokenStream::new(),
        &model.func.sig,
        quote!(#site #body),
    )
}

/// Where a return type without a value for a panic is reported: the return type itself.
fn ret_span(model: &Recover) -> Span {
    match &model.func.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => model.func.sig.ident.span(),
    }
}

/// `Box::pin(async move { BODY })` -> `Box::pin(async move { match guard_async(..,
/// async move { BODY }).await { .. } })`.
fn guard_returned_future(
    model: &Recover,
    expr: &Expr,
    output: Option<&Type>,
    span: Span,
) -> TokenStream {
    let Some(future) = returned_async_block(expr) else {
        return expr.to_token_stream();
    };
    let site_ref = site_ref();
    let (attrs, async_token, capture, block) = (
        &future.attrs,
        &future.async_token,
        &future.capture,
        &future.block,
    );
    let guarded =
        quote!(::mruntime::__private::guard_async(#site_ref, #async_token #capture #block).await);
    let output = output.map(|ty| Ret::Type(Box::new(ty.clone())));
    let outcome = outcome(model, guarded, output.as_ref(), span);
    let guarded_future = quote!(#(#attrs)* #async_token #capture { #outcome });
    match expr {
        Expr::Call(call) => {
            let func = &call.func;
            quote!(#func(#guarded_future))
        }
        _ => guarded_future,
    }
}

/// What a `KeepRunning` function without `on_panic` returns after a panic, written with the
/// user's own type tokens so that an unsupported type is an error at that type:
/// `Err(<E as RecoverError>::from_panicked(p))` for `Result<T, E>` (the error is then at `E`),
/// `<TYPE as FromPanic>::from_panic(p)` for any other type.
fn value_for_panic(yields: Option<&Ret>, panicked: &Ident, ret_span: Span) -> TokenStream {
    match yields {
        Some(Ret::Type(ty)) => match result_error(ty) {
            Some(error) => {
                let error = super::erase_impl_trait(error);
                quote! {
                    ::core::result::Result::Err(
                        <#error as ::mruntime::RecoverError>::from_panicked(#panicked)
                    )
                }
            }
            None => {
                let ty = super::erase_impl_trait(ty);
                quote!(<#ty as ::mruntime::FromPanic>::from_panic(#panicked))
            }
        },
        Some(Ret::Unit) => quote!(<() as ::mruntime::FromPanic>::from_panic(#panicked)),
        Some(Ret::Never) | None => {
            quote_spanned!(ret_span=> <_ as ::mruntime::FromPanic>::from_panic(#panicked))
        }
    }
}

/// `E` in `Result<T, E>` (a path ending in `Result` with two type arguments, taken to be
/// `core::result::Result`; an alias with one, `io::Result<T>`, goes through `FromPanic`).
fn result_error(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = crate::model::strip_parens(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (
        path.qself.is_none() && last.ident == "Result",
        types.next(),
        types.next(),
        types.next(),
    ) {
        (true, Some(Some(_)), Some(Some(error)), None) => Some(error),
        _ => None,
    }
}

/// `match GUARDED { Ok(value) => value, Err(panicked) => .. }`, where the guarded body yields
/// `yields` (unknown for a returned future whose `Output` the signature does not name).
fn outcome(
    model: &Recover,
    guarded: TokenStream,
    yields: Option<&Ret>,
    ret_span: Span,
) -> TokenStream {
    let value = local("__mruntime_value");
    let panicked = local("__mruntime_panicked");
    let never = matches!(yields, Some(Ret::Never));
    let on_ok = if never {
        quote!(match #value {})
    } else {
        quote!(#value)
    };
    let on_err = match (model.site.policy, &model.on_panic) {
        (Policy::CrashProcess, _) if never => quote! {
            match ::mruntime::__private::crashed::<::core::convert::Infallible>(#panicked) {}
        },
        (Policy::CrashProcess, _) => quote!(::mruntime::__private::crashed(#panicked)),
        (Policy::KeepRunning, Some(handler)) => {
            // Bound first, so a closure is not "called where it is declared"; the result is
            // typed like the body, so a handler returning the wrong type is a mismatch at the
            // handler, "expected due to" the function's return type.
            let on_panic = local("__mruntime_on_panic");
            let callee = Ident::new(
                "__mruntime_on_panic",
                Span::mixed_site().located_at(handler.span()),
            );
            let call = quote_spanned!(handler.span()=> #callee(#panicked));
            let ty = match yields {
                Some(Ret::Type(ty)) => Some(super::erase_impl_trait(ty)),
                Some(Ret::Unit) => Some(quote!(())),
                Some(Ret::Never) | None => None,
            };
            match ty {
                Some(ty) => quote!({ let #on_panic = #handler; let #value: #ty = #call; #value }),
                None => quote!({ let #on_panic = #handler; #call }),
            }
        }
        (Policy::KeepRunning, None) => value_for_panic(yields, &panicked, ret_span),
    };
    quote! {
        match #guarded {
            ::core::result::Result::Ok(#value) => #on_ok,
            ::core::result::Result::Err(#panicked) => #on_err,
        }
    }
}
