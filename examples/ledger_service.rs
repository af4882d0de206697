//! A tiny ledger over HTTP, with mruntime guarding every path where a panic can happen.
//!
//! ```text
//! cargo run --example ledger_service -- --addr 127.0.0.1:3000
//! curl -s -XPOST localhost:3000/accounts -H 'content-type: application/json' -d '{"owner":"ana"}'
//! curl -s -XPOST localhost:3000/accounts/1/transactions -H 'content-type: application/json' -d '{"amount":250}'
//! curl -s localhost:3000/accounts/1/balance
//! curl -s localhost:3000/debug/panic                  # 500, and the service keeps serving
//! curl -s localhost:3000/journal/export               # the journal as CSV, streamed
//! curl -s localhost:3000/debug/export-panic           # 3 rows, then the response is cut off
//! curl -s localhost:3000/metrics | grep panic_recovered_total
//! curl -s localhost:3000/readyz                       # 200 {"status":"ready",..}
//! curl -s -XPOST localhost:3000/debug/worker-fault -d always  # balance-sync gives up in ~3 s
//! curl -s localhost:3000/readyz                       # 503, naming balance-sync and its panic
//! curl -s localhost:3000/livez                        # 200: alive, just not ready
//! ```
//!
//! - Every route runs under [`RecoverLayer`]: a panic in a handler without its own guard
//!   (`GET /debug/panic`) is reported with the request's method and path and answered
//!   `500 {"error":"internal server error"}`.
//! - `GET /journal/export` streams the journal as CSV, one row per chunk. `GET
//!   /debug/export-panic` streams three rows and then its row source panics: the layer, which
//!   also guards response bodies, reports it with the request's method and path and aborts the
//!   response (the client gets the rows sent, then an incomplete body: the connection closes
//!   before the final chunk), and the service keeps serving.
//! - The handlers are `#[recover]` functions returning `Result<_, ApiError>`: a panic in one
//!   becomes `Err(ApiError::Internal)`, a 500. Posting the amount [`BUGGY_AMOUNT`] hits a
//!   deliberate bug in the fee schedule, to show it.
//! - Balances change only in `commit`, under `CrashProcess`: a panic there (a balance that would
//!   overflow) is reported, telemetry is flushed, and the process aborts rather than keep books
//!   it can no longer trust.
//! - `balance-sync` is a supervised worker reconciling balances against the journal: restarted
//!   with backoff after a panic (`POST /debug/worker-fault` injects one; with the body `always`
//!   every round panics, until it gives up), stopped with the rest of its `TaskGroup` at shutdown.
//! - `GET /readyz` and `GET /livez` are [`HealthService`]s: readiness turns 503 once
//!   `balance-sync` gave up (naming it, with its last panic, redacted), during the drain at
//!   shutdown, and while a `CrashProcess` crash flushes; liveness only during the crash.
//! - `GET /metrics` exports the OpenTelemetry metrics (mruntime's `panic_recovered_total`
//!   among them) in the Prometheus text format.
//! - Ctrl-C or SIGTERM shuts down gracefully: readiness turns 503 at once
//!   ([`mruntime::health::drain`]) while the service keeps serving for `LEDGER_DRAIN_MS` (default
//!   0; set it to your load balancer's probe period), then in-flight requests finish, the worker
//!   group is shut down within a deadline and reports who did not stop, metrics are flushed.
//! - `LEDGER_CRASH_FLUSH_MS` makes the flush before a `CrashProcess` abort take that long (it
//!   stands in for a push exporter's flush): readiness and liveness answer 503 meanwhile.
//!
//! The listen address comes from `--addr` or `LEDGER_ADDR` (default `127.0.0.1:0`, any free
//! port); the bound address is printed on stdout as `listening on http://ADDR`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mruntime::tower::{HealthService, RecoverLayer};
use mruntime::{Panicked, TaskContext, TaskGroup, recover, safe_task};
use opentelemetry::metrics::Counter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;

/// Posting exactly this amount runs into a deliberate bug (a missing fee bracket), so that you
/// can watch a handler's panic being recovered.
const BUGGY_AMOUNT: i64 = 666;

// ---- the books ----

#[derive(Debug, Clone, Serialize)]
struct Account {
    id: u64,
    owner: String,
    balance: i64,
}

#[derive(Debug, Default)]
struct Books {
    accounts: HashMap<u64, Account>,
    /// Every committed posting, `(account, amount)`: what `balance-sync` reconciles against.
    journal: Vec<(u64, i64)>,
    next_id: u64,
}

#[derive(Clone)]
struct AppState {
    books: Arc<Mutex<Books>>,
    registry: prometheus::Registry,
    /// Set by `POST /debug/worker-fault`: the next `balance-sync` round panics.
    worker_fault: Arc<AtomicBool>,
    /// Set by `POST /debug/worker-fault` with the body `always`: every round panics.
    worker_fault_always: Arc<AtomicBool>,
}

impl AppState {
    /// The books. Balances change only inside `commit`, whose panics end the process, so a
    /// lock poisoned by a recovered panic elsewhere guards no half-written state.
    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ---- errors ----

/// What handlers fail with; a recovered panic is an `Internal` error, answered with a 500.
#[derive(Debug)]
enum ApiError {
    NotFound(u64),
    BadRequest(&'static str),
    Internal,
}

impl From<Panicked> for ApiError {
    fn from(_: Panicked) -> Self {
        // The panic has been logged, counted, traced and reported already; the client gets no
        // detail of it.
        ApiError::Internal
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no account {id}")),
            ApiError::BadRequest(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned()),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error".to_owned(),
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

// ---- handlers ----

#[derive(Debug, Deserialize)]
struct NewAccount {
    owner: String,
}

#[recover(component = "onboarding", name = "handler.create_account")]
async fn create_account(
    State(state): State<AppState>,
    Json(input): Json<NewAccount>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    if input.owner.trim().is_empty() {
        return Err(ApiError::BadRequest("owner must not be empty"));
    }
    let mut books = state.books();
    books.next_id += 1;
    let account = Account {
        id: books.next_id,
        owner: input.owner,
        balance: 0,
    };
    books.accounts.insert(account.id, account.clone());
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Debug, Deserialize)]
struct NewTransaction {
    amount: i64,
}

#[derive(Debug, Serialize)]
struct Posted {
    account: u64,
    amount: i64,
    fee: i64,
    balance: i64,
}

/// The fee for a posting, from a schedule with a deliberate hole at [`BUGGY_AMOUNT`].
fn fee(amount: i64) -> i64 {
    const BRACKETS: &[(std::ops::RangeInclusive<i64>, i64)] =
        &[(0..=BUGGY_AMOUNT - 1, 0), (BUGGY_AMOUNT + 1..=i64::MAX, 1)];
    let magnitude = amount.unsigned_abs().min(i64::MAX as u64) as i64;
    BRACKETS
        .iter()
        .find(|(range, _)| range.contains(&magnitude))
        .map(|(_, fee)| *fee)
        .expect("fee schedule has no bracket for this amount")
}

#[recover(component = "transaction", name = "handler.post_transaction")]
async fn post_transaction(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(input): Json<NewTransaction>,
) -> Result<(StatusCode, Json<Posted>), ApiError> {
    if input.amount == 0 {
        return Err(ApiError::BadRequest("amount must not be zero"));
    }
    let fee = fee(input.amount);
    let mut books = state.books();
    let balance = books
        .accounts
        .get(&id)
        .ok_or(ApiError::NotFound(id))?
        .balance;
    if balance
        .checked_add(input.amount)
        .and_then(|b| b.checked_sub(fee))
        .is_some_and(|b| b < 0)
    {
        return Err(ApiError::BadRequest("insufficient funds"));
    }
    let balance = commit(&mut books, id, input.amount, fee);
    Ok((
        StatusCode::CREATED,
        Json(Posted {
            account: id,
            amount: input.amount,
            fee,
            balance,
        }),
    ))
}

/// Writes a posting: the one place balances change. A panic here means the books can no longer
/// be trusted, so the process reports it, flushes telemetry and aborts (`CrashProcess`).
#[recover(component = "transaction", name = "commit", policy = CrashProcess)]
fn commit(books: &mut Books, id: u64, amount: i64, fee: i64) -> i64 {
    let account = books
        .accounts
        .get_mut(&id)
        .expect("commit of a posting to an unknown account");
    let balance = account
        .balance
        .checked_add(amount)
        .and_then(|b| b.checked_sub(fee))
        .expect("balance overflow: refusing to store a wrapped balance");
    account.balance = balance;
    books.journal.push((id, amount - fee));
    balance
}

#[derive(Debug, Serialize)]
struct BalanceReply {
    id: u64,
    owner: String,
    balance: i64,
}

#[recover(component = "transaction", name = "handler.get_balance")]
async fn get_balance(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<BalanceReply>, ApiError> {
    let books = state.books();
    let account = books.accounts.get(&id).ok_or(ApiError::NotFound(id))?;
    Ok(Json(BalanceReply {
        id,
        owner: account.owner.clone(),
        balance: account.balance,
    }))
}

/// No guard of its own: the `RecoverLayer` recovers this one.
async fn debug_panic() -> &'static str {
    panic!("debug route: deliberate panic")
}

/// The time between two streamed export rows: each leaves the server before the next is made.
const EXPORT_ROW_INTERVAL: Duration = Duration::from_millis(5);

/// A body streaming `rows`, one chunk each, [`EXPORT_ROW_INTERVAL`] apart. A row is made only
/// when the body is polled for it, after the handler has returned.
fn streamed_csv<I>(rows: I) -> Response
where
    I: Iterator<Item = String> + Send + 'static,
{
    let chunks = tokio_stream::iter(rows.map(Ok::<_, std::convert::Infallible>))
        .throttle(EXPORT_ROW_INTERVAL);
    (
        [(header::CONTENT_TYPE, "text/csv")],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// The journal as CSV (`account,amount`), streamed.
async fn export_journal(State(state): State<AppState>) -> Response {
    let journal = state.books().journal.clone();
    let rows = journal
        .into_iter()
        .map(|(account, amount)| format!("{account},{amount}\n"));
    streamed_csv(std::iter::once(String::from("account,amount\n")).chain(rows))
}

/// No guard of its own: three rows, then the row source panics while the body is streamed. The
/// `RecoverLayer` recovers it and aborts the response.
async fn debug_export_panic() -> Response {
    let rows = (1..).map(|row: u32| {
        assert!(row <= 3, "export cursor invalidated after row {}", row - 1);
        format!("row {row}\n")
    });
    streamed_csv(rows)
}

/// Makes the next `balance-sync` round panic, to watch it being restarted; with the body
/// `always`, every round, to watch it give up (and readiness turn 503).
async fn debug_worker_fault(State(state): State<AppState>, body: String) -> StatusCode {
    if body.trim() == "always" {
        state.worker_fault_always.store(true, Ordering::SeqCst);
    } else {
        state.worker_fault.store(true, Ordering::SeqCst);
    }
    StatusCode::ACCEPTED
}

async fn metrics(State(state): State<AppState>) -> Response {
    let encoder = prometheus::TextEncoder::new();
    let mut text = String::new();
    match encoder.encode_utf8(&state.registry.gather(), &mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/accounts", post(create_account))
        .route("/accounts/{id}/transactions", post(post_transaction))
        .route("/accounts/{id}/balance", get(get_balance))
        .route("/debug/panic", get(debug_panic))
        .route("/journal/export", get(export_journal))
        .route("/debug/export-panic", get(debug_export_panic))
        .route("/debug/worker-fault", post(debug_worker_fault))
        .route("/metrics", get(metrics))
        .route_service("/readyz", HealthService::readiness())
        .route_service("/livez", HealthService::liveness())
        .with_state(state)
        .layer(RecoverLayer::new("ledger").name("http"))
}

// ---- the worker ----

/// What `balance-sync` works with; cloned into every attempt.
#[derive(Clone)]
struct SyncJob {
    books: Arc<Mutex<Books>>,
    interval: Duration,
    runs: Counter<u64>,
    fault: Arc<AtomicBool>,
    fault_always: Arc<AtomicBool>,
}

/// Reconciles every balance against the journal, every `interval`, until its context is
/// cancelled. Calling it spawns it into `workers`; after a panic it is restarted, at most 5 times
/// within a minute, 100 ms to 10 s apart, with a fresh clone of `job`; past that it gives up (and
/// `KeepRunning` lets the service go on without it).
#[safe_task(
    component = "transaction",
    name = "balance-sync",
    group = workers,
    restart(max = 5, within = "60s", backoff = "100ms..10s")
)]
async fn balance_sync(ctx: TaskContext, workers: TaskGroup, job: SyncJob) {
    tracing::info!(attempt = ctx.attempt(), "balance-sync started");
    let mut ticks = tokio::time::interval(job.interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = ctx.cancelled() => break,
        }
        if job.fault.swap(false, Ordering::SeqCst) || job.fault_always.load(Ordering::SeqCst) {
            panic!("injected fault: balance-sync lost its database connection (password=hunter2)");
        }
        let books = job.books.lock().unwrap_or_else(PoisonError::into_inner);
        let mut from_journal: HashMap<u64, i64> = HashMap::new();
        for (id, amount) in &books.journal {
            *from_journal.entry(*id).or_default() += amount;
        }
        for account in books.accounts.values() {
            let expected = from_journal.get(&account.id).copied().unwrap_or(0);
            assert_eq!(
                account.balance, expected,
                "books out of balance for account {}",
                account.id
            );
        }
        drop(books);
        job.runs.add(1, &[]);
    }
    tracing::info!("balance-sync stopped");
}

// ---- start-up and shutdown ----

/// `--addr ADDR`, `--addr=ADDR`, `LEDGER_ADDR`, or `127.0.0.1:0`.
fn listen_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = std::env::var("LEDGER_ADDR").ok();
    while let Some(arg) = args.next() {
        match arg.strip_prefix("--addr") {
            Some("") => addr = Some(args.next().ok_or("--addr needs a value")?),
            Some(value) if value.starts_with('=') => addr = Some(value[1..].to_owned()),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} (usage: --addr HOST:PORT)"
                ));
            }
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:0".to_owned());
    addr.parse()
        .map_err(|e| format!("bad listen address {addr:?}: {e}"))
}

/// A duration in milliseconds from the environment variable `name`.
fn env_millis(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
}

/// OpenTelemetry metrics exported through a Prometheus registry. Units and type suffixes are
/// not added to names, and no scope labels, so mruntime's counter is exposed exactly as
/// `panic_recovered_total{component, goroutine_name, policy}`, like the Go services' (by default
/// the exporter would append `_ratio_total` to a counter with unit "1").
fn metrics_pipeline() -> Result<(SdkMeterProvider, prometheus::Registry), String> {
    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .without_units()
        .without_counter_suffixes()
        .scope_info_enabled(false)
        .build()
        .map_err(|e| format!("prometheus exporter: {e}"))?;
    let provider = SdkMeterProvider::builder()
        .with_reader(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("ledger-service")
                .build(),
        )
        .build();
    Ok((provider, registry))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("Ctrl-C: shutting down"),
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let addr = listen_address()?;
    let sync_interval = env_millis("LEDGER_SYNC_INTERVAL_MS").unwrap_or(Duration::from_secs(1));
    let drain_for = env_millis("LEDGER_DRAIN_MS").unwrap_or_default();

    let (provider, registry) = metrics_pipeline()?;
    // Prometheus pulls: there is nothing to push before a CrashProcess abort. With a push
    // exporter (OTLP), register `mruntime::on_crash(move || { let _ = p.force_flush(); })`.
    opentelemetry::global::set_meter_provider(provider.clone());

    // Stands in for a slow push exporter's flush before a CrashProcess abort.
    if let Some(flush) = env_millis("LEDGER_CRASH_FLUSH_MS") {
        mruntime::on_crash(move || std::thread::sleep(flush));
    }

    let state = AppState {
        books: Arc::default(),
        registry,
        worker_fault: Arc::default(),
        worker_fault_always: Arc::default(),
    };

    // The workers: supervised, and stopped together at shutdown.
    let workers = TaskGroup::new();
    let job = SyncJob {
        books: state.books.clone(),
        interval: sync_interval,
        runs: opentelemetry::global::meter("ledger")
            .u64_counter("ledger_balance_sync_runs_total")
            .with_description("Reconciliations of balances against the journal")
            .build(),
        fault: state.worker_fault.clone(),
        fault_always: state.worker_fault_always.clone(),
    };
    let _balance_sync = balance_sync(workers.context(), workers.clone(), job);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Not ready from now on: load balancers stop sending while we still serve.
            mruntime::health::drain();
            tokio::time::sleep(drain_for).await;
        })
        .await?;

    // Go's StopAll(5s): cancel every worker's context, wait, abort and name the laggards.
    let report = workers.shutdown(Duration::from_secs(5)).await;
    if report.is_clean() {
        tracing::info!(%report, "workers stopped");
    } else {
        tracing::error!(%report, "workers did not stop cleanly");
    }
    provider.shutdown()?;
    println!("shutdown complete");
    Ok(())
}
