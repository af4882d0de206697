//! The HTTP request a guard is serving, when a [`RecoverLayer`](crate::tower::RecoverLayer) is
//! polling it: its method and path go on the `panic.recovered` event of every panic recovered on
//! this thread meanwhile (the layer's own, and a `#[recover]` handler's inside it), and for a
//! gRPC call its `rpc.*` attributes (OpenTelemetry semantic conventions).

use std::cell::Cell;
use std::ptr;

use crate::grpc;
use crate::telemetry::egress;

/// What a report says about the request being served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFields<'a> {
    /// `GET`, `POST`, ...
    pub(crate) method: &'a str,
    /// The path, without the query string (which often carries credentials).
    pub(crate) path: &'a str,
    /// Whether the request is a gRPC call (its content-type starts with `application/grpc`).
    pub(crate) grpc: bool,
}

impl<'a> RequestFields<'a> {
    /// `rpc.system`: `"grpc"` for a gRPC call.
    pub(crate) fn rpc_system(&self) -> Option<&'static str> {
        self.grpc.then_some("grpc")
    }

    /// `rpc.service` and `rpc.method` of a gRPC call, from its path
    /// (`/ledger.v1.Ledger/GetBalance`).
    pub(crate) fn rpc_service_and_method(&self) -> Option<(&'a str, &'a str)> {
        if self.grpc {
            grpc::service_and_method(self.path)
        } else {
            None
        }
    }
}

thread_local! {
    /// The request being served by the layer polling on this thread, or null.
    static CURRENT: Cell<*const RequestFields<'static>> = const { Cell::new(ptr::null()) };
}

/// Restores the previous request when a [`scoped`] call ends, even by unwinding.
struct Restore(*const RequestFields<'static>);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

/// Runs `f` with `request` as the request being served on this thread.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
#[inline]
pub(crate) fn scoped<R>(request: &RequestFields<'_>, f: impl FnOnce() -> R) -> R {
    let this: *const RequestFields<'_> = request;
    let previous = CURRENT.with(|c| c.replace(this.cast()));
    let _restore = Restore(previous);
    f()
}

/// Calls `f` with the request being served on this thread, if any; the path as
/// [`egress::path`] lets it out.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<RequestFields<'_>>) -> R) -> R {
    let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: `current` is non-null only while `scoped` runs on this thread, and `scoped`'s
    // borrow of the fields (and of the strings they point to) outlives that run; `f` cannot
    // keep the reference, whose lifetime is local to this call.
    let request = unsafe { current.as_ref() }.copied();
    match request {
        None => f(None),
        Some(request) => {
            let path = egress::path(request.path);
            f(Some(RequestFields {
                method: request.method,
                path: &path,
                grpc: request.grpc,
            }))
        }
    }
}
