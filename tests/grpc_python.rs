//! The `grpc_service` example driven by a real Python `grpcio` client (stubs generated from the
//! same `proto/ledger.proto` by `grpcio-tools`): the unary panic arrives as
//! `StatusCode.INTERNAL` with the fixed message, a streaming panic as the messages sent before it
//! then `StatusCode.INTERNAL` (under the layer alone and under `guard_stream`), and the following
//! calls succeed. And `grpc.health.v1` through the Python `grpcio-health-checking` client: `Check`
//! says SERVING, then NOT_SERVING once the supervised worker gave up (or the service drains on
//! SIGTERM), and a `Watch` stream goes SERVING -> NOT_SERVING.
//!
//! The Python comes from `MRUNTIME_PYTHON` (a virtualenv's `bin/python` with `grpcio` and
//! `grpcio-tools`, which `.ci/run` creates). Without it the test is reported as ignored, with the
//! reason, in the summary; with `MRUNTIME_REQUIRE_PYTHON_GRPC=1` (as `.ci/run` sets) a missing
//! Python fails it instead. A libtest-mimic harness (`harness = false`), since the standard one
//! cannot skip at run time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mruntime_tests::service::{ServiceProcess, TempDir, eventually, example_binary};

const TEST_NAME: &str = "python_grpcio_client_sees_internal_after_the_messages_sent";

/// The fixed message of every recovered panic's status.
const FIXED_MESSAGE: &str = "internal server error";

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        python_trial(TEST_NAME, python_client_test),
        python_trial(
            "python_health_client_sees_not_serving_once_a_supervised_worker_gave_up",
            |python| health_client_test(python, "USR1", &[]),
        ),
        python_trial(
            "python_health_client_sees_not_serving_while_the_service_drains",
            |python| health_client_test(python, "TERM", &[("GRPC_DRAIN_MS", "3000")]),
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

/// A trial that needs the Python of `MRUNTIME_PYTHON`: ignored without it (with the reason),
/// failed without it under `MRUNTIME_REQUIRE_PYTHON_GRPC=1`.
fn python_trial(name: &str, test: fn(&str) -> Result<(), Failed>) -> Trial {
    Trial::ignorable_test(name, move || match python_with_grpcio() {
        Ok(python) => test(&python).map(|()| Completion::Completed),
        Err(why) if required() => {
            Err(format!("MRUNTIME_REQUIRE_PYTHON_GRPC=1 but no usable Python: {why}").into())
        }
        Err(why) => Ok(Completion::ignored_with(format!(
            "not run: {why} (set MRUNTIME_PYTHON to a python with grpcio, grpcio-tools and \
             grpcio-health-checking; .ci/run does)"
        ))),
    })
}

/// The grpc_service example under the Python health client, which sends `signal` to the
/// service once its Watch stream said SERVING.
fn health_client_test(python: &str, signal: &str, envs: &[(&str, &str)]) -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let service = ServiceProcess::start(&example_binary("grpc_service"), envs);
    let mut client = Command::new(python);
    client
        .arg(root.join("tests/grpc_health_client.py"))
        .arg(service.addr().to_string())
        .arg(service.pid().to_string())
        .arg(signal);
    let seen = run_client(client, &service)?;
    let both = |status: &str| serde_json::json!({"": status, "ledger.v1.Ledger": status});
    check(seen["before"] == both("SERVING"), || seen.to_string())?;
    check(
        seen["watch"] == serde_json::json!(["SERVING", "NOT_SERVING"]),
        || seen.to_string(),
    )?;
    check(seen["after"] == both("NOT_SERVING"), || {
        format!("{seen}\nservice stderr:\n{}", service.stderr())
    })
}

fn required() -> bool {
    std::env::var("MRUNTIME_REQUIRE_PYTHON_GRPC").is_ok_and(|v| v == "1")
}

/// The Python named by `MRUNTIME_PYTHON`, once it imports `grpc` and `grpc_tools`.
fn python_with_grpcio() -> Result<String, String> {
    let python = std::env::var("MRUNTIME_PYTHON").map_err(|_| "MRUNTIME_PYTHON is not set")?;
    let mut check = Command::new(&python);
    check.args([
        "-c",
        "import grpc, grpc_tools, grpc_health.v1.health_pb2_grpc",
    ]);
    let output = run_bounded(check, Duration::from_secs(30))
        .map_err(|e| format!("{python} -c 'import grpc, grpc_tools, grpc_health': {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} cannot import grpc, grpc_tools and grpc_health: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(python)
}

/// Runs `command` to its end, killing it after `timeout`.
fn run_bounded(mut command: Command, timeout: Duration) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let exited = eventually(timeout, Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    });
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("did not finish within {timeout:?}"));
    }
    child
        .wait_with_output()
        .map_err(|e| format!("cannot read its output: {e}"))
}

/// Runs a Python client (bounded to 60 s) against `service` and parses the one JSON object it
/// prints.
fn run_client(client: Command, service: &ServiceProcess) -> Result<serde_json::Value, Failed> {
    let ran = run_bounded(client, Duration::from_secs(60))?;
    check(ran.status.success(), || {
        format!(
            "the Python client failed ({}):\n{}\nservice stderr:\n{}",
            ran.status,
            String::from_utf8_lossy(&ran.stderr),
            service.stderr()
        )
    })?;
    let stdout = String::from_utf8_lossy(&ran.stdout);
    Ok(serde_json::from_str(stdout.trim())
        .map_err(|e| format!("the client printed no JSON ({e}): {stdout}"))?)
}

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what().into())
    }
}

fn python_client_test(python: &str) -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stubs = TempDir::new("mruntime-grpc-python");
    let mut protoc = Command::new(python);
    protoc
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(root.join("proto"))
        .arg(format!("--python_out={}", stubs.path().display()))
        .arg(format!("--grpc_python_out={}", stubs.path().display()))
        .arg(root.join("proto/ledger.proto"));
    let generated = run_bounded(protoc, Duration::from_secs(60))?;
    check(generated.status.success(), || {
        format!(
            "grpc_tools.protoc failed: {}",
            String::from_utf8_lossy(&generated.stderr)
        )
    })?;

    let service = ServiceProcess::start(&example_binary("grpc_service"), &[]);
    let mut client = Command::new(python);
    client
        .arg(root.join("tests/grpc_python_client.py"))
        .arg(service.addr().to_string())
        .arg(stubs.path());
    let seen = run_client(client, &service)?;

    let internal = |key: &str, entries: Option<&[u32]>| -> Result<(), Failed> {
        let got = &seen[key];
        check(got["code"] == "INTERNAL", || format!("{key}: {got}"))?;
        check(got["details"] == FIXED_MESSAGE, || format!("{key}: {got}"))?;
        if let Some(entries) = entries {
            check(got["entries"] == serde_json::json!(entries), || {
                format!("{key}: {got}")
            })?;
        }
        Ok(())
    };
    internal("unary_panic", None)?;
    internal("stream_layer", Some(&[0, 1, 2]))?;
    internal("stream_guarded", Some(&[0, 1, 2]))?;
    check(seen["unary_after"]["account"] == "ana", || seen.to_string())?;
    check(seen["after_streams"]["account"] == "bo", || {
        seen.to_string()
    })?;

    // One report per panic: the unary one and the two streaming ones.
    let stderr = service.stderr();
    let reports = stderr
        .lines()
        .filter(|l| l.contains(" panic.recovered ") && l.contains(r#"rpc.system="grpc""#))
        .count();
    check(reports == 3, || format!("{reports} reports:\n{stderr}"))
}
