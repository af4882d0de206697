//! Runs one test of the current test binary in a child process, for behaviour that ends the
//! process (CrashProcess). The child sees `MRUNTIME_TEST_CHILD=<scenario>`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a child may run before it counts as hung and is killed, unless the test says
/// otherwise ([`run_child_within`]).
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// How the child ended.
#[derive(Debug)]
pub struct ChildOutcome {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From the start of the child to its end.
    pub took: Duration,
    /// Whether it was killed for running longer than its timeout.
    pub hung: bool,
    /// When the parent saw the child end (within a few milliseconds).
    pub ended_at: SystemTime,
}

impl ChildOutcome {
    /// Whether the child died of SIGABRT (what `std::process::abort` raises) by itself.
    pub fn aborted(&self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        !self.hung && self.status.signal() == Some(6)
    }

    /// From the child's [`mark_crash_start`] to its end: the time to death of a crash.
    pub fn time_to_death(&self) -> Option<Duration> {
        // The mark may follow the test harness's own text on its line.
        let after = &self.stdout[self.stdout.find(CRASH_START)? + CRASH_START.len()..];
        let digits = after.split(|c: char| !c.is_ascii_digit()).next()?;
        let marked = UNIX_EPOCH + Duration::from_nanos(digits.parse().ok()?);
        self.ended_at.duration_since(marked).ok()
    }
}

const CRASH_START: &str = "mruntime-test: crash starts at ";

/// In a child: marks now as the start of the crash, for [`ChildOutcome::time_to_death`].
pub fn mark_crash_start() {
    use std::io::Write;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "\n{CRASH_START}{}", now.as_nanos());
    let _ = stdout.flush();
}

/// The scenario this process must play, when it is a child started by [`run_child`].
pub fn child_scenario() -> Option<String> {
    std::env::var("MRUNTIME_TEST_CHILD").ok()
}

/// Runs the test named `test_name` of this test binary in a child process with
/// `MRUNTIME_TEST_CHILD=scenario`, and returns how it ended; a child still running after
/// [`CHILD_TIMEOUT`] is killed and reported as `hung`.
pub fn run_child(test_name: &str, scenario: &str) -> ChildOutcome {
    run_child_within(test_name, scenario, CHILD_TIMEOUT)
}

/// [`run_child`], killing the child (and reporting it `hung`) after `timeout`.
pub fn run_child_within(test_name: &str, scenario: &str, timeout: Duration) -> ChildOutcome {
    let exe = std::env::current_exe().expect("current test binary");
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MRUNTIME_TEST_CHILD", scenario)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the child test process");
    let mut stdout_pipe = child.stdout.take().expect("piped stdout");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    // Both pipes are drained while waiting, so a chatty child cannot block on a full pipe.
    std::thread::scope(|s| {
        let stdout = s.spawn(move || read_all(&mut stdout_pipe));
        let stderr = s.spawn(move || read_all(&mut stderr_pipe));
        let mut hung = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break status;
            }
            if started.elapsed() >= timeout {
                hung = true;
                let _ = child.kill();
                break child.wait().expect("wait for the killed child");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = started.elapsed();
        let ended_at = SystemTime::now();
        ChildOutcome {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            took,
            hung,
            ended_at,
        }
    })
}

fn read_all(pipe: &mut impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
