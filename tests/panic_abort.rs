//! With `panic = "abort"` guards cannot recover, but every panic in a guard is still logged,
//! counted, reported and flushed from the hook before the abort. The fixture crate
//! `tests/fixtures/panic_abort` is built with that profile and run here.

use std::process::Command;

#[test]
fn panic_abort_build_reports_and_flushes_from_the_hook() {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/panic_abort/Cargo.toml"
    );
    let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/panic-abort-fixture");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--manifest-path", manifest])
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run cargo for the fixture");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);

    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(6), "aborted: {stderr}");
    assert!(!stdout.contains("UNREACHABLE"), "{stdout}");
    // Logged (the fmt subscriber), reported, counted and flushed, in that order.
    let logged = stderr.find("panic.recovered").expect(&stderr);
    let reported = stderr
        .find("REPORTED panic in ledger/post at src/main.rs:")
        .expect(&stderr);
    let flushed = stderr
        .find("FLUSHED panic_recovered_total component=ledger,goroutine_name=post,policy=KeepRunning 1")
        .expect(&stderr);
    assert!(logged < reported && reported < flushed, "{stderr}");
    assert!(stderr.contains("invariant broken"), "{stderr}");
    // The span trace, captured in the hook: the guard's span inside the request's.
    assert!(
        stderr.contains(
            "SPAN TRACE Some(\"mruntime: mruntime.guard{component=\\\"ledger\\\" name=\\\"post\\\" \
             policy=\\\"KeepRunning\\\" otel.name=\\\"post\\\"}\\nfixture: request{id=7}\")"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("built with panic = \"abort\""), "{stderr}");
}
