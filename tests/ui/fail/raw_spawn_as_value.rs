use mruntime::recover;

#[recover(component = "batch")]
fn start_all(jobs: Vec<std::future::Ready<()>>) -> Option<usize> {
    let handles: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
    Some(handles.len())
}

fn main() {
    let _ = start_all(Vec::new());
}
