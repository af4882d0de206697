use mruntime::recover;

#[recover(component = "math")]
const fn double(n: u32) -> Option<u32> {
    n.checked_mul(2)
}

fn main() {
    let _ = double(2);
}
