//! `CrashProcess` ends the process (SIGABRT) after reporting, on every runtime flavour. Each
//! scenario runs in a child process: this test binary re-runs itself with a scenario name.

use mruntime::PanicPolicy::CrashProcess;
use mruntime_tests::{child_scenario, run_child};

#[mruntime::recover(component = "transaction", name = "update_balance", policy = CrashProcess)]
fn update_balance(balance: &mut i64, amount: i64) -> i64 {
    assert!(*balance >= amount, "balance must not be negative");
    *balance -= amount;
    *balance
}

#[mruntime::safe_task(component = "transaction", name = "commit", policy = mruntime::PanicPolicy::CrashProcess)]
async fn commit(entries: Vec<i64>) {
    tokio::task::yield_now().await;
    assert_eq!(entries.iter().sum::<i64>(), 0, "unbalanced entries");
}

/// The child's side: report to stderr through a real fmt subscriber, then play the scenario.
fn play(scenario: &str) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    match scenario {
        "sync" => {
            let _ = mruntime::guard("transaction", "update_balance", CrashProcess, || {
                panic!("balance must not be negative")
            });
        }
        "multi_thread_task" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let _ = rt.block_on(async {
                mruntime::spawn("transaction", "balance-commit", CrashProcess, async {
                    panic!("partial commit")
                })
                .await
            });
        }
        "blocking_task" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let _ = rt.block_on(async {
                mruntime::spawn_blocking("transaction", "migration", CrashProcess, || {
                    panic!("schema half migrated")
                })
                .await
            });
        }
        "recover_attribute" => {
            let mut balance = 5;
            assert_eq!(update_balance(&mut balance, 2), 3);
            update_balance(&mut balance, 10);
        }
        "safe_task_attribute" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let _ = rt.block_on(async { commit(vec![10, -3]).await });
        }
        other => unreachable!("unknown scenario {other}"),
    }
    println!("SURVIVED");
}

fn assert_crashed(scenario: &str, component_name: &str, message: &str) {
    let outcome = run_child(&format!("crash_{scenario}"), scenario);
    assert!(outcome.aborted(), "expected SIGABRT, got {outcome:#?}");
    assert!(!outcome.stdout.contains("SURVIVED"), "{outcome:#?}");
    // mruntime's last words first (the crash deadline is armed by then), then the report: the
    // ERROR event with its fields.
    let last_words = outcome
        .stderr
        .find("mruntime: CrashProcess: panic in")
        .unwrap_or_else(|| panic!("no CrashProcess line: {outcome:#?}"));
    let event = outcome
        .stderr
        .find("panic.recovered")
        .unwrap_or_else(|| panic!("no panic.recovered event: {outcome:#?}"));
    assert!(last_words < event, "{outcome:#?}");
    assert!(
        outcome.stderr.contains("policy=\"CrashProcess\"")
            || outcome.stderr.contains("policy=CrashProcess"),
        "{outcome:#?}"
    );
    assert!(outcome.stderr.contains(message), "{outcome:#?}");
    assert!(
        outcome.stderr.contains(&format!(
            "mruntime: CrashProcess: panic in {component_name}"
        )),
        "{outcome:#?}"
    );
}

#[test]
fn crash_sync() {
    match child_scenario() {
        Some(s) => play(&s),
        None => assert_crashed(
            "sync",
            "transaction/update_balance",
            "balance must not be negative",
        ),
    }
}

#[test]
fn crash_multi_thread_task() {
    match child_scenario() {
        Some(s) => play(&s),
        None => assert_crashed(
            "multi_thread_task",
            "transaction/balance-commit",
            "partial commit",
        ),
    }
}

#[test]
fn crash_blocking_task() {
    match child_scenario() {
        Some(s) => play(&s),
        None => assert_crashed(
            "blocking_task",
            "transaction/migration",
            "schema half migrated",
        ),
    }
}

#[test]
fn crash_recover_attribute() {
    match child_scenario() {
        Some(s) => play(&s),
        None => assert_crashed(
            "recover_attribute",
            "transaction/update_balance",
            "balance must not be negative",
        ),
    }
}

#[test]
fn crash_safe_task_attribute() {
    match child_scenario() {
        Some(s) => play(&s),
        None => assert_crashed(
            "safe_task_attribute",
            "transaction/commit",
            "unbalanced entries",
        ),
    }
}
