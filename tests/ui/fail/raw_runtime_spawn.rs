use mruntime::safe_task;

#[safe_task(component = "batch")]
fn run_batch(jobs: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..jobs {
        runtime.spawn(async {});
    }
}

fn main() {
    let _ = run_batch(1);
}
