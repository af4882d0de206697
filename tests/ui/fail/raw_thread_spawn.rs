use mruntime::recover;

#[recover(component = "reports")]
fn render() -> Option<u32> {
    let worker = std::thread::spawn(|| 1);
    worker.join().ok()
}

fn main() {
    let _ = render();
}
