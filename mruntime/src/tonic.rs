//! tonic support (cargo feature `tonic`): a recovered panic becomes status INTERNAL.
//!
//! With `impl From<Panicked> for tonic::Status`, `#[recover]` works on the methods of a tonic
//! service (`#[tonic::async_trait]` impls returning `Result<Response<T>, Status>`): a panic in
//! one is reported once and the client gets `Status::internal` with the fixed message
//! [`PANIC_MESSAGE`]; and [`guard_stream`](crate::guard_stream) works on a server-streaming
//! method's stream (`Stream<Item = Result<T, Status>>`), which then ends with that status after
//! the messages produced before the panic.
//!
//! ```
//! use mruntime::Panicked;
//!
//! #[mruntime::recover(component = "ledger", name = "grpc.get_balance")]
//! async fn get_balance(account: String) -> Result<tonic::Response<i64>, tonic::Status> {
//!     assert!(account != "poison", "balance table corrupted");
//!     Ok(tonic::Response::new(100))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let status = get_balance("poison".into()).await.unwrap_err();
//! assert_eq!(status.code(), tonic::Code::Internal);
//! assert_eq!(status.message(), mruntime::tonic::PANIC_MESSAGE);
//! # }
//! ```
//!
//! For a whole server, add [`RecoverLayer`](crate::tower::RecoverLayer) (feature `tower`) too:
//! it also covers code outside the `#[recover]` methods (tonic's own codecs, interceptors,
//! unguarded streams) and answers a gRPC call with INTERNAL whatever panicked.

use crate::panic::Panicked;

#[cfg(feature = "tonic-health")]
mod health;
#[cfg(feature = "tonic-health")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic-health")))]
pub use health::serve_health;

/// The message of the [`tonic::Status`] made from a [`Panicked`] (and the `grpc-message` of the
/// layer's gRPC answer). Fixed: it never contains the panic's text, which is reported through
/// telemetry only.
pub const PANIC_MESSAGE: &str = crate::grpc::PANIC_MESSAGE;

/// Status [`Internal`](tonic::Code::Internal) with the fixed [`PANIC_MESSAGE`]: nothing of the
/// panic reaches the client. The panic has already been reported when a `Panicked` exists.
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl From<Panicked> for tonic::Status {
    fn from(_: Panicked) -> Self {
        tonic::Status::internal(PANIC_MESSAGE)
    }
}
