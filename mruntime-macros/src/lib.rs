//! Procedural macros for mruntime. Use them through the `mruntime` crate.
#![allow(missing_docs)]
use proc_macro::TokenStream;

#[proc_macro_attribute]
pub fn recover(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

#[proc_macro_attribute]
pub fn safe_task(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

#[proc_macro]
pub fn safe_go(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
