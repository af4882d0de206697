//! `panic_path_error_layer`: `panic_path` under a subscriber with tracing-error's `ErrorLayer`
//! (a `Registry` with it, the thread's default for the batch), both sides inside a request span.
//! Ours also records its guard's span (whose fields the `ErrorLayer` formats), the
//! `panic.recovered` event, and the span trace at the panic point (captured in the hook, written
//! and scanned for secrets before the report).

use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

use super::panic_batch;

/// The subscriber of the case.
pub(crate) fn subscriber() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(mruntime::ErrorLayer::default()))
}

/// A `panic_path` batch of `f` inside a request span, with `dispatch` as the thread's default.
pub(crate) fn batch(dispatch: &Dispatch, f: fn(&[u8; 256]) -> u64) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let _request = tracing::info_span!("request", id = 7).entered();
        panic_batch(f)
    })
}
