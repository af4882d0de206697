//! The cases of `overhead.rs` through criterion, for humans: `cargo bench -p mruntime --bench
//! criterion` (add a filter, e.g. `-- recover_sync`, to run some). Each group has a `bare` and an
//! `ours` function, each timing the same batches as `overhead.rs`; criterion reports the time
//! per batch and the throughput in tasks, calls or panics per second.

mod cases;

use std::time::Duration;

use cases::*;
use criterion::{Criterion, Throughput};

fn spawn_join(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let mut group = c.benchmark_group("spawn_join");
    group.throughput(Throughput::Elements(TASKS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || on_worker(&rt, spawn_join_bare())))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || on_worker(&rt, spawn_join_ours())))
    });
    group.bench_function("supervised", |b| {
        b.iter_custom(|batches| batched(batches, || on_worker(&rt, spawn_join_supervised())))
    });
    group.finish();
}

fn spawn_join_traced(c: &mut Criterion) {
    install_span_recording_subscriber();
    let rt = multi_thread_runtime();
    let mut group = c.benchmark_group("spawn_join_traced");
    group.throughput(Throughput::Elements(TASKS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || on_worker(&rt, spawn_join_traced_bare())))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || on_worker(&rt, spawn_join_traced_ours())))
    });
    group.finish();
}

fn recover_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("recover_sync");
    group.throughput(Throughput::Elements(CALLS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || sync_batch(plain_sync)))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || sync_batch(guarded_sync)))
    });
    group.finish();
}

fn recover_async(c: &mut Criterion) {
    let mut group = c.benchmark_group("recover_async");
    group.throughput(Throughput::Elements(CALLS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, async_batch_bare))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, async_batch_ours))
    });
    group.finish();
}

fn panic_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("panic_path");
    group.throughput(Throughput::Elements(PANICS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || panic_batch(raw_panic)))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || panic_batch(guarded_panic)))
    });
    group.finish();
}

fn panic_path_10mb(c: &mut Criterion) {
    let payload = big_payload();
    let mut group = c.benchmark_group("panic_path_10mb");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BIG_PANICS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || big_panic_batch(raw_big_panic, &payload)))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || big_panic_batch(guarded_big_panic, &payload)))
    });
    group.finish();
}

fn panic_path_error_layer(c: &mut Criterion) {
    let dispatch = span_trace::subscriber();
    let mut group = c.benchmark_group("panic_path_error_layer");
    group.throughput(Throughput::Elements(PANICS_PER_BATCH as u64));
    group.bench_function("bare", |b| {
        b.iter_custom(|batches| batched(batches, || span_trace::batch(&dispatch, raw_panic)))
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|batches| batched(batches, || span_trace::batch(&dispatch, guarded_panic)))
    });
    group.finish();
}

/// `layer_request`, `layer_vs_catch_panic` (`catch_panic` against `ours`) and `layer_stream`.
fn layers(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let (bare, theirs, ours) = (
        layer::routes(),
        layer::with_catch_panic(),
        layer::with_recover_layer(),
    );
    for (name, load, sides) in [
        (
            "layer_request",
            &layer::HELLO,
            &[("bare", &bare), ("catch_panic", &theirs), ("ours", &ours)][..],
        ),
        (
            "layer_stream",
            &layer::STREAM,
            &[("bare", &bare), ("ours", &ours)][..],
        ),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(load.requests as u64));
        for (side, router) in sides {
            group.bench_function(*side, |b| {
                b.iter_custom(|batches| batched(batches, || layer::batch(&rt, *router, load)))
            });
        }
        group.finish();
    }
}

fn panic_storm(c: &mut Criterion) {
    let pipeline = storm::Pipeline::install();
    for (name, threads) in [("panic_storm", 1), ("panic_storm_2threads", 2)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(
            (threads * storm::STORM_PANICS_PER_BATCH) as u64,
        ));
        group.bench_function("bare", |b| {
            b.iter_custom(|batches| {
                batched(batches, || pipeline.run(threads, storm::storm_batch_bare))
            })
        });
        group.bench_function("ours", |b| {
            b.iter_custom(|batches| {
                batched(batches, || pipeline.run(threads, storm::storm_batch_ours))
            })
        });
        group.finish();
    }
    // The storm with sampling on (`unsampled` is the same storm with it off).
    let mut group = c.benchmark_group("panic_storm_sampled");
    group.throughput(Throughput::Elements(storm::STORM_PANICS_PER_BATCH as u64));
    for (side, on) in [("unsampled", false), ("ours", true)] {
        group.bench_function(side, |b| {
            b.iter_custom(|batches| {
                storm::storm_sampling(on);
                let took = batched(batches, || pipeline.run(1, storm::storm_batch_ours));
                storm::storm_sampling(false);
                took
            })
        });
    }
    group.finish();
    // A suppressed panic against `catch_unwind` and a counter.
    let mut group = c.benchmark_group("panic_suppressed");
    group.throughput(Throughput::Elements(storm::STORM_PANICS_PER_BATCH as u64));
    for (side, ours) in [("bare", false), ("ours", true)] {
        group.bench_function(side, |b| {
            b.iter_custom(|batches| {
                if ours {
                    storm::suppress_all();
                }
                let took = batched(batches, || storm::suppressed_batch(&pipeline, ours));
                storm::storm_sampling(false);
                took
            })
        });
    }
    group.finish();
}

/// The total time of `batches` batches.
fn batched(batches: u64, mut batch: impl FnMut() -> Duration) -> Duration {
    (0..batches).map(|_| batch()).sum()
}

/// `layer_floor` (a no-op layer added with `Router::layer`) and the `outer_*` cases (each layer
/// around the whole router).
fn outer_layers(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let mut group = c.benchmark_group("layer_floor");
    group.throughput(Throughput::Elements(layer::HELLO.requests as u64));
    let no_op = layer::with_no_op_layer();
    group.bench_function("no_op", |b| {
        b.iter_custom(|batches| batched(batches, || layer::batch(&rt, &no_op, &layer::HELLO)))
    });
    group.finish();
    let (theirs, ours) = (
        layer::around_with_catch_panic(),
        layer::around_with_recover_layer(),
    );
    for (name, load) in [
        ("outer_layer_request", &layer::HELLO),
        ("outer_layer_stream", &layer::STREAM),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(load.requests as u64));
        group.bench_function("catch_panic", |b| {
            b.iter_custom(|batches| batched(batches, || layer::batch(&rt, &theirs, load)))
        });
        group.bench_function("ours", |b| {
            b.iter_custom(|batches| batched(batches, || layer::batch(&rt, &ours, load)))
        });
        group.finish();
    }
}

/// `http_request` and `http_stream`: the routers served by hyper over loopback TCP.
fn http_cases(c: &mut Criterion) {
    let rt = http::io_runtime();
    let (bare, ours) = (layer::routes(), layer::with_recover_layer());
    for (name, load) in [
        ("http_request", &layer::HELLO),
        ("http_stream", &layer::STREAM),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(load.requests as u64));
        for (side, router) in [("bare", &bare), ("ours", &ours)] {
            group.bench_function(side, |b| {
                b.iter_custom(|batches| batched(batches, || http::batch(&rt, router, load)))
            });
        }
        group.finish();
    }
}

fn main() {
    prepare_panics();
    let mut c = Criterion::default().configure_from_args();
    spawn_join(&mut c);
    recover_sync(&mut c);
    recover_async(&mut c);
    panic_path(&mut c);
    panic_path_10mb(&mut c);
    panic_path_error_layer(&mut c);
    layers(&mut c);
    outer_layers(&mut c);
    http_cases(&mut c);
    // Late: it installs a process-wide subscriber that the cases above must not see.
    spawn_join_traced(&mut c);
    // Last: a global meter provider and an error reporter (and sampling, for the last two).
    panic_storm(&mut c);
    c.final_summary();
}
