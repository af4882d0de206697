//! `safe_go!`: spawn a future as a guarded task.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;

use super::{site_ref, site_static};
use crate::validate::SafeGo;

/// `{ static __MRUNTIME_SITE: Site = ..; ::mruntime::__private::spawn(&__MRUNTIME_SITE, FUTURE) }`
///
/// The call is spanned at the future, so "not `Send`" and "not `'static`" errors point there.
pub(crate) fn safe_go(model: &SafeGo) -> TokenStream {
    let site = site_static(&model.site);
    let site_ref = site_ref();
    let future = &model.future;
    quote_spanned! {future.span()=>
        {
            #site
            ::mruntime::__private::spawn(#site_ref, #future)
        }
    }
}
