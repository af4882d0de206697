//! `#[recover]` on async fns, methods and async-trait methods.

use mruntime::{Panicked, recover};
use mruntime_tests::Capture;

#[derive(Debug, PartialEq)]
struct ApiError(String);

impl From<Panicked> for ApiError {
    fn from(p: Panicked) -> Self {
        ApiError(p.message().to_owned())
    }
}

#[recover(component = "onboarding", name = "handler.create_account")]
async fn create_account(name: String) -> Result<u64, ApiError> {
    tokio::task::yield_now().await;
    assert!(!name.is_empty(), "input must not be nil");
    let id: u64 = "41".parse().map_err(|_| ApiError("parse".into()))?;
    Ok(id + 1)
}

#[recover(component = "onboarding")]
async fn maybe(fail: bool) -> Option<&'static str> {
    tokio::task::yield_now().await;
    if fail {
        panic!("maybe failed");
    }
    Some("ok")
}

#[recover(component = "onboarding", name = "unit")]
async fn unit(fail: bool) {
    if fail {
        panic!("unit failed");
    }
}

struct Repo {
    rows: Vec<String>,
}

impl Repo {
    #[recover(component = "onboarding", name = "postgres.create_account")]
    async fn insert(&mut self, row: String) -> Result<usize, ApiError> {
        tokio::task::yield_now().await;
        assert!(row != "bad", "constraint violated");
        self.rows.push(row);
        Ok(self.rows.len())
    }

    #[recover(component = "onboarding", name = "postgres.find")]
    async fn find(&self, index: usize) -> Option<&str> {
        Some(self.rows[index].as_str())
    }
}

#[async_trait::async_trait]
trait Notifier {
    async fn notify(&self, to: String) -> Result<(), ApiError>;
}

struct Email;

#[async_trait::async_trait]
impl Notifier for Email {
    #[recover(component = "notification", name = "email.notify")]
    async fn notify(&self, to: String) -> Result<(), ApiError> {
        tokio::task::yield_now().await;
        assert!(to.contains('@'), "not an address: {to}");
        Ok(())
    }
}

#[test]
fn async_fns_methods_and_async_trait() {
    let capture = Capture::new();
    let _default = capture.set_default();
    let rt = capture.current_thread_runtime();
    rt.block_on(async {
        assert_eq!(create_account("ana".into()).await, Ok(42));
        assert_eq!(
            create_account(String::new()).await,
            Err(ApiError("input must not be nil".into()))
        );
        assert_eq!(maybe(false).await, Some("ok"));
        assert_eq!(maybe(true).await, None);
        unit(true).await;

        let mut repo = Repo { rows: vec![] };
        assert_eq!(repo.insert("a".into()).await, Ok(1));
        assert_eq!(
            repo.insert("bad".into()).await,
            Err(ApiError("constraint violated".into()))
        );
        assert_eq!(repo.find(0).await, Some("a"));
        assert_eq!(repo.find(9).await, None);

        let notifier: Box<dyn Notifier + Send + Sync> = Box::new(Email);
        assert_eq!(notifier.notify("ana@example.com".into()).await, Ok(()));
        assert_eq!(
            notifier.notify("nobody".into()).await,
            Err(ApiError("not an address: nobody".into()))
        );
    });

    let names: Vec<_> = capture
        .panic_events()
        .iter()
        .map(|e| e.field("goroutine_name").unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "handler.create_account",
            "maybe",
            "unit",
            "postgres.create_account",
            "postgres.find",
            "email.notify"
        ]
    );
}

#[test]
fn async_guard_span_is_a_child_of_the_caller_span() {
    let capture = Capture::new();
    let _default = capture.set_default();
    let rt = capture.current_thread_runtime();
    rt.block_on(async {
        let request = tracing::info_span!("request", id = 7);
        let _ = tracing::Instrument::instrument(create_account(String::new()), request).await;
    });
    let event = &capture.panic_events()[0];
    assert_eq!(event.scope[0].name, "mruntime.guard");
    assert_eq!(event.scope[0].fields["name"], "handler.create_account");
    assert_eq!(event.scope[1].name, "request");
}
