//! `component` and `name` may name `&'static str` constants; the label is the constant's value.
#![deny(warnings)]

use mruntime::{TaskError, recover, safe_go, safe_task};

mod labels {
    pub const PAYMENTS: &str = "payments";
    pub const CHARGE: &str = "charge";
}

const NOTIFICATION: &str = "notification";
const EMAIL_SENDER: &str = "email-sender";

#[recover(component = labels::PAYMENTS, name = labels::CHARGE)]
fn charge(amount: u64) -> Option<u64> {
    assert!(amount > 0, "nothing to charge");
    Some(amount)
}

#[safe_task(component = labels::PAYMENTS, name = labels::CHARGE)]
async fn charge_task() {
    panic!("card declined");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(charge(5), Some(5));
    assert_eq!(charge(0), None);

    let Err(TaskError::Panicked(panicked)) = charge_task().await else {
        panic!("the task should have panicked");
    };
    assert_eq!((panicked.component(), panicked.name()), ("payments", "charge"));

    let handle = safe_go!(component = NOTIFICATION, name = EMAIL_SENDER, async {
        panic!("smtp down");
    });
    let Err(TaskError::Panicked(panicked)) = handle.await else {
        panic!("the task should have panicked");
    };
    assert_eq!((panicked.component(), panicked.name()), ("notification", "email-sender"));
}
