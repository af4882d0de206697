//! [`FromPanic`]: what a `#[recover]` function returns after a recovered panic, and
//! [`RecoverError`]: the error types it can return in an `Err`.

use crate::panic::Panicked;

/// The value a `#[recover]` function returns when it recovered a panic under
/// [`KeepRunning`](crate::PanicPolicy::KeepRunning).
///
/// Implemented for `()`, for `Option<T>` (`None`) and for `Result<T, E>` where
/// `E: From<Panicked>` (`Err(E::from(panicked))`, through [`RecoverError`]). Implement it for your own return types, or
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

impl<T, E: RecoverError> FromPanic for Result<T, E> {
    fn from_panic(panicked: Panicked) -> Self {
        Err(E::from_panicked(panicked))
    }
}

/// An error type a `#[recover]` function can return as `Result<T, Self>`: after a recovered
/// panic it returns `Err(Self::from(panicked))`.
///
/// Implemented for every `E: From<Panicked>`; implement `From<Panicked>` for your error type,
/// not this trait. It exists so that a type without `From<Panicked>` gets an error that says so
/// at the error type, and so that a generic function can ask for it (`E: RecoverError`).
///
/// ```
/// use mruntime::{Panicked, RecoverError, recover};
///
/// #[derive(Debug)]
/// struct ApiError(String);
///
/// impl From<Panicked> for ApiError {
///     fn from(panicked: Panicked) -> Self {
///         ApiError(panicked.message().to_owned())
///     }
/// }
///
/// #[recover(component = "api")]
/// fn parse<E: RecoverError>(text: &str) -> Result<u32, E> {
///     Ok(text.parse().expect("a number"))
/// }
///
/// assert_eq!(parse::<ApiError>("12").unwrap(), 12);
/// assert_eq!(parse::<ApiError>("twelve").unwrap_err().0, "a number: ParseIntError { kind: InvalidDigit }");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `From<mruntime::Panicked>`, but `#[recover]` returns `Err({Self}::from(panicked))` after a recovered panic",
    label = "no `From<mruntime::Panicked>` for this error type",
    note = "implement `From<mruntime::Panicked> for {Self}`, give the attribute `on_panic = path::to_fn` (a `fn(mruntime::Panicked) -> ..`), or return `Option<T>`"
)]
pub trait RecoverError: Sized {
    /// `From::from`.
    fn from_panicked(panicked: Panicked) -> Self;
}

#[diagnostic::do_not_recommend]
impl<E: From<Panicked>> RecoverError for E {
    #[inline]
    fn from_panicked(panicked: Panicked) -> Self {
        E::from(panicked)
    }
}
