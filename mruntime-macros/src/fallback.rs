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
/// then the errors; with no future, only the errors.
pub(crate) fn safe_go(future: Option<Expr>, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    match future {
        Some(future) => quote! {
            {
                #errors
                static __MRUNTIME_SITE: ::mruntime::__private::Site = ::mruntime::__private::Site::new(
                    "", "", ::mruntime::__private::PanicPolicy::KeepRunning,
                );
                ::mruntime::__private::spawn(&__MRUNTIME_SITE, #future)
            }
        },
        None => quote!({ #errors }),
    }
}
