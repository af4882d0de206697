//! `#[recover]` on sync fns and methods: every return-type mapping, payload kinds, location,
//! nesting, and the event it reports.

use mruntime::{Panicked, recover};
use mruntime_tests::Capture;

#[derive(Debug)]
struct ApiError(String);

impl From<Panicked> for ApiError {
    fn from(p: Panicked) -> Self {
        ApiError(format!("500: {}", p.message()))
    }
}

#[recover(component = "ledger", name = "unit")]
fn returns_unit(fail: bool, hits: &mut u32) {
    *hits += 1;
    assert!(!fail, "unit failed");
}

#[recover(component = "ledger")]
fn returns_option(fail: bool) -> Option<u32> {
    if fail {
        panic!("option failed");
    }
    Some(7)
}

#[recover("ledger", "handler.create_account")]
fn returns_result(fail: bool) -> Result<u32, ApiError> {
    if fail {
        let empty: Vec<u32> = Vec::new();
        return Ok(empty[3]); // index out of bounds
    }
    let parsed: u32 = "41".parse().map_err(|_| ApiError("parse".into()))?;
    Ok(parsed + 1)
}

fn fallback(p: Panicked) -> String {
    format!("fallback after {}", p.message())
}

#[recover(component = "ledger", on_panic = fallback)]
fn returns_string(fail: bool) -> String {
    if fail {
        panic!("string failed");
    }
    "fine".to_owned()
}

#[derive(Debug)]
struct Code(u16);

#[recover(component = "ledger", name = "custom")]
fn panics_with_custom_payload() -> Result<(), Panicked> {
    std::panic::panic_any(Code(418))
}

struct Account {
    balance: i64,
}

impl Account {
    #[recover(component = "ledger", name = "account.debit")]
    fn debit(&mut self, amount: i64) -> Result<i64, ApiError> {
        assert!(self.balance >= amount, "insufficient funds");
        self.balance -= amount;
        Ok(self.balance)
    }

    #[recover(component = "ledger", name = "account.peek")]
    fn peek(&self) -> Option<&i64> {
        Some(&self.balance)
    }

    #[recover(component = "ledger", name = "account.close")]
    fn close(self) -> Option<i64> {
        Some(self.balance)
    }
}

#[recover(component = "ledger", name = "generic")]
fn largest<T>(items: &[T]) -> Option<T>
where
    T: PartialOrd + Copy,
{
    let mut best = *items.first()?;
    for &item in items {
        if item > best {
            best = item;
        }
    }
    Some(best)
}

#[recover(component = "ledger", name = "impl-trait")]
fn impl_trait(fail: bool) -> Result<impl std::fmt::Display, ApiError> {
    assert!(!fail, "impl trait failed");
    Ok(5u8)
}

#[test]
fn every_return_type_mapping() {
    let capture = Capture::new();
    let _default = capture.set_default();

    let mut hits = 0;
    returns_unit(false, &mut hits);
    returns_unit(true, &mut hits);
    assert_eq!(hits, 2, "the body ran both times and the caller went on");

    assert_eq!(returns_option(false), Some(7));
    assert_eq!(returns_option(true), None);

    assert_eq!(returns_result(false).unwrap(), 42);
    let err = returns_result(true).unwrap_err();
    assert!(err.0.starts_with("500: index out of bounds"), "{err:?}");

    assert_eq!(returns_string(false), "fine");
    assert_eq!(returns_string(true), "fallback after string failed");

    assert_eq!(largest(&[3, 9, 2]), Some(9));
    assert_eq!(largest::<u8>(&[]), None);
    assert_eq!(impl_trait(false).unwrap().to_string(), "5");
    assert!(impl_trait(true).is_err());

    let events = capture.panic_events();
    let names: Vec<_> = events
        .iter()
        .map(|e| e.field("goroutine_name").unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "unit",
            "returns_option",
            "handler.create_account",
            "returns_string",
            "impl-trait"
        ],
        "name defaults to the fn's name; one event per panic"
    );
    assert!(
        events
            .iter()
            .all(|e| e.field("component") == Some("ledger"))
    );
}

#[test]
fn methods_with_every_receiver() {
    let mut account = Account { balance: 10 };
    assert_eq!(account.debit(4).unwrap(), 6);
    let err = account.debit(100).unwrap_err();
    assert_eq!(err.0, "500: insufficient funds");
    assert_eq!(account.balance, 6, "state before the panic is kept");
    assert_eq!(account.peek(), Some(&6));
    assert_eq!(account.close(), Some(6));
}

#[test]
fn payload_kinds_and_location() {
    let line = line!() + 3;
    #[recover(component = "ledger", name = "located")]
    fn located() -> Result<(), Panicked> {
        panic!("static str payload")
    }
    let p = located().unwrap_err();
    assert_eq!(
        p.payload().downcast_ref::<&str>(),
        Some(&"static str payload")
    );
    let location = p.location().unwrap();
    assert_eq!((location.file(), location.line()), (file!(), line));

    let mut p = panics_with_custom_payload().unwrap_err();
    assert!(p.message().contains("not a string"));
    assert_eq!(
        p.payload_mut().downcast_ref::<Code>().map(|c| c.0),
        Some(418)
    );
}

#[test]
fn nested_recover_reports_once() {
    #[recover(component = "inner", name = "inner")]
    fn inner() -> Option<()> {
        panic!("deep")
    }
    #[recover(component = "outer", name = "outer")]
    fn outer() -> Option<bool> {
        Some(inner().is_none())
    }
    let capture = Capture::new();
    let _default = capture.set_default();
    assert_eq!(outer(), Some(true));
    let events = capture.panic_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].field("component"), Some("inner"));
    assert_eq!(
        events[0].scope[1].fields["name"], "outer",
        "inner span is a child of outer"
    );
}
