//! `safe_go!` with `restart(..)`: a closure whose context argument is not annotated (`|ctx|`,
//! `|_|`) still has it inferred as `TaskContext`.
#![deny(warnings)]

use mruntime::safe_go;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let attempt = safe_go!(
        component = "ui",
        name = "restarted",
        restart(max = 1),
        |ctx| async move { ctx.attempt() }
    );
    assert_eq!(attempt.await.unwrap(), 1);

    let names = vec!["ana".to_owned()];
    let count = safe_go!("ui", "counted", restart, move |_| {
        let names = names.clone();
        async move { names.len() }
    });
    assert_eq!(count.await.unwrap(), 1);
}
