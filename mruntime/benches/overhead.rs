//! What safety costs, against the bare equivalents, in one run:
//!
//! ```text
//! cargo bench -p mruntime --bench overhead                 # every case
//! cargo bench -p mruntime --bench overhead -- recover_sync # one case (or `recover`: both)
//! MRUNTIME_BENCH_QUICK=1 cargo bench -p mruntime --bench overhead   # a quick, rougher run
//! ```
//!
//! Each case runs its bare baseline and ours interleaved, batch after batch (A B B A A B ...: the
//! order flips every round so neither side always runs second), and prints
//!
//! ```text
//! ratio <case> <median ours / median bare>
//!   bare <median> ns/op  ours <median> ns/op
//! ```
//!
//! `MRUNTIME_BENCH_SIDE=bare` (or `ours`) runs one side only, to profile it (e.g. under
//! `valgrind --tool=callgrind`, comparing the two sides' instruction counts).
//!
//! `ratio task_bytes <N>` is not a ratio: N is the bytes our spawned future adds to the bare one.
//! Without `--bench` (as `cargo test --benches` runs it) every case runs a few rounds only, to
//! check that it works.

mod cases;

use std::time::Duration;

use cases::*;
use mruntime::{PanicPolicy, Site};

/// Every case, in the order they run.
const CASES: &[&str] = &[
    "spawn_join",
    "recover_sync",
    "recover_async",
    "panic_path",
    "task_bytes",
    "spawn_join_traced",
];

/// How many rounds (one bare batch and one of ours each) a case runs.
struct Rounds {
    warmup: usize,
    measured: usize,
}

impl Rounds {
    fn new(mode: Mode, measured: usize) -> Self {
        match mode {
            Mode::Full => Rounds {
                warmup: measured / 10,
                measured,
            },
            Mode::Quick => Rounds {
                warmup: measured / 50,
                measured: measured / 5,
            },
            Mode::Smoke => Rounds {
                warmup: 1,
                measured: 3,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `cargo bench`: the numbers to report.
    Full,
    /// `MRUNTIME_BENCH_QUICK=1` or `--quick`: a fifth of the rounds.
    Quick,
    /// `cargo test --benches`: each case runs, numbers mean nothing.
    Smoke,
}

fn main() {
    prepare_panics();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if !args.iter().any(|a| a == "--bench") {
        Mode::Smoke
    } else if args.iter().any(|a| a == "--quick")
        || std::env::var_os("MRUNTIME_BENCH_QUICK").is_some_and(|v| v != "0")
    {
        Mode::Quick
    } else {
        Mode::Full
    };
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    // A case runs when a filter is its name, or is part of its name and no case's whole name
    // (`spawn_join` runs spawn_join only, `spawn` both spawn cases), or without filters.
    let selected = |case: &str| {
        filters.is_empty()
            || filters
                .iter()
                .any(|f| *f == case || (!CASES.contains(f) && case.contains(f)))
    };

    println!(
        "# mruntime overhead: {} cpus, load average {} (1, 5, 15 min){}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        match mode {
            Mode::Full => "",
            Mode::Quick => ", quick mode",
            Mode::Smoke => ", smoke test (run with --bench for numbers)",
        }
    );

    let rt = multi_thread_runtime();
    if selected("spawn_join") {
        let (bare, ours) = interleave(
            Rounds::new(mode, 1000),
            || per_op(on_worker(&rt, spawn_join_bare()), TASKS_PER_BATCH),
            || per_op(on_worker(&rt, spawn_join_ours()), TASKS_PER_BATCH),
        );
        print_case("spawn_join", bare, ours, "ns/task");
    }
    if selected("recover_sync") {
        let (bare, ours) = interleave(
            Rounds::new(mode, 2000),
            || per_op(sync_batch(plain_sync), CALLS_PER_BATCH),
            || per_op(sync_batch(guarded_sync), CALLS_PER_BATCH),
        );
        print_case("recover_sync", bare, ours, "ns/call");
        println!("  added {:.2} ns/call", ours - bare);
    }
    if selected("recover_async") {
        let (bare, ours) = interleave(
            Rounds::new(mode, 2000),
            || per_op(async_batch_bare(), CALLS_PER_BATCH),
            || per_op(async_batch_ours(), CALLS_PER_BATCH),
        );
        print_case("recover_async", bare, ours, "ns/call");
    }
    if selected("panic_path") {
        let (bare, ours) = interleave(
            Rounds::new(mode, 1000),
            || per_op(panic_batch(raw_panic), PANICS_PER_BATCH),
            || per_op(panic_batch(guarded_panic), PANICS_PER_BATCH),
        );
        print_case("panic_path", bare, ours, "ns/panic");
    }
    if selected("task_bytes") {
        static SITE: Site = Site::new("bench", "spawn_join", PanicPolicy::KeepRunning);
        // What `safe_go!` passes: a pointer to its `static` site.
        let site: &'static Site = &SITE;
        let bare = std::mem::size_of_val(&trivial_task(0));
        let (ours, ours_traced) = mruntime::__private::spawned_future_sizes(site, trivial_task(0));
        println!("ratio task_bytes {}", ours - bare);
        println!("  bare {bare} bytes/task  ours {ours} bytes/task");
        let bare_traced = std::mem::size_of_val(&tracing::Instrument::instrument(
            trivial_task(0),
            tracing::Span::none(),
        ));
        println!(
            "  with a subscriber recording spans: bare (instrumented) {bare_traced} bytes/task  \
             ours {ours_traced} bytes/task"
        );
    }
    // Last: it installs a process-wide subscriber that the cases above must not see.
    if selected("spawn_join_traced") {
        install_span_recording_subscriber();
        let (bare, ours) = interleave(
            Rounds::new(mode, 1000),
            || per_op(on_worker(&rt, spawn_join_traced_bare()), TASKS_PER_BATCH),
            || per_op(on_worker(&rt, spawn_join_traced_ours()), TASKS_PER_BATCH),
        );
        let spans = SPANS_RECORDED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            spans >= 2 * TASKS_PER_BATCH as u64,
            "the subscriber recorded the tasks' spans"
        );
        print_case("spawn_join_traced", bare, ours, "ns/task");
    }
    println!("# load average at the end {}", load_average());
}

/// Runs the two sides in alternating order, round after round; returns their medians.
fn interleave(
    rounds: Rounds,
    mut bare: impl FnMut() -> f64,
    mut ours: impl FnMut() -> f64,
) -> (f64, f64) {
    match std::env::var("MRUNTIME_BENCH_SIDE").as_deref() {
        Ok("bare") => return (one_side(rounds, bare), f64::NAN),
        Ok("ours") => return (f64::NAN, one_side(rounds, ours)),
        _ => {}
    }
    for _ in 0..rounds.warmup {
        bare();
        ours();
    }
    let mut bare_samples = Vec::with_capacity(rounds.measured);
    let mut our_samples = Vec::with_capacity(rounds.measured);
    for round in 0..rounds.measured {
        if round % 2 == 0 {
            bare_samples.push(bare());
            our_samples.push(ours());
        } else {
            our_samples.push(ours());
            bare_samples.push(bare());
        }
    }
    (median(bare_samples), median(our_samples))
}

/// One side alone (`MRUNTIME_BENCH_SIDE`), for profiling.
fn one_side(rounds: Rounds, mut side: impl FnMut() -> f64) -> f64 {
    let samples = (0..rounds.warmup + rounds.measured)
        .map(|_| side())
        .collect();
    median(samples)
}

fn per_op(batch: Duration, ops: usize) -> f64 {
    batch.as_nanos() as f64 / ops as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    }
}

fn print_case(case: &str, bare: f64, ours: f64, unit: &str) {
    println!("ratio {case} {:.3}", ours / bare);
    let precision = if bare < 1000.0 { 1 } else { 0 };
    println!("  bare {bare:.precision$} {unit}  ours {ours:.precision$} {unit}");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
