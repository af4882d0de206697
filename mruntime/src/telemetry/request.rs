//! The HTTP request a guard is serving, when a [`RecoverLayer`](crate::tower::RecoverLayer) is
//! polling it: its method and path go on the `panic.recovered` event of every panic recovered on
//! this thread meanwhile (the layer's own, and a `#[recover]` handler's inside it), and for a
//! gRPC call its `rpc.*` attributes (OpenTelemetry semantic conventions).

#[cfg(feature = "tower")]
use std::cell::Cell;
#[cfg(feature = "tower")]
use std::ptr;

use crate::grpc;
#[cfg(feature = "tower")]
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

/// A request as the layer keeps it while it is served: its method, its path (the query is never
/// reported) and whether it is a gRPC call. What a report says is made from it only when a
/// panic is reported.
#[cfg(feature = "tower")]
pub(crate) struct Served {
    method: http::Method,
    path: ServedPath,
    grpc: bool,
}

/// Paths up to this many bytes are copied into the [`Served`]: most are, and a copy of a few
/// bytes costs less than sharing the request's (an atomic increment and decrement of their
/// reference count, or an allocation for a request built from a `&str`).
#[cfg(feature = "tower")]
const INLINE_PATH: usize = 48;

/// A request's path, without its query.
#[cfg(feature = "tower")]
enum ServedPath {
    /// A short path, copied whole.
    Inline { len: u8, bytes: [u8; INLINE_PATH] },
    /// A longer one: the request's path-and-query, shared.
    Shared(http::uri::PathAndQuery),
}

#[cfg(feature = "tower")]
impl ServedPath {
    #[inline]
    fn of(uri: &http::Uri) -> Self {
        let Some(path_and_query) = uri.path_and_query() else {
            return ServedPath::Inline {
                len: 0,
                bytes: [0; INLINE_PATH],
            };
        };
        let path = path_and_query.path().as_bytes();
        if path.len() > INLINE_PATH {
            return ServedPath::Shared(path_and_query.clone());
        }
        let mut bytes = [0; INLINE_PATH];
        bytes[..path.len()].copy_from_slice(path);
        ServedPath::Inline {
            len: path.len() as u8,
            bytes,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // A whole `&str` was copied: always UTF-8.
            ServedPath::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ServedPath::Shared(path_and_query) => path_and_query.path(),
        }
    }
}

#[cfg(feature = "tower")]
impl Served {
    #[inline]
    pub(crate) fn of<B>(request: &http::Request<B>) -> Served {
        Served {
            method: request.method().clone(),
            path: ServedPath::of(request.uri()),
            grpc: request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|t| grpc::is_grpc(t.as_bytes())),
        }
    }

    /// Whether the request is a gRPC call.
    #[inline]
    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The method, as `http::Method` says it.
    pub(crate) fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The path, as `http::Uri::path` says it (never the query string).
    pub(crate) fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The fields of a report, with `path` (the path as egress lets it out).
    pub(crate) fn fields<'a>(&'a self, path: &'a str) -> RequestFields<'a> {
        RequestFields {
            method: self.method(),
            path,
            grpc: self.grpc,
        }
    }
}

#[cfg(feature = "tower")]
thread_local! {
    /// The request being served by the layer polling on this thread, or null.
    static CURRENT: Cell<*const Served> = const { Cell::new(ptr::null()) };
}

/// Restores the previous request when a [`scoped`] call ends, even by unwinding.
#[cfg(feature = "tower")]
struct Restore(*const Served);

#[cfg(feature = "tower")]
impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

/// Runs `f` with `request` as the request being served on this thread: one pointer stored, the
/// fields of a report are made from it only if a panic is reported.
#[cfg(feature = "tower")]
#[inline]
pub(crate) fn scoped<R>(request: &Served, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(request));
    let _restore = Restore(previous);
    f()
}

/// Calls `f` with the request being served on this thread, if any; the path as
/// [`egress::path`] lets it out.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<RequestFields<'_>>) -> R) -> R {
    #[cfg(feature = "tower")]
    {
        let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
        // SAFETY: `current` is non-null only while `scoped` runs on this thread, and `scoped`'s
        // borrow of the request outlives that run; `f` cannot keep the reference, whose
        // lifetime is local to this call.
        if let Some(served) = unsafe { current.as_ref() } {
            let path = egress::path(served.path());
            return f(Some(served.fields(&path)));
        }
    }
    f(None)
}
