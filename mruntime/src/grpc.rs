//! What mruntime knows of gRPC over HTTP/2: how a request says it is one, how its path names the
//! service and method, and the fixed message a recovered panic is answered with.

/// The `grpc-message` (and `tonic::Status` message) of a recovered panic. Fixed: it never
/// carries the panic's text.
#[cfg_attr(not(any(feature = "tower", feature = "tonic")), allow(dead_code))]
pub(crate) const PANIC_MESSAGE: &str = "internal server error";

/// `grpc-status` INTERNAL.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) const STATUS_INTERNAL: &str = "13";

/// Whether a request with this `content-type` is a gRPC call (`application/grpc`,
/// `application/grpc+proto`, `application/grpc-web`, ...).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
#[inline]
pub(crate) fn is_grpc(content_type: &[u8]) -> bool {
    content_type.starts_with(b"application/grpc")
}

/// The service and method a gRPC path names: `/ledger.v1.Ledger/GetBalance` gives
/// `("ledger.v1.Ledger", "GetBalance")`.
pub(crate) fn service_and_method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_service_and_method() {
        assert_eq!(
            service_and_method("/ledger.v1.Ledger/GetBalance"),
            Some(("ledger.v1.Ledger", "GetBalance"))
        );
        assert_eq!(service_and_method("/ledger.v1.Ledger/"), None);
        assert_eq!(service_and_method("/a/b/c"), None);
        assert_eq!(service_and_method("ledger/GetBalance"), None);
    }

    #[test]
    fn grpc_content_types() {
        assert!(is_grpc(b"application/grpc"));
        assert!(is_grpc(b"application/grpc+proto"));
        assert!(!is_grpc(b"application/json"));
    }
}
