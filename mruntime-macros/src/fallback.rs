//! What to emit when a macro reports errors: the user's item as close to intended as possible,
//! plus the errors, so that no secondary error appears and IDEs keep working on the item.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Expr;

use crate::expand;
use crate::item;
use crate::model::MacroKind;
use crate::model::{GoTask, Restart, Ret, SafeGo, Site};

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
    let ret = Ret::of(&func.sig.output);
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

/// `safe_go!`: the real expansion of a placeholder model (empty labels, the default restart
/// policy), so that the handle has its type, then the errors; with no future, only the errors.
/// A closure is spawned as one receiving the task's context (called once per attempt with
/// `restart`), a future as a future, `|| async { .. }` (the error says it needs `|ctx|`) as
/// the future it makes.
pub(crate) fn safe_go(future: Option<Expr>, restart: bool, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    let task = match future {
        Some(Expr::Closure(closure)) if closure.inputs.is_empty() => {
            GoTask::Future(syn::parse_quote!((#closure)()))
        }
        Some(Expr::Closure(closure)) if closure.inputs.len() > 1 => return quote!({ #errors }),
        Some(closure @ Expr::Closure(_)) => GoTask::WithContext(closure),
        // `restart(..)` with a future (the error says it needs a closure): run it once.
        Some(future @ Expr::Async(_)) => GoTask::Future(future),
        Some(factory) if restart => GoTask::WithContext(factory),
        Some(future) => GoTask::Future(future),
        None => return quote!({ #errors }),
    };
    let restart = (restart && matches!(task, GoTask::WithContext(_)))
        .then(|| Restart::defaults(Span::call_site()));
    let model = SafeGo {
        site: Site::placeholder(),
        task,
        restart,
        group: None,
        context: None,
    };
    let spawn = expand::safe_go(&model);
    quote!({ #errors #spawn })
}
