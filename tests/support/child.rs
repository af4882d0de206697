//! Runs one test of the current test binary in a child process, for behaviour that ends the
//! process (CrashProcess). The child sees `MRUNTIME_TEST_CHILD=<scenario>`.

use std::process::Command;

/// How the child ended.
#[derive(Debug)]
pub struct ChildOutcome {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ChildOutcome {
    /// Whether the child died of SIGABRT (what `std::process::abort` raises).
    pub fn aborted(&self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal() == Some(6)
    }
}

/// The scenario this process must play, when it is a child started by [`run_child`].
pub fn child_scenario() -> Option<String> {
    std::env::var("MRUNTIME_TEST_CHILD").ok()
}

/// Runs the test named `test_name` of this test binary in a child process with
/// `MRUNTIME_TEST_CHILD=scenario`, and returns how it ended.
pub fn run_child(test_name: &str, scenario: &str) -> ChildOutcome {
    let exe = std::env::current_exe().expect("current test binary");
    let output = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MRUNTIME_TEST_CHILD", scenario)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run the child test process");
    ChildOutcome {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
