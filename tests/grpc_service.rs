//! The `grpc_service` example, run as a child process on a loopback port and driven with a real
//! tonic client: a unary panic arrives as INTERNAL with the fixed message, a streaming panic as
//! the messages sent before it then INTERNAL (under the `RecoverLayer` alone, and under
//! `guard_stream`), the next call succeeds, and each panic is logged once with its `rpc.*`
//! attributes.

use std::future::Future;
use std::time::Duration;

use mruntime_tests::service::{ServiceProcess, eventually, example_binary};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

#[allow(unreachable_pub, missing_docs, dead_code, clippy::all)]
mod proto {
    tonic::include_proto!("ledger.v1");
}

use proto::ledger_client::LedgerClient;
use proto::{BalanceRequest, EntriesRequest};

/// The fixed message of every recovered panic's status.
const FIXED_MESSAGE: &str = "internal server error";

fn start() -> ServiceProcess {
    ServiceProcess::start(&example_binary("grpc_service"), &[])
}

/// Runs `test` on a fresh runtime, failing it if it takes more than 30 s.
fn bounded<F: Future<Output = ()>>(test: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), test)
            .await
            .expect("the gRPC exchange took more than 30 s");
    });
}

async fn client(service: &ServiceProcess) -> LedgerClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{}", service.addr()))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nstderr:\n{}", service.stderr()));
    LedgerClient::new(channel)
}

/// The `panic.recovered` lines the service logged, once `count` of them are there (at most 5 s).
fn panic_lines(service: &ServiceProcess, count: usize) -> Vec<String> {
    let lines = || -> Vec<String> {
        service
            .stderr()
            .lines()
            .filter(|l| l.contains(" panic.recovered "))
            .map(str::to_owned)
            .collect()
    };
    eventually(Duration::from_secs(5), Duration::from_millis(20), || {
        let found = lines();
        (found.len() >= count).then_some(())
    });
    lines()
}

/// The request span's part of a log line (`mruntime.http{...}`).
fn request_span(line: &str) -> &str {
    let start = line
        .find("mruntime.http{")
        .expect("logged in the request span");
    let end = line[start..].find('}').expect("span fields end") + start;
    &line[start..end]
}

/// Reads a server stream to its end: the entries' indexes, then the error that ended it.
async fn drain(
    client: &mut LedgerClient<Channel>,
    request: EntriesRequest,
) -> (Vec<u32>, Option<tonic::Status>) {
    let mut stream = match client.list_entries(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return (Vec::new(), Some(status)),
    };
    let mut indexes = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(entry)) => indexes.push(entry.index),
            Ok(None) => return (indexes, None),
            Err(status) => return (indexes, Some(status)),
        }
    }
}

fn entries(panic_after: u32, guarded: bool) -> EntriesRequest {
    EntriesRequest {
        account: "ana".into(),
        count: 8,
        panic_after,
        guarded,
    }
}

#[test]
fn unary_panic_is_internal_with_the_fixed_message_and_the_next_call_succeeds() {
    let service = start();
    bounded(async {
        let mut client = client(&service).await;
        let status = client
            .get_balance(BalanceRequest {
                account: "poison".into(),
            })
            .await
            .expect_err("the poisoned account panics");
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert_eq!(status.message(), FIXED_MESSAGE);
        assert!(!format!("{status:?}").contains("corrupted"), "{status:?}");

        let balance = client
            .get_balance(BalanceRequest {
                account: "ana".into(),
            })
            .await
            .expect("the next call succeeds")
            .into_inner();
        assert_eq!(balance.account, "ana");
        assert!(balance.cents > 0);
    });
    let lines = panic_lines(&service, 1);
    assert_eq!(lines.len(), 1, "{}", service.stderr());
    let line = &lines[0];
    assert!(
        line.contains(r#"goroutine_name="grpc.get_balance""#),
        "{line}"
    );
    assert!(
        line.contains("balance row for poison is corrupted"),
        "{line}"
    );
    assert!(line.contains(r#"rpc.system="grpc""#), "{line}");
    assert!(line.contains(r#"rpc.service="ledger.v1.Ledger""#), "{line}");
    assert!(line.contains(r#"rpc.method="GetBalance""#), "{line}");
    assert!(
        line.contains(r#"url.path="/ledger.v1.Ledger/GetBalance""#),
        "{line}"
    );
    assert!(
        request_span(line).contains(r#"rpc.method="GetBalance""#),
        "{line}"
    );
}

#[test]
fn streaming_panic_under_the_layer_only_sends_the_messages_then_internal() {
    let service = start();
    bounded(async {
        let mut client = client(&service).await;
        let (indexes, status) = drain(&mut client, entries(3, false)).await;
        let status = status.expect("the stream ends with an error");
        assert_eq!(indexes, [0, 1, 2], "{status:?}");
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert_eq!(status.message(), FIXED_MESSAGE);

        let (indexes, status) = drain(&mut client, entries(0, false)).await;
        assert!(status.is_none(), "{status:?}");
        assert_eq!(indexes, (0..8).collect::<Vec<_>>());
    });
    let lines = panic_lines(&service, 1);
    assert_eq!(lines.len(), 1, "{}", service.stderr());
    let line = &lines[0];
    // Reported by the layer, the only guard around the stream.
    assert!(
        line.contains(r#"component="ledger" goroutine_name="grpc""#),
        "{line}"
    );
    assert!(
        line.contains("journal page 3 of ana is corrupted"),
        "{line}"
    );
    assert!(line.contains(r#"rpc.method="ListEntries""#), "{line}");
    assert!(line.contains(r#"rpc.service="ledger.v1.Ledger""#), "{line}");
    assert!(
        request_span(line).contains(r#"rpc.system="grpc""#),
        "{line}"
    );
}

#[test]
fn streaming_panic_under_guard_stream_sends_exactly_the_messages_before_it_then_internal() {
    let service = start();
    bounded(async {
        let mut client = client(&service).await;
        let (indexes, status) = drain(&mut client, entries(5, true)).await;
        let status = status.expect("the stream ends with an error");
        assert_eq!(indexes, [0, 1, 2, 3, 4], "{status:?}");
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert_eq!(status.message(), FIXED_MESSAGE);

        let balance = client
            .get_balance(BalanceRequest {
                account: "bo".into(),
            })
            .await;
        assert!(balance.is_ok(), "{balance:?}");
    });
    let lines = panic_lines(&service, 1);
    assert_eq!(lines.len(), 1, "{}", service.stderr());
    let line = &lines[0];
    assert!(
        line.contains(r#"goroutine_name="grpc.list_entries.stream""#),
        "{line}"
    );
    assert!(
        line.contains("journal page 5 of ana is corrupted"),
        "{line}"
    );
    assert!(line.contains(r#"rpc.method="ListEntries""#), "{line}");
    // The stream's guard span is a child of the request's span.
    assert!(line.contains("mruntime.guard{"), "{line}");
    assert!(
        request_span(line).contains(r#"rpc.service="ledger.v1.Ledger""#),
        "{line}"
    );
}
