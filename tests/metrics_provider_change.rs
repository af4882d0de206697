//! `panic_recovered_total` follows the global meter provider when it is replaced: mruntime caches
//! its counters per provider and rebuilds them when the provider changes. One test: the global
//! provider is process-wide.

use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::otel::{Metrics, panic_labels};

fn panic_in(name: &'static str) {
    let _ = mruntime::guard("switch", name, KeepRunning, || panic!("counted"));
}

fn count(metrics: &Metrics, name: &str) -> u64 {
    metrics
        .u64_sum("panic_recovered_total")
        .into_iter()
        .filter(|(labels, _)| *labels == panic_labels("switch", name, "KeepRunning"))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn counts_go_to_the_provider_installed_at_each_panic() {
    let first = Metrics::new();
    opentelemetry::global::set_meter_provider(first.provider.clone());
    panic_in("one");
    panic_in("one");

    let second = Metrics::new();
    opentelemetry::global::set_meter_provider(second.provider.clone());
    panic_in("two");

    // The first provider again (a new global `Arc` around the same provider).
    opentelemetry::global::set_meter_provider(first.provider.clone());
    panic_in("three");

    assert_eq!(count(&first, "one"), 2);
    assert_eq!(count(&second, "one"), 0);
    assert_eq!(count(&second, "two"), 1);
    assert_eq!(count(&first, "two"), 0);
    assert_eq!(count(&first, "three"), 1);
    assert_eq!(count(&second, "three"), 0);
}
