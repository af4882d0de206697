//! What safety costs, against the bare equivalents, in one run:
//!
//! ```text
//! cargo bench -p mruntime --bench overhead                 # every case
//! cargo bench -p mruntime --bench overhead -- recover_sync # one case (or `recover`: both)
//! MRUNTIME_BENCH_QUICK=1 cargo bench -p mruntime --bench overhead   # a quick, rougher run
//! ```
//!
//! The run starts with the machine it ran on (CPU, cores, load average, date, commit). Each case
//! runs its bare baseline and ours interleaved, batch after batch (A B B A A B ...: the order
//! flips every round so neither side always runs second), and prints
//!
//! ```text
//! ratio <case> <median> iqr <q1>..<q3> rounds <n>
//!   bare <median> ns/op  ours <median> ns/op
//! ```
//!
//! where the ratio is the median of the per-round ratios (ours / bare of the same round, so that
//! load drifting between rounds cancels) and `q1..q3` their interquartile range: the spread that
//! tells noise from a difference. The second line has each side's median time.
//!
//! `MRUNTIME_BENCH_SIDE=bare` (or `ours`) runs one side only, to profile it, and prints how many
//! operations it timed (`ops <n>`). `bash mruntime/benches/callgrind.sh [CASE...]` does that
//! under `valgrind --tool=callgrind` for both sides and prints instructions per operation.
//!
//! `ratio task_bytes <N>` is not a ratio: N is the bytes our spawned future adds to the bare one.
//! Without `--bench` (as `cargo test --benches` runs it) every case runs a few rounds only, to
//! check that it works.

mod cases;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cases::*;
use mruntime::{PanicPolicy, Site};

/// Every case, in the order they run.
const CASES: &[&str] = &[
    "spawn_join",
    "spawn_join_supervised",
    "recover_sync",
    "recover_async",
    "panic_path",
    "panic_path_10mb",
    "task_bytes",
    "layer_request",
    "layer_vs_catch_panic",
    "layer_stream",
    "layer_floor",
    "layer_over_floor",
    "outer_layer_request",
    "outer_layer_vs_catch_panic",
    "outer_layer_stream",
    "outer_layer_stream_vs_catch_panic",
    "http_request",
    "http_stream",
    "panic_path_error_layer",
    "spawn_join_traced",
    "panic_storm",
    "panic_storm_2threads",
    "panic_storm_sampled",
    "panic_suppressed",
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
            // At least 8 rounds: twice a smoke run's, so that `callgrind.sh`'s difference of
            // the two is not empty.
            Mode::Quick => Rounds {
                warmup: measured / 50,
                measured: (measured / 5).max(8),
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

    print_machine(match mode {
        Mode::Full => "",
        Mode::Quick => ", quick mode",
        Mode::Smoke => ", smoke test (run with --bench for numbers)",
    });

    let rt = multi_thread_runtime();
    if selected("spawn_join") {
        let samples = interleave(
            Rounds::new(mode, 1000),
            || per_op(on_worker(&rt, spawn_join_bare()), TASKS_PER_BATCH),
            || per_op(on_worker(&rt, spawn_join_ours()), TASKS_PER_BATCH),
        );
        print_case("spawn_join", &samples, "ns/task");
    }
    if selected("spawn_join_supervised") {
        // A health component per task (a restart policy), against the plain safe_go!.
        let samples = interleave(
            Rounds::new(mode, 1000),
            || per_op(on_worker(&rt, spawn_join_ours()), TASKS_PER_BATCH),
            || per_op(on_worker(&rt, spawn_join_supervised()), TASKS_PER_BATCH),
        );
        print_case("spawn_join_supervised", &samples, "ns/task");
    }
    if selected("recover_sync") {
        let samples = interleave(
            Rounds::new(mode, 2000),
            || per_op(sync_batch(plain_sync), CALLS_PER_BATCH),
            || per_op(sync_batch(guarded_sync), CALLS_PER_BATCH),
        );
        print_case("recover_sync", &samples, "ns/call");
        println!(
            "  added {:.2} ns/call",
            median(&samples.ours) - median(&samples.bare)
        );
    }
    if selected("recover_async") {
        let samples = interleave(
            Rounds::new(mode, 2000),
            || per_op(async_batch_bare(), CALLS_PER_BATCH),
            || per_op(async_batch_ours(), CALLS_PER_BATCH),
        );
        print_case("recover_async", &samples, "ns/call");
    }
    if selected("panic_path") {
        let samples = interleave(
            Rounds::new(mode, 1000),
            || per_op(panic_batch(raw_panic), PANICS_PER_BATCH),
            || per_op(panic_batch(guarded_panic), PANICS_PER_BATCH),
        );
        print_case("panic_path", &samples, "ns/panic");
    }
    if selected("panic_path_10mb") {
        let payload = big_payload();
        let samples = interleave(
            Rounds::new(mode, 15),
            || {
                per_op(
                    big_panic_batch(raw_big_panic, &payload),
                    BIG_PANICS_PER_BATCH,
                )
            },
            || {
                per_op(
                    big_panic_batch(guarded_big_panic, &payload),
                    BIG_PANICS_PER_BATCH,
                )
            },
        );
        print_case("panic_path_10mb", &samples, "ns/panic");
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
    let current = current_thread_runtime();
    // A macro, not a function: the two sides' services are of different types. Builds both
    // sides only when the case runs.
    macro_rules! layer_case {
        ($case:literal, $bare:expr, $ours:expr, $load:expr, $rounds:expr $(, $note:literal)?) => {
            if selected($case) {
                let (bare, ours) = ($bare, $ours);
                let samples = interleave(
                    Rounds::new(mode, $rounds),
                    || per_op(layer::batch(&current, &bare, $load), $load.requests),
                    || per_op(layer::batch(&current, &ours, $load), $load.requests),
                );
                print_case($case, &samples, "ns/request");
                $(println!($note);)?
            }
        };
    }
    use layer::{HELLO, STREAM};
    layer_case!(
        "layer_request",
        layer::routes(),
        layer::with_recover_layer(),
        &HELLO,
        300
    );
    layer_case!(
        "layer_vs_catch_panic",
        layer::with_catch_panic(),
        layer::with_recover_layer(),
        &HELLO,
        300,
        "  (bare here is tower-http's CatchPanicLayer)"
    );
    layer_case!(
        "layer_stream",
        layer::routes(),
        layer::with_recover_layer(),
        &STREAM,
        200
    );
    layer_case!(
        "layer_floor",
        layer::routes(),
        layer::with_no_op_layer(),
        &HELLO,
        300,
        "  (ours here is a layer that does nothing, added with Router::layer)"
    );
    layer_case!(
        "layer_over_floor",
        layer::with_no_op_layer(),
        layer::with_recover_layer(),
        &HELLO,
        300,
        "  (bare here is a layer that does nothing, added with Router::layer as ours is)"
    );
    layer_case!(
        "outer_layer_request",
        layer::routes(),
        layer::around_with_recover_layer(),
        &HELLO,
        300
    );
    layer_case!(
        "outer_layer_vs_catch_panic",
        layer::around_with_catch_panic(),
        layer::around_with_recover_layer(),
        &HELLO,
        300,
        "  (bare here is tower-http's CatchPanicLayer)"
    );
    layer_case!(
        "outer_layer_stream",
        layer::routes(),
        layer::around_with_recover_layer(),
        &STREAM,
        200
    );
    layer_case!(
        "outer_layer_stream_vs_catch_panic",
        layer::around_with_catch_panic(),
        layer::around_with_recover_layer(),
        &STREAM,
        200,
        "  (bare here is tower-http's CatchPanicLayer, whose body is not guarded)"
    );
    if selected("http_request") || selected("http_stream") {
        let io = http::io_runtime();
        let (bare, ours) = (layer::routes(), layer::with_recover_layer());
        for (case, load, rounds) in [
            ("http_request", &layer::HELLO, 100),
            ("http_stream", &layer::STREAM, 100),
        ] {
            if !selected(case) {
                continue;
            }
            let samples = interleave(
                Rounds::new(mode, rounds),
                || per_op(http::batch(&io, &bare, load), load.requests),
                || per_op(http::batch(&io, &ours, load), load.requests),
            );
            print_case(case, &samples, "ns/request");
        }
    }
    // Late: it installs a process-wide subscriber that the cases above must not see.
    // After the layer cases: once a subscriber that wants INFO has existed, tracing's max level
    // stays there (its dispatcher gone, the interest rebuilt), and the layer would make its
    // request span's callsite check on every request, which it does not when run alone.
    if selected("panic_path_error_layer") {
        let dispatch = span_trace::subscriber();
        let samples = interleave(
            Rounds::new(mode, 1000),
            || per_op(span_trace::batch(&dispatch, raw_panic), PANICS_PER_BATCH),
            || {
                per_op(
                    span_trace::batch(&dispatch, guarded_panic),
                    PANICS_PER_BATCH,
                )
            },
        );
        print_case("panic_path_error_layer", &samples, "ns/panic");
    }
    if selected("spawn_join_traced") {
        install_span_recording_subscriber();
        let samples = interleave(
            Rounds::new(mode, 1000),
            || per_op(on_worker(&rt, spawn_join_traced_bare()), TASKS_PER_BATCH),
            || per_op(on_worker(&rt, spawn_join_traced_ours()), TASKS_PER_BATCH),
        );
        let spans = SPANS_RECORDED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            spans >= 2 * TASKS_PER_BATCH as u64,
            "the subscriber recorded the tasks' spans"
        );
        print_case("spawn_join_traced", &samples, "ns/task");
    }
    // Last: it installs a global meter provider and an error reporter (and its subscriber,
    // scoped to the batches' threads).
    let storms = [
        "panic_storm",
        "panic_storm_2threads",
        "panic_storm_sampled",
        "panic_suppressed",
    ];
    if storms.into_iter().any(selected) {
        let pipeline = storm::Pipeline::install();
        for (case, threads) in [("panic_storm", 1), ("panic_storm_2threads", 2)] {
            if !selected(case) {
                continue;
            }
            let panics = threads * storm::STORM_PANICS_PER_BATCH;
            let samples = interleave(
                Rounds::new(mode, 200),
                || per_op(pipeline.run(threads, storm::storm_batch_bare), panics),
                || per_op(pipeline.run(threads, storm::storm_batch_ours), panics),
            );
            print_case(case, &samples, "ns/panic");
            println!(
                "  bare {:.0} panics/s  ours {:.0} panics/s ({threads} thread{})",
                1e9 / median(&samples.bare),
                1e9 / median(&samples.ours),
                if threads == 1 { "" } else { "s" }
            );
        }
        let panics = storm::STORM_PANICS_PER_BATCH;
        if selected("panic_storm_sampled") {
            // Against the same storm unsampled: what sampling saves.
            let samples = interleave(
                Rounds::new(mode, 200),
                || {
                    storm::storm_sampling(false);
                    per_op(pipeline.run(1, storm::storm_batch_ours), panics)
                },
                || {
                    storm::storm_sampling(true);
                    let took = per_op(pipeline.run(1, storm::storm_batch_ours), panics);
                    storm::storm_sampling(false); // emits the window's summary, untimed
                    took
                },
            );
            print_case("panic_storm_sampled", &samples, "ns/panic");
        }
        if selected("panic_suppressed") {
            // A suppressed panic against a bare `catch_unwind` and a counter.
            let samples = interleave(
                Rounds::new(mode, 200),
                || per_op(storm::suppressed_batch(&pipeline, false), panics),
                || {
                    storm::suppress_all();
                    let took = per_op(storm::suppressed_batch(&pipeline, true), panics);
                    storm::storm_sampling(false);
                    took
                },
            );
            print_case("panic_suppressed", &samples, "ns/panic");
        }
    }
    println!("# load average at the end {}", load_average());
}

/// The measured rounds of a case: `bare[i]` and `ours[i]` ran in the same round.
struct Samples {
    bare: Vec<f64>,
    ours: Vec<f64>,
}

/// Runs the two sides in alternating order, round after round; returns every measured round.
fn interleave(
    rounds: Rounds,
    mut bare: impl FnMut() -> f64,
    mut ours: impl FnMut() -> f64,
) -> Samples {
    match std::env::var("MRUNTIME_BENCH_SIDE").as_deref() {
        Ok("bare") => {
            return Samples {
                bare: one_side(rounds, bare),
                ours: Vec::new(),
            };
        }
        Ok("ours") => {
            return Samples {
                bare: Vec::new(),
                ours: one_side(rounds, ours),
            };
        }
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
    Samples {
        bare: bare_samples,
        ours: our_samples,
    }
}

/// One side alone (`MRUNTIME_BENCH_SIDE`), for profiling.
fn one_side(rounds: Rounds, mut side: impl FnMut() -> f64) -> Vec<f64> {
    (0..rounds.warmup + rounds.measured)
        .map(|_| side())
        .collect()
}

/// Operations timed since the last case was printed (`callgrind.sh` divides by it).
static OPS: AtomicU64 = AtomicU64::new(0);

fn per_op(batch: Duration, ops: usize) -> f64 {
    OPS.fetch_add(ops as u64, Ordering::Relaxed);
    batch.as_nanos() as f64 / ops as f64
}

fn median(samples: &[f64]) -> f64 {
    quantile(samples, 0.5)
}

/// The `q` quantile of `samples`, interpolated between the two nearest ranks; NaN when empty.
fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// `ratio <case> <median> iqr <q1>..<q3> rounds <n>` of the per-round ratios, then both sides'
/// median times.
fn print_case(case: &str, samples: &Samples, unit: &str) {
    let (bare, ours) = (median(&samples.bare), median(&samples.ours));
    let ratios: Vec<f64> = samples
        .bare
        .iter()
        .zip(&samples.ours)
        .map(|(b, o)| o / b)
        .collect();
    println!(
        "ratio {case} {:.3} iqr {:.3}..{:.3} rounds {}",
        median(&ratios),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75),
        ratios.len()
    );
    let precision = if bare < 1000.0 || ours < 1000.0 { 1 } else { 0 };
    println!("  bare {bare:.precision$} {unit}  ours {ours:.precision$} {unit}");
    let ops = OPS.swap(0, Ordering::Relaxed);
    if std::env::var_os("MRUNTIME_BENCH_SIDE").is_some() {
        println!("  ops {ops}");
    }
}

/// The first line of the run: what a number in the README must quote.
fn print_machine(mode: &str) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!(
        "# mruntime overhead: {cpu}, {} cpus, load average {} (1, 5, 15 min), {} UTC, commit {}, {}{mode}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        utc_now(),
        commit(),
        command_line("rustc", &["-V"]).unwrap_or_else(|| "rustc unknown".to_owned()),
    );
}

/// The commit of the working tree the bench was built from (`+dirty` with local changes).
fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let Some(hash) = command_line("git", &["-C", dir, "rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    let dirty = command_line(
        "git",
        &["-C", dir, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    if dirty { format!("{hash}+dirty") } else { hash }
}

/// The first line a command prints, trimmed; `None` when it cannot run or fails.
fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    })
}

/// Now as `YYYY-MM-DD HH:MM`, UTC (the civil-from-days algorithm; no dependency for one line).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3_600,
        rest % 3_600 / 60
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
