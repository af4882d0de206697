//! `panic_recovered_total` goes to the meter current at each panic on every thread, though each
//! thread keeps its own copy of the counters: threads that counted before keep counting right
//! after the global provider is replaced and after each `init_panic_metrics`. One test: the
//! providers are process-wide.

use std::sync::Barrier;

use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::otel::{Metrics, panic_labels};

fn panic_in(name: &'static str) {
    let _ = mruntime::guard("copies", name, KeepRunning, || panic!("counted"));
}

fn count(metrics: &Metrics, name: &str) -> u64 {
    metrics
        .u64_sum("panic_recovered_total")
        .into_iter()
        .filter(|(labels, _)| *labels == panic_labels("copies", name, "KeepRunning"))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn every_thread_counts_to_the_meter_current_at_each_panic() {
    const THREADS: u64 = 2;
    let first = Metrics::new();
    let second = Metrics::new();
    let explicit_one = Metrics::new();
    let explicit_two = Metrics::new();
    opentelemetry::global::set_meter_provider(first.provider.clone());
    // Each step: the main thread changes the meter, then every worker panics once.
    let step = Barrier::new(THREADS as usize + 1);
    let done = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for name in ["first", "second", "explicit-one", "explicit-two"] {
                    step.wait();
                    panic_in(name);
                    done.wait();
                }
            });
        }
        step.wait();
        done.wait();
        opentelemetry::global::set_meter_provider(second.provider.clone());
        step.wait();
        done.wait();
        mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(
            &explicit_one.provider,
            "one",
        ));
        step.wait();
        done.wait();
        mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(
            &explicit_two.provider,
            "two",
        ));
        step.wait();
        done.wait();
    });

    let all = [&first, &second, &explicit_one, &explicit_two];
    let names = ["first", "second", "explicit-one", "explicit-two"];
    for (i, metrics) in all.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            let wanted = if i == j { THREADS } else { 0 };
            assert_eq!(count(metrics, name), wanted, "meter {i}, panics {name}");
        }
    }
}
