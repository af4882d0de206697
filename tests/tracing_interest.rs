//! The `panic.recovered` event reaches a subscriber set with `tracing::subscriber::with_default`
//! even when sibling threads without a subscriber reach mruntime's callsite first (tracing
//! caches each callsite's interest process-wide, from whichever thread gets there first).
//!
//! Unlike the other behaviour tests, this binary does not use `Capture`, which installs a global
//! registry that hides the problem: only scoped subscribers here. The race is decided once per
//! process (the first time the callsite is reached), so each round runs in a child process.

use std::sync::Arc;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::{child_scenario, run_child};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Counts `panic.recovered` events.
struct Count(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Count {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "mruntime" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

const SIBLINGS: usize = 4;

/// Sibling threads without a subscriber recover panics while this thread registers a scoped
/// subscriber and recovers one panic: that one event must arrive.
fn race() -> usize {
    let seen = Arc::new(AtomicUsize::new(0));
    let start = Barrier::new(SIBLINGS + 1);
    std::thread::scope(|scope| {
        for _ in 0..SIBLINGS {
            scope.spawn(|| {
                start.wait();
                for _ in 0..20 {
                    let _ = mruntime::guard("sibling", "n", KeepRunning, || panic!("sibling"));
                }
            });
        }
        start.wait();
        let subscriber = tracing_subscriber::registry().with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _ = mruntime::guard("captured", "n", KeepRunning, || panic!("captured"));
        });
    });
    seen.load(Ordering::SeqCst)
}

#[test]
fn a_scoped_subscriber_gets_the_event_when_threads_without_one_got_there_first() {
    if child_scenario().as_deref() == Some("race") {
        // Quiet siblings: the default hook would print nothing anyway (inside guards).
        let seen = race();
        assert_eq!(seen, 1, "the scoped subscriber got {seen} events");
        return;
    }
    for round in 0..6 {
        let child = run_child(
            "a_scoped_subscriber_gets_the_event_when_threads_without_one_got_there_first",
            "race",
        );
        assert!(
            child.status.success(),
            "round {round}: {}\n{}",
            child.status,
            child.stdout
        );
    }
}

#[test]
fn a_scoped_subscriber_gets_the_event_after_a_thread_without_one_reached_the_callsite() {
    if child_scenario().as_deref() == Some("first-without") {
        // First a thread without a subscriber reaches the callsite, alone.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = mruntime::guard("first", "n", KeepRunning, || panic!("first"));
            });
        });
        let seen = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _ = mruntime::guard("then", "n", KeepRunning, || panic!("then"));
        });
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        return;
    }
    let child = run_child(
        "a_scoped_subscriber_gets_the_event_after_a_thread_without_one_reached_the_callsite",
        "first-without",
    );
    assert!(child.status.success(), "{}\n{}", child.status, child.stdout);
}
