//! A small ledger over gRPC (tonic), with mruntime guarding the unary and the streaming path.
//!
//! ```text
//! cargo run --example grpc_service -- --addr 127.0.0.1:50051
//! ```
//!
//! The service is `ledger.v1.Ledger` from `proto/ledger.proto`:
//! - `GetBalance` is a `#[recover]` method: the account [`POISON_ACCOUNT`] hits a deliberate bug
//!   (a corrupted balance row); the panic is reported once and the client gets status INTERNAL
//!   with the fixed message `internal server error`, never the panic's text.
//! - `ListEntries` streams an account's entries, one message every few milliseconds; with
//!   `panic_after = N` the stream panics when producing entry N. With `guarded = true` the
//!   stream runs under [`mruntime::guard_stream`]: the client gets entries `0..N`, then INTERNAL
//!   (the guard's last item, `Err(Status)`). With `guarded = false` only the server's
//!   [`RecoverLayer`] stands between the panic and the connection: it catches the panic while
//!   tonic polls the response body and ends the call with INTERNAL in the trailers, after the
//!   entries already sent.
//! - The whole server runs under `RecoverLayer::new("ledger").name("grpc")`, which also reports
//!   each gRPC call's `rpc.system`, `rpc.service` and `rpc.method` with its panics.
//! - `grpc.health.v1` is served by `tonic-health`, driven by [`mruntime::tonic::serve_health`]:
//!   `""` and `ledger.v1.Ledger` are SERVING exactly while the process is ready. The supervised
//!   worker `journal-compactor` gives up once SIGUSR1 makes every round panic (then both turn
//!   NOT_SERVING); SIGTERM drains first (NOT_SERVING while still serving for `GRPC_DRAIN_MS`,
//!   default 0), then stops.
//!
//! The listen address comes from `--addr` (default `127.0.0.1:0`, any free port); the bound
//! address is printed on stdout as `listening on http://ADDR`. Ctrl-C or SIGTERM stops it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_core::Stream;
use mruntime::PanicPolicy::KeepRunning;
use mruntime::tower::RecoverLayer;
use mruntime::{RestartPolicy, Task, TaskGroup, recover};
use tonic::{Request, Response, Status};

/// The code generated from `proto/ledger.proto` by the build script (client included, unused
/// here; the generated items are documented by the `.proto`).
#[allow(unreachable_pub, missing_docs, dead_code, clippy::all)]
mod proto {
    tonic::include_proto!("ledger.v1");
}

use proto::ledger_server::{Ledger, LedgerServer};
use proto::{Balance, BalanceRequest, EntriesRequest, Entry};

/// Asking for this account's balance runs into a deliberate bug.
const POISON_ACCOUNT: &str = "poison";

/// The time between two streamed entries: each leaves the server before the next is made.
const ENTRY_INTERVAL: Duration = Duration::from_millis(5);

/// An account's balance, in cents. Panics for [`POISON_ACCOUNT`]: a corrupted row.
fn balance_of(account: &str) -> i64 {
    assert!(
        account != POISON_ACCOUNT,
        "balance row for {account} is corrupted (checksum mismatch, api_key=ledger-7f3a)"
    );
    account.bytes().map(i64::from).sum::<i64>() * 100
}

/// An account's entries, one every [`ENTRY_INTERVAL`]. Entry `panic_after` (when non-zero)
/// panics: a corrupted journal page.
struct Entries {
    account: String,
    next: u32,
    count: u32,
    panic_after: u32,
    tick: tokio::time::Interval,
}

impl Entries {
    fn new(request: &EntriesRequest) -> Entries {
        Entries {
            account: request.account.clone(),
            next: 0,
            count: request.count,
            panic_after: request.panic_after,
            tick: tokio::time::interval(ENTRY_INTERVAL),
        }
    }
}

impl Stream for Entries {
    type Item = Result<Entry, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.next == self.count {
            return Poll::Ready(None);
        }
        ready!(self.tick.poll_tick(cx));
        let index = self.next;
        assert!(
            self.panic_after == 0 || index < self.panic_after,
            "journal page {index} of {} is corrupted",
            self.account
        );
        self.next += 1;
        let cents = (i64::from(index) + 1) * 250;
        Poll::Ready(Some(Ok(Entry { index, cents })))
    }
}

/// The stream `ListEntries` answers with.
type EntryStream = Pin<Box<dyn Stream<Item = Result<Entry, Status>> + Send>>;

/// The ledger: stateless, every answer is computed from the request.
struct LedgerService;

#[tonic::async_trait]
impl Ledger for LedgerService {
    #[recover(component = "ledger", name = "grpc.get_balance")]
    async fn get_balance(
        &self,
        request: Request<BalanceRequest>,
    ) -> Result<Response<Balance>, Status> {
        let account = request.into_inner().account;
        let cents = balance_of(&account);
        Ok(Response::new(Balance { account, cents }))
    }

    type ListEntriesStream = EntryStream;

    #[recover(component = "ledger", name = "grpc.list_entries")]
    async fn list_entries(
        &self,
        request: Request<EntriesRequest>,
    ) -> Result<Response<EntryStream>, Status> {
        let request = request.into_inner();
        let entries = Entries::new(&request);
        let stream: EntryStream = if request.guarded {
            Box::pin(mruntime::guard_stream(
                "ledger",
                "grpc.list_entries.stream",
                KeepRunning,
                entries,
            ))
        } else {
            Box::pin(entries)
        };
        Ok(Response::new(stream))
    }
}

fn listen_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:0");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            other => return Err(format!("unknown argument {other:?} (expected --addr ADDR)")),
        }
    }
    addr.parse()
        .map_err(|e| format!("bad listen address {addr:?}: {e}"))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = interrupt => tracing::info!("Ctrl-C: shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Compacts the journal every 50 ms, supervised: restarted at most twice within a minute. Once
/// SIGUSR1 has set `fault`, every round panics, so it gives up: the process is no longer ready.
fn journal_compactor(workers: &TaskGroup, fault: Arc<AtomicBool>) {
    let _compactor = workers
        .task("ledger", "journal-compactor")
        .restart(RestartPolicy::from_millis(2, 60_000, 50, 100))
        .spawn(move |ctx| {
            let fault = fault.clone();
            async move {
                while !ctx.is_cancelled() {
                    tokio::select! {
                        _ = ctx.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                    assert!(
                        !fault.load(Ordering::SeqCst),
                        "journal segment 7 is unreadable"
                    );
                }
            }
        });
}

/// Sets `fault` on SIGUSR1.
fn fault_on_sigusr1(fault: Arc<AtomicBool>) -> Result<(), std::io::Error> {
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    let _listener = Task::new("ledger", "sigusr1").spawn(move |_ctx| async move {
        while usr1.recv().await.is_some() {
            tracing::warn!("SIGUSR1: journal-compactor will fail from now on");
            fault.store(true, Ordering::SeqCst);
        }
    });
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let drain_for = std::env::var("GRPC_DRAIN_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let workers = TaskGroup::new();
    let fault = Arc::new(AtomicBool::new(false));
    journal_compactor(&workers, fault.clone());
    fault_on_sigusr1(fault)?;

    // grpc.health.v1, SERVING exactly while the process is ready.
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let _health = mruntime::tonic::serve_health(reporter, &["ledger.v1.Ledger"]);

    let listener = tokio::net::TcpListener::bind(listen_address()?).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tonic::transport::Server::builder()
        .layer(RecoverLayer::new("ledger").name("grpc"))
        .add_service(health_service)
        .add_service(LedgerServer::new(LedgerService))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            async move {
                shutdown_signal().await;
                // NOT_SERVING from now on, while still serving: clients move elsewhere.
                mruntime::health::drain();
                tokio::time::sleep(drain_for).await;
            },
        )
        .await?;
    let report = workers.shutdown(Duration::from_secs(5)).await;
    tracing::info!(%report, "workers stopped");
    println!("shutdown complete");
    Ok(())
}
