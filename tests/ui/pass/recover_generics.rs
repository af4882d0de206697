//! `#[recover]` on generic functions: type, lifetime and const parameters, `impl Trait`
//! arguments and where clauses.
#![deny(warnings)]

use std::fmt::Display;

use mruntime::recover;

#[recover(component = "ui")]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: PartialOrd,
{
    assert!(!items.is_empty(), "no items");
    items.iter().fold(None, |best, item| match best {
        Some(best) if best >= item => Some(best),
        _ => Some(item),
    })
}

#[recover(component = "ui")]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> Option<&'a str> {
    assert!(!a.is_empty() || !b.is_empty(), "both empty");
    Some(if a.len() >= b.len() { a } else { b })
}

#[recover(component = "ui")]
fn chunk<const N: usize>(values: &[u8]) -> Option<[u8; N]> {
    Some(values[..N].try_into().expect("N bytes"))
}

#[recover(component = "ui")]
fn describe(value: impl Display, times: usize) -> Option<String> {
    assert!(times > 0, "times must be positive");
    Some(value.to_string().repeat(times))
}

#[recover(component = "ui")]
async fn sum_all<I>(values: I) -> Option<u64>
where
    I: IntoIterator<Item = u64> + Send,
{
    tokio::task::yield_now().await;
    Some(
        values
            .into_iter()
            .map(|v| v.checked_mul(2).expect("overflow"))
            .sum(),
    )
}

struct Wrapper<T>(Vec<T>);

impl<T: Clone + Default> Wrapper<T> {
    #[recover(component = "ui")]
    fn get(&self, index: usize) -> Option<T> {
        Some(self.0[index].clone())
    }

    #[recover(component = "ui")]
    fn get_or_default<U: Into<usize>>(&self, index: U) -> Option<T> {
        Some(self.0.get(index.into()).cloned().unwrap_or_default())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(largest(&[1, 5, 3]), Some(&5));
    assert_eq!(largest::<u8>(&[]), None);
    assert_eq!(longest("ab", "abc"), Some("abc"));
    assert_eq!(longest("", ""), None);
    assert_eq!(chunk::<2>(&[1, 2, 3]), Some([1, 2]));
    assert_eq!(chunk::<4>(&[1, 2, 3]), None);
    assert_eq!(describe('x', 3).as_deref(), Some("xxx"));
    assert_eq!(describe('x', 0), None);
    assert_eq!(sum_all(vec![1, 2]).await, Some(6));
    assert_eq!(sum_all(vec![u64::MAX]).await, None);
    let wrapper = Wrapper(vec![10, 20]);
    assert_eq!(wrapper.get(1), Some(20));
    assert_eq!(wrapper.get(2), None);
    assert_eq!(wrapper.get_or_default(5u8), Some(0));
}
