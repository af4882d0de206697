//! The cases both benches measure (`overhead.rs` as ratios, `criterion.rs` for humans).
//!
//! Every case has a bare baseline and ours doing the same work; only the safety differs. A batch
//! function runs one batch and returns how long it took, measured around the work only.

pub(crate) mod http;
pub(crate) mod layer;
pub(crate) mod span_trace;
pub(crate) mod storm;

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mruntime::{BacktraceCapture, PanicPolicy, Panicked, recover, safe_go};
use tokio::runtime::Runtime;
use tracing::Instrument;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::{Layer, registry};

/// Tasks spawned and joined per `spawn_join` batch.
pub(crate) const TASKS_PER_BATCH: usize = 1_000;
/// Calls per `recover_sync` / `recover_async` batch.
pub(crate) const CALLS_PER_BATCH: usize = 10_000;
/// Panics per `panic_path` batch.
pub(crate) const PANICS_PER_BATCH: usize = 100;

/// The message of the `panic_path` panics (and the start of the `panic_path_10mb` payload).
pub(crate) const BENCH_PANIC: &str = "bench: a panic";

/// Panics per `panic_path_10mb` batch.
pub(crate) const BIG_PANICS_PER_BATCH: usize = 2;
/// The size of the `panic_path_10mb` payload.
const BIG_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The input of the ~100 ns workload.
pub(crate) static BUFFER: [u8; 256] = {
    let mut buf = [0u8; 256];
    let mut i = 0;
    while i < buf.len() {
        buf[i] = i as u8;
        i += 1;
    }
    buf
};

/// Must run first, before any guard: a silent panic hook for the baselines' panics, with
/// mruntime's hook chained in front of it (as in a service: mruntime's hook is installed at the
/// first guard and chains whatever hook was there), and no backtraces.
pub(crate) fn prepare_panics() {
    std::panic::set_hook(Box::new(|info| {
        // Silent for the benchmark's own panics; anything else is a bug of the benchmark.
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if !message.is_some_and(|s| s.starts_with(BENCH_PANIC)) {
            eprintln!("{info}");
        }
    }));
    mruntime::install_panic_hook();
    mruntime::set_backtrace_capture(BacktraceCapture::Never);
}

/// The multi-thread runtime of the spawn cases: tokio's default, one worker per core
/// (`MRUNTIME_BENCH_WORKERS=N` for N: `callgrind.sh` takes one, so no idle worker spins).
pub(crate) fn multi_thread_runtime() -> Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = std::env::var("MRUNTIME_BENCH_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        builder.worker_threads(workers);
    }
    builder.build().expect("a multi-thread runtime")
}

/// Runs `batch` on one of the runtime's workers, as a service's own code runs, and returns what
/// it measured. The same for both sides (one guarded spawn per batch, outside the timed part).
pub(crate) fn on_worker(
    rt: &Runtime,
    batch: impl Future<Output = Duration> + Send + 'static,
) -> Duration {
    rt.block_on(async { mruntime::spawn("bench", "driver", PanicPolicy::KeepRunning, batch).await })
        .expect("the batch ran")
}

/// The task of `spawn_join` (`async move { black_box(i) }`), the same future type on both sides.
pub(crate) async fn trivial_task(i: usize) -> usize {
    black_box(i)
}

/// `spawn_join`, bare: spawn 1,000 trivial tasks with `tokio::spawn`, then await them all.
#[allow(clippy::disallowed_methods)] // the bare baseline: a raw spawn is what we measure against
pub(crate) async fn spawn_join_bare() -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS_PER_BATCH);
    for i in 0..TASKS_PER_BATCH {
        handles.push(tokio::spawn(trivial_task(i)));
    }
    for handle in handles {
        black_box(handle.await.expect("the task ran"));
    }
    start.elapsed()
}

/// `spawn_join`, ours: the same with `safe_go!`.
pub(crate) async fn spawn_join_ours() -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS_PER_BATCH);
    for i in 0..TASKS_PER_BATCH {
        handles.push(safe_go!(
            component = "bench",
            name = "spawn_join",
            trivial_task(i)
        ));
    }
    for handle in handles {
        black_box(handle.await.expect("the task ran"));
    }
    start.elapsed()
}

/// `spawn_join_supervised`: `spawn_join` with a restart policy (so each task is a health
/// component), each returning at once.
pub(crate) async fn spawn_join_supervised() -> Duration {
    let restart = mruntime::RestartPolicy::from_millis(5, 60_000, 100, 10_000);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS_PER_BATCH);
    for i in 0..TASKS_PER_BATCH {
        handles.push(
            mruntime::Task::new("bench", "spawn_join_supervised")
                .restart(restart)
                .spawn(move |_ctx| trivial_task(i)),
        );
    }
    for handle in handles {
        black_box(handle.await.expect("the task ran"));
    }
    start.elapsed()
}

/// `spawn_join_traced`, bare: `tokio::spawn(fut.instrument(span))` with the span mruntime
/// creates written by hand (same target, name and fields).
#[allow(clippy::disallowed_methods)] // the bare baseline: a raw spawn is what we measure against
pub(crate) async fn spawn_join_traced_bare() -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS_PER_BATCH);
    for i in 0..TASKS_PER_BATCH {
        let span = tracing::info_span!(
            target: "mruntime",
            "mruntime.task",
            component = "bench",
            name = "spawn_join_traced",
            policy = "KeepRunning",
            otel.name = "spawn_join_traced",
        );
        handles.push(tokio::spawn(trivial_task(i).instrument(span)));
    }
    for handle in handles {
        black_box(handle.await.expect("the task ran"));
    }
    start.elapsed()
}

/// `spawn_join_traced`, ours: `safe_go!`, whose task span carries the same fields.
pub(crate) async fn spawn_join_traced_ours() -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS_PER_BATCH);
    for i in 0..TASKS_PER_BATCH {
        handles.push(safe_go!(
            component = "bench",
            name = "spawn_join_traced",
            trivial_task(i)
        ));
    }
    for handle in handles {
        black_box(handle.await.expect("the task ran"));
    }
    start.elapsed()
}

/// Spans seen by [`install_span_recording_subscriber`]'s layer.
pub(crate) static SPANS_RECORDED: AtomicU64 = AtomicU64::new(0);

/// A cheap layer: counts the spans the registry records.
struct CountSpans;

impl<S: tracing::Subscriber> Layer<S> for CountSpans {
    fn on_new_span(&self, _: &Attributes<'_>, _: &Id, _: LayerContext<'_, S>) {
        SPANS_RECORDED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Installs, process-wide, a subscriber that records spans: tracing-subscriber's registry (which
/// stores every span's data) with a cheap layer. Only `spawn_join_traced` runs with it, so it
/// runs last.
pub(crate) fn install_span_recording_subscriber() {
    tracing::subscriber::set_global_default(registry().with(CountSpans))
        .expect("no subscriber was set before");
}

/// The ~100 ns body of the `recover_*` cases: hash a 256-byte buffer with the std hasher.
#[inline(always)]
pub(crate) fn workload(buf: &[u8; 256]) -> u64 {
    let mut hasher = DefaultHasher::new();
    black_box(buf).hash(&mut hasher);
    hasher.finish()
}

/// What the guarded functions return after a recovered panic.
fn no_hash(_: Panicked) -> u64 {
    0
}

/// `recover_sync`, bare.
#[inline(never)]
pub(crate) fn plain_sync(buf: &[u8; 256]) -> u64 {
    workload(buf)
}

/// `recover_sync`, ours: the same fn under `#[recover]`.
#[recover(component = "bench", name = "recover_sync", on_panic = no_hash)]
#[inline(never)]
pub(crate) fn guarded_sync(buf: &[u8; 256]) -> u64 {
    workload(buf)
}

/// A batch of `f` calls.
pub(crate) fn sync_batch(f: fn(&[u8; 256]) -> u64) -> Duration {
    let start = Instant::now();
    for _ in 0..CALLS_PER_BATCH {
        black_box(f(black_box(&BUFFER)));
    }
    start.elapsed()
}

/// `recover_async`, bare.
pub(crate) async fn plain_async(buf: &[u8; 256]) -> u64 {
    workload(buf)
}

/// `recover_async`, ours: the same async fn under `#[recover]`.
#[recover(component = "bench", name = "recover_async", on_panic = no_hash)]
pub(crate) async fn guarded_async(buf: &[u8; 256]) -> u64 {
    workload(buf)
}

/// A batch of awaits of `plain_async`, polled in place (the body never waits, so no runtime is
/// involved and only the calls are measured).
pub(crate) fn async_batch_bare() -> Duration {
    poll_ready(async {
        let start = Instant::now();
        for _ in 0..CALLS_PER_BATCH {
            black_box(plain_async(black_box(&BUFFER)).await);
        }
        start.elapsed()
    })
}

/// A batch of awaits of `guarded_async`.
pub(crate) fn async_batch_ours() -> Duration {
    poll_ready(async {
        let start = Instant::now();
        for _ in 0..CALLS_PER_BATCH {
            black_box(guarded_async(black_box(&BUFFER)).await);
        }
        start.elapsed()
    })
}

/// Polls a future that never waits to completion.
pub(crate) fn poll_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the batch never waits"),
    }
}

/// `panic_path`, bare: a raw `catch_unwind` of the panic.
#[inline(never)]
pub(crate) fn raw_panic(buf: &[u8; 256]) -> u64 {
    std::panic::catch_unwind(|| {
        if black_box(true) {
            panic!("bench: a panic"); // a literal, as BENCH_PANIC
        }
        workload(buf)
    })
    .unwrap_or(0)
}

/// `panic_path`, ours: the same panic recovered by `#[recover]` (logged, counted, reported).
#[recover(component = "bench", name = "panic_path", on_panic = no_hash)]
#[inline(never)]
pub(crate) fn guarded_panic(buf: &[u8; 256]) -> u64 {
    if black_box(true) {
        panic!("bench: a panic"); // a literal, as BENCH_PANIC
    }
    workload(buf)
}

/// A batch of `f` calls, each panicking once.
pub(crate) fn panic_batch(f: fn(&[u8; 256]) -> u64) -> Duration {
    let start = Instant::now();
    for _ in 0..PANICS_PER_BATCH {
        black_box(f(black_box(&BUFFER)));
    }
    start.elapsed()
}

/// The `panic_path_10mb` payload: a 10 MB `String` (starting with [`BENCH_PANIC`]).
pub(crate) fn big_payload() -> String {
    let mut payload = String::with_capacity(BIG_PAYLOAD_BYTES);
    payload.push_str(BENCH_PANIC);
    while payload.len() < BIG_PAYLOAD_BYTES {
        payload.push_str(" password=hunter2 a line of a large panic message");
    }
    payload.truncate(BIG_PAYLOAD_BYTES);
    payload
}

/// `panic_path_10mb`, bare: a raw `catch_unwind` of a panic with a copy of `payload`.
#[inline(never)]
pub(crate) fn raw_big_panic(payload: &str) -> u64 {
    std::panic::catch_unwind(|| {
        if black_box(true) {
            std::panic::panic_any(payload.to_owned());
        }
        0
    })
    .unwrap_or(1)
}

/// `panic_path_10mb`, ours: the same panic recovered by `#[recover]`.
#[recover(component = "bench", name = "panic_path_10mb", on_panic = no_hash)]
#[inline(never)]
pub(crate) fn guarded_big_panic(payload: &str) -> u64 {
    if black_box(true) {
        std::panic::panic_any(payload.to_owned());
    }
    0
}

/// A batch of `f` calls with the 10 MB payload, each panicking once.
pub(crate) fn big_panic_batch(f: fn(&str) -> u64, payload: &str) -> Duration {
    let start = Instant::now();
    for _ in 0..BIG_PANICS_PER_BATCH {
        black_box(f(black_box(payload)));
    }
    start.elapsed()
}

/// A current-thread runtime, for the layer cases (the router's futures need no more).
pub(crate) fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}
