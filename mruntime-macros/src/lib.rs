//! Procedural macros for [mruntime](https://docs.rs/mruntime): `#[recover]`, `#[safe_task]` and
//! `safe_go!`. Use them through the `mruntime` crate, which documents them and provides the
//! `__private` functions they expand to.
//!
//! Each macro runs the same stages: [`args`] reads the arguments, [`validate`] checks them
//! against the item (and [`panicguard`] checks the body), [`expand`] generates the code and
//! cannot fail, and on any error [`fallback`] emits the item as close to intended as possible
//! next to every error found, reported together.

use proc_macro::TokenStream;

mod args;
mod errors;
mod expand;
mod fallback;
mod item;
mod panicguard;
mod validate;

use args::MacroKind;

/// Guards a function: a panic in it is caught, reported once, then handled by the policy.
/// Documented on `mruntime::recover`.
#[proc_macro_attribute]
pub fn recover(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let (args, errors) = args::parse(MacroKind::Recover, args.into());
    match validate::recover(args, errors, item.clone()) {
        Ok(model) => expand::recover(&model),
        Err(error) => fallback::unchanged(item, error),
    }
    .into()
}

/// Makes a function spawn its body as a guarded task and return its `TaskHandle`.
/// Documented on `mruntime::safe_task`.
#[proc_macro_attribute]
pub fn safe_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let (args, errors) = args::parse(MacroKind::SafeTask, args.into());
    match validate::safe_task(args, errors, item.clone()) {
        Ok(model) => expand::safe_task(&model),
        Err(error) => fallback::safe_task(item, error),
    }
    .into()
}

/// Spawns a future as a guarded task, in place of a bare `tokio::spawn`.
/// Documented on `mruntime::safe_go`.
#[proc_macro]
pub fn safe_go(input: TokenStream) -> TokenStream {
    let (args, errors) = args::parse(MacroKind::SafeGo, input.into());
    let future = args.future.clone();
    match validate::safe_go(args, errors) {
        Ok(model) => expand::safe_go(&model),
        Err(error) => fallback::safe_go(future, error),
    }
    .into()
}
