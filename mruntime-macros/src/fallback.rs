//! What to emit when a macro reports errors: the user's item as close to intended as possible,
//! plus the errors, so that no secondary error appears and IDEs keep working on the item.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Expr;

use crate::args::MacroKind;
use crate::expand;
use crate::item;
use crate::validate;

/// The item unchanged, then the errors (`#[recover]`: the signature does not change, so callers
/// type-check exactly as they will once the errors are fixed).
pub(crate) fn unchanged(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut tokens = item;
    tokens.extend(error.into_compile_error());
    tokens
}

/// `#[safe_task]`: the function with the signature it would have (so callers see the
/// `TaskHandle`), whose body type-checks the user's code without spawning it (a borrowed
/// argument would otherwise add borrow errors to the one reported).
pub(crate) fn safe_task(item: TokenStream, error: syn::Error) -> TokenStream {
    let Ok(func) = item::parse(MacroKind::SafeTask, item.clone()) else {
        return unchanged(item, error);
    };
    let ret = validate::ret_of(&func.sig.output);
    let (sig, rebind) = expand::task_signature(&func.sig, &ret);
    let body = expand::typed_body(&ret, rebind, &func.block);
    let unchecked = match func.sig.asyncness {
        Some(_) => quote!(async move #body),
        None => quote!(move || #body),
    };
    let (attrs, inner_attrs, vis) = (&func.outer_attrs, &func.inner_attrs, &func.vis);
    let errors = error.into_compile_error();
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            let _ = #unchecked;
            ::core::unreachable!("#[safe_task] reported compile errors")
        }
        #errors
    }
}

/// `safe_go!`: the spawn as it would be (so the handle has its type) with a placeholder site,
/// then the errors; with no future, only the errors. A closure is spawned as one receiving the
/// task's context (called once per attempt with `restart`), a future as a future.
pub(crate) fn safe_go(future: Option<Expr>, restart: bool, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    let site = quote! {
        static __MRUNTIME_SITE: ::mruntime::__private::Site = ::mruntime::__private::Site::new(
            "", "", ::mruntime::__private::PanicPolicy::KeepRunning,
        );
    };
    match future {
        // `|| async { .. }` (the error says it needs `|ctx|`): its future, run once.
        Some(Expr::Closure(closure)) if closure.inputs.is_empty() => quote! {
            {
                #errors
                #site
                ::mruntime::__private::spawn(&__MRUNTIME_SITE, (#closure)())
            }
        },
        Some(Expr::Closure(closure)) if closure.inputs.len() > 1 => quote!({ #errors }),
        Some(Expr::Closure(closure)) if restart => quote! {
            {
                #errors
                #site
                static __MRUNTIME_RESTART: ::mruntime::__private::RestartPolicy =
                    ::mruntime::__private::RestartPolicy::from_millis(0, 1, 0, 0);
                ::mruntime::__private::spawn_supervised(
                    &__MRUNTIME_SITE, &__MRUNTIME_RESTART,
                    ::core::option::Option::None, ::core::option::Option::None, #closure,
                )
            }
        },
        Some(Expr::Closure(closure)) => quote! {
            {
                #errors
                #site
                ::mruntime::__private::spawn_with_context(
                    &__MRUNTIME_SITE,
                    ::core::option::Option::None, ::core::option::Option::None, #closure,
                )
            }
        },
        Some(future) => quote! {
            {
                #errors
                #site
                ::mruntime::__private::spawn(&__MRUNTIME_SITE, #future)
            }
        },
        None => quote!({ #errors }),
    }
}
