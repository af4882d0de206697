//! The shipped `clippy.toml` bans raw spawns in a user's crate, with its reason, and does not fire
//! on `safe_go!` or mruntime's functions (the macro never expands to a banned path). Runs
//! `cargo clippy` on `tests/fixtures/clippy_ban` with `CLIPPY_CONF_DIR` at the repo root.

use std::process::Command;

#[test]
fn clippy_flags_raw_spawns_and_not_safe_go() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(env!("CARGO"))
        .args([
            "clippy",
            "--quiet",
            "--bins",
            "--message-format=short",
            "--manifest-path",
        ])
        .arg(format!("{root}/tests/fixtures/clippy_ban/Cargo.toml"))
        .env("CLIPPY_CONF_DIR", root)
        .env(
            "CARGO_TARGET_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/clippy-ban-fixture"),
        )
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo clippy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("no such command"),
        "cargo clippy is not installed: {stderr}"
    );

    let flagged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("use of a disallowed method"))
        .collect();
    for (line, method) in [
        ("src/bin/raw.rs:6", "tokio::task::spawn"),
        ("src/bin/raw.rs:7", "tokio::task::spawn_blocking"),
        ("src/bin/raw.rs:10", "std::thread::spawn"),
    ] {
        assert!(
            flagged.iter().any(|l| l.contains(line)
                && l.contains(method)
                && l.contains("a panic in a raw")
                && l.contains("`mruntime::")),
            "{method} at {line} is flagged with its reason: {stderr}"
        );
    }
    assert_eq!(flagged.len(), 3, "only the three raw spawns: {flagged:#?}");
    assert!(
        !stderr.contains("src/bin/safe.rs"),
        "safe_go! and mruntime::spawn_blocking are not flagged: {stderr}"
    );
}
