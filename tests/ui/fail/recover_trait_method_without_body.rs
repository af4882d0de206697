use mruntime::recover;

trait Handler {
    #[recover(component = "onboarding")]
    fn handle(&self) -> Option<u32>;
}

fn main() {}
