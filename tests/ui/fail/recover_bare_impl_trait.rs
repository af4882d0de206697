use std::fmt::Display;

use mruntime::recover;

#[recover(component = "ui")]
fn label(n: u32) -> impl Display {
    n
}

fn main() {
    println!("{}", label(1));
}
