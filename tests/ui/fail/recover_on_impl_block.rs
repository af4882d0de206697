use mruntime::recover;

struct Handler;

#[recover(component = "onboarding")]
impl Handler {
    fn handle(&self) -> Option<u32> {
        Some(1)
    }
}

fn main() {
    let _ = Handler.handle();
}
