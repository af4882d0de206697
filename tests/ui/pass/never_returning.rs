//! Functions that never return (`-> !`): guarded under CrashProcess, and as tasks whose
//! handle yields `Infallible`.
#![deny(warnings)]

use std::convert::Infallible;
use std::time::Duration;

use mruntime::{TaskError, TaskHandle, recover, safe_task};

#[safe_task(component = "worker", name = "ticker")]
async fn ticker(period: Duration) -> ! {
    loop {
        tokio::time::sleep(period).await;
    }
}

#[recover(component = "process", name = "exit", policy = CrashProcess)]
fn exit_with(code: i32) -> ! {
    std::process::exit(code)
}

#[recover(component = "process", on_panic = |_| std::process::exit(1))]
fn exit_or_fail(code: i32) -> ! {
    assert!(code >= 0, "negative exit code");
    std::process::exit(code)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let handle: TaskHandle<Infallible> = ticker(Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    handle.abort();
    assert!(matches!(handle.await, Err(TaskError::Cancelled)));

    if std::env::args().count() > 5 {
        exit_or_fail(3);
    }
    exit_with(0);
}
