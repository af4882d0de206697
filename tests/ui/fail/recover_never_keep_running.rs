use mruntime::recover;

#[recover(component = "server")]
fn serve() -> ! {
    loop {}
}

fn main() {
    serve();
}
