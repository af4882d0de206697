use mruntime::recover;

#[recover(component = "ui", allow_raw_spawn = true)]
fn start() {}

fn main() {
    start();
}
