//! Bodies written on one line get no warning (`unused_braces` once fired on them, with a fix
//! that does not compile), for every macro, sync and async.
#![deny(warnings)]

use mruntime::{TaskContext, recover, safe_go, safe_task};

#[recover(component = "ledger")]
fn sum(v: Vec<i64>) -> Option<i64> { Some(v.iter().sum()) }

#[recover(component = "ledger")]
async fn sum_async(v: Vec<i64>) -> Option<i64> { Some(v.iter().sum()) }

#[recover(component = "ledger")]
fn unit(v: Vec<i64>) { drop(v) }

#[recover(component = "ledger", policy = CrashProcess)]
fn crash_sum(v: Vec<i64>) -> i64 { v.iter().sum() }

#[safe_task(component = "ledger")]
fn sum_task(v: Vec<i64>) -> i64 { v.iter().sum() }

#[safe_task(component = "ledger")]
async fn sum_task_async(v: Vec<i64>) -> i64 { v.iter().sum() }

#[safe_task(component = "ledger", restart(max = 1, backoff = "1ms..1ms"))]
async fn sum_task_restart(_ctx: TaskContext, v: Vec<i64>) -> i64 { v.iter().sum() }

#[safe_task(component = "ledger", restart(max = 1, backoff = "1ms..1ms"))]
fn sum_task_restart_sync(_ctx: TaskContext, v: Vec<i64>) -> i64 { v.iter().sum() }

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(sum(vec![1, 2]), Some(3));
    assert_eq!(sum_async(vec![1, 2]).await, Some(3));
    unit(vec![1]);
    assert_eq!(crash_sum(vec![1, 2]), 3);
    assert_eq!(sum_task(vec![1, 2]).await.unwrap(), 3);
    assert_eq!(sum_task_async(vec![1, 2]).await.unwrap(), 3);
    assert_eq!(sum_task_restart(TaskContext::new(), vec![1, 2]).await.unwrap(), 3);
    assert_eq!(sum_task_restart_sync(TaskContext::new(), vec![1, 2]).await.unwrap(), 3);
    let handle = safe_go!("ledger", "sum", async move { 1 + 2 });
    assert_eq!(handle.await.unwrap(), 3);
    let handle = safe_go!("ledger", "sum-ctx", |_ctx| async move { 1 + 2 });
    assert_eq!(handle.await.unwrap(), 3);
}
