//! [`serve_health`]: `grpc.health.v1` statuses driven by [`mruntime::health`](crate::health).

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::policy::PanicPolicy;
use crate::task::TaskHandle;

/// Keeps `reporter`'s statuses for the server (`""`) and each of `services` at `SERVING` exactly
/// while the process is ready ([`HealthReport::is_ready`](crate::health::HealthReport::is_ready)),
/// `NOT_SERVING` otherwise: when a supervised task gave up, a component of yours is starting or
/// failed, after [`drain`](crate::health::drain), during a `CrashProcess` crash. A status is
/// set only when readiness changes, so a `Watch` stream sees each change once.
///
/// It runs as a guarded task (component `mruntime`, name `grpc.health.v1`) until the handle is
/// aborted or the runtime shuts down; the first statuses are set as soon as it first runs.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (reporter, health_service) = tonic_health::server::health_reporter();
/// let _health = mruntime::tonic::serve_health(reporter, &["ledger.v1.Ledger"]);
/// tonic::transport::Server::builder()
///     .add_service(health_service)
///     // .add_service(LedgerServer::new(ledger))
///     .serve("127.0.0.1:50051".parse()?)
///     .await?;
/// # Ok(()) }
/// ```
///
/// # Panics
///
/// When called outside a tokio runtime, as every spawn of mruntime's.
#[track_caller]
pub fn serve_health(reporter: HealthReporter, services: &[&'static str]) -> TaskHandle<()> {
    let services: Vec<&'static str> = services.to_vec();
    let mut health = crate::health::subscribe();
    crate::task::spawn(
        "mruntime",
        "grpc.health.v1",
        PanicPolicy::KeepRunning,
        async move {
            let mut published = None;
            loop {
                let ready = health.borrow_and_update().is_ready();
                if published != Some(ready) {
                    let status = if ready {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    for service in std::iter::once("").chain(services.iter().copied()) {
                        reporter.set_service_status(service, status).await;
                    }
                    published = Some(ready);
                }
                if health.changed().await.is_err() {
                    // The sender is a static: never reached while the process runs.
                    return;
                }
            }
        },
    )
}
