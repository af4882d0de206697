//! `#[recover]` on methods with every receiver, sync and async, borrowing results included.
#![deny(warnings)]

use mruntime::recover;

#[derive(Debug, Default)]
struct Account {
    owner: String,
    balance: i64,
}

impl Account {
    #[recover(component = "ui")]
    fn new(owner: &str) -> Option<Self> {
        assert!(!owner.is_empty(), "no owner");
        Some(Account {
            owner: owner.to_owned(),
            balance: 0,
        })
    }

    /// `&self`, and a result borrowed from `self` through an elided lifetime.
    #[recover(component = "ui")]
    fn owner(&self) -> Option<&str> {
        assert!(!self.owner.is_empty(), "no owner");
        Some(&self.owner)
    }

    /// `&mut self`, mutating and returning a mutable borrow of `self`.
    #[recover(component = "ui")]
    fn deposit(&mut self, amount: i64) -> Option<&mut i64> {
        assert!(amount > 0, "deposit must be positive");
        self.balance += amount;
        Some(&mut self.balance)
    }

    /// `self` by value, returning `Self`.
    #[recover(component = "ui")]
    fn renamed(mut self, owner: &str) -> Option<Self> {
        assert!(!owner.is_empty(), "no owner");
        self.owner = owner.to_owned();
        Some(self)
    }

    #[recover(component = "ui")]
    async fn balance(&self) -> Option<i64> {
        tokio::task::yield_now().await;
        assert!(self.balance >= 0, "negative balance");
        Some(self.balance)
    }

    #[recover(component = "ui")]
    async fn withdraw(&mut self, amount: i64) -> Option<&i64> {
        tokio::task::yield_now().await;
        assert!(amount <= self.balance, "insufficient funds");
        self.balance -= amount;
        Some(&self.balance)
    }

    #[recover(component = "ui")]
    async fn close(self) -> Option<String> {
        tokio::task::yield_now().await;
        assert!(self.balance == 0, "balance left");
        Some(self.owner)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert!(Account::new("").is_none());
    let mut account = Account::new("ana").unwrap();
    assert_eq!(account.owner(), Some("ana"));
    assert_eq!(account.deposit(10).copied(), Some(10));
    assert_eq!(account.deposit(-1), None);
    assert_eq!(account.balance().await, Some(10));
    assert_eq!(account.withdraw(20).await, None);
    assert_eq!(account.withdraw(10).await, Some(&0));
    let account = account.renamed("bea").unwrap();
    assert_eq!(account.owner(), Some("bea"));
    assert_eq!(account.close().await.as_deref(), Some("bea"));
    assert_eq!(
        Account {
            owner: "x".into(),
            balance: 1
        }
        .close()
        .await,
        None
    );
    assert!(Account::default().renamed("").is_none());
}
