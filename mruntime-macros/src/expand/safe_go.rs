//! `safe_go!`: spawn a future (or a closure receiving the task's context) as a guarded task.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{
    context_value, group_value, local, restart_ref, restart_static, site_ref, site_static,
};
use crate::model::{GoTask, SafeGo};

/// A future without `restart`, `group` or `context` (zero added cost):
///
/// ```text
/// { static __MRUNTIME_SITE: Site = ..; SpawnFuture::spawn_guarded(FUTURE, &__MRUNTIME_SITE) }
/// ```
///
/// Otherwise the task gets a `TaskContext`:
///
/// ```text
/// {
///     static __MRUNTIME_SITE: Site = ..;
///     static __MRUNTIME_RESTART: RestartPolicy = RestartPolicy::from_millis(..); // restart
///     let __mruntime_parent: TaskContext = TaskContext::clone(&(CONTEXT));      // context
///     let __mruntime_group: TaskGroup = TaskGroup::clone(&(GROUP));             // group
///     spawn_with_context(&__MRUNTIME_SITE, PARENT, GROUP, CLOSURE)              // |ctx| closure
///     spawn_supervised(&__MRUNTIME_SITE, &__MRUNTIME_RESTART, PARENT, GROUP, CLOSURE) // restart
///     TaskFactory::__spawn_supervised(VALUE, &__MRUNTIME_SITE, ..)   // restart, not a closure
///     { let __mruntime_future = FUTURE;                                         // a future with
///       spawn_with_context(&__MRUNTIME_SITE, PARENT, GROUP, move |_| __mruntime_future) } // group/context
/// }
/// ```
///
/// `CONTEXT` and `GROUP` are evaluated first (in that order), then the future or closure. The
/// call is spanned at the future or closure, so "not `Send`", "not `'static`" and "not a
/// closure" errors point there.
pub(crate) fn safe_go(model: &SafeGo) -> TokenStream {
    let site = site_static(&model.site);
    let site_ref = site_ref();
    if let (GoTask::Future(future), None, None, None) =
        (&model.task, &model.restart, &model.group, &model.context)
    {
        return quote_spanned! {future.span()=>
            {
                #site
                ::mruntime::__private::SpawnFuture::spawn_guarded(#future, #site_ref)
            }
        };
    }

    let restart = model.restart.as_ref().map(restart_static);
    let (parent_let, parent) = match &model.context {
        Some(expr) => {
            let parent = local("__mruntime_parent");
            let value = context_value(expr);
            (
                quote!(let #parent: ::mruntime::__private::TaskContext = #value;),
                quote!(::core::option::Option::Some(&#parent)),
            )
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    };
    let (group_let, group) = match &model.group {
        Some(expr) => {
            let group = local("__mruntime_group");
            let value = group_value(TokenStream::new(), expr);
            (
                quote!(let #group: ::mruntime::__private::TaskGroup = #value;),
                quote!(::core::option::Option::Some(&#group)),
            )
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    };
    let spawn = match (&model.task, &model.restart) {
        (GoTask::Future(future), _) => {
            let value = local("__mruntime_future");
            let spawn = quote_spanned! {future.span()=>
                ::mruntime::__private::spawn_with_context(
                    #site_ref, #parent, #group, move |_| #value,
                )
            };
            quote!(let #value = #future; #spawn)
        }
        (GoTask::WithContext(closure), None) => quote_spanned! {closure.span()=>
            ::mruntime::__private::spawn_with_context(#site_ref, #parent, #group, #closure)
        },
        (GoTask::WithContext(factory), Some(restart)) => {
            let restart_ref = restart_ref(restart);
            if let syn::Expr::Closure(_) = factory {
                // A closure: the `FnMut(TaskContext)` bound tells rustc its argument's type,
                // and a closure that moves a capture out gets rustc's own "clone it" advice.
                quote_spanned! {factory.span()=>
                    ::mruntime::__private::spawn_supervised(
                        #site_ref, #restart_ref, #parent, #group, #factory,
                    )
                }
            } else {
                // Any other value (a future, by mistake): an error in `TaskFactory`'s words.
                quote_spanned! {factory.span()=>
                    ::mruntime::TaskFactory::__spawn_supervised(
                        #factory, #site_ref, #restart_ref, #parent, #group,
                    )
                }
            }
        }
    };
    quote! {
        {
            #site
            #restart
            #parent_let
            #group_let
            #spawn
        }
    }
}
