//! [`FromPanic`]: what a `#[recover]` function returns after a recovered panic.

use crate::panic::Panicked;

/// The value a `#[recover]` function returns when it recovered a panic under
/// [`KeepRunning`](crate::PanicPolicy::KeepRunning).
///
/// Implemented for `()`, for `Option<T>` (`None`) and for `Result<T, E>` where
/// `E: From<Panicked>` (`Err(E::from(panicked))`). Implement it for your own return types, or
/// give the attribute `on_panic = path::to_fn` (a `fn(Panicked) -> Ret`).
///
/// ```
/// use mruntime::{FromPanic, Panicked};
///
/// #[derive(Debug, PartialEq)]
/// enum Reply { Done, Failed(String) }
///
/// impl FromPanic for Reply {
///     fn from_panic(panicked: Panicked) -> Self {
///         Reply::Failed(panicked.message().to_owned())
///     }
/// }
///
/// #[mruntime::recover(component = "jobs")]
/// fn run() -> Reply {
///     panic!("disk full")
/// }
///
/// assert_eq!(run(), Reply::Failed("disk full".into()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`#[recover]` cannot return `{Self}` after a recovered panic",
    label = "this return type has no value for a recovered panic",
    note = "return `()`, `Option<T>` or `Result<T, E>` with `E: From<mruntime::Panicked>`, implement `mruntime::FromPanic` for `{Self}`, or give the attribute `on_panic = path::to_fn` (a `fn(mruntime::Panicked) -> {Self}`)"
)]
pub trait FromPanic: Sized {
    /// The value to return in place of the panicked call's.
    fn from_panic(panicked: Panicked) -> Self;
}

impl FromPanic for () {
    fn from_panic(_: Panicked) -> Self {}
}

impl<T> FromPanic for Option<T> {
    fn from_panic(_: Panicked) -> Self {
        None
    }
}

impl<T, E: From<Panicked>> FromPanic for Result<T, E> {
    fn from_panic(panicked: Panicked) -> Self {
        Err(E::from(panicked))
    }
}
