use mruntime::recover;

#[recover(component = "onboarding")]
struct Handler {
    name: String,
}

fn main() {
    let handler = Handler {
        name: String::new(),
    };
    let _ = handler.name;
}
