//! The one way mruntime drops a value of the user's: [`UserValue`].
//!
//! Whatever a guard holds for the user (a future, a stream, a body, a factory's closure, a
//! task's output) is kept in a [`UserValue`], which has no `Drop` of its own. Its value is
//! dropped only by [`UserValue::drop_guarded`] (in a guard of the holder's site) or by
//! [`UserValue::drop_in_guard`] (inside the guard already running, as a future's last poll
//! does), or handed back whole ([`UserValue::into_inner`]). A panic in the value's `Drop` is
//! thus recovered like a panic while polling: one report (event, count, span event, reporter),
//! under the holder's site, and its policy applied. A holder that forgot its value would leak
//! it, never unwind: no drop mruntime performs can unwind out of a guard. (A panic's payload is
//! the one value dropped otherwise: [`drop_payload`](crate::panic::capture::drop_payload)
//! contains it, since reporting it would make a new payload.)

use std::borrow::Borrow;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::guard::{Recovery, catch_as};
use crate::panic::Panicked;
use crate::site::Site;

/// A value of the user's that mruntime holds: never dropped implicitly (see the module docs).
#[repr(transparent)]
pub(crate) struct UserValue<T>(ManuallyDrop<T>);

impl<T> UserValue<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        UserValue(ManuallyDrop::new(value))
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> &T {
        &self.0
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// The value, pinned: a pinned `UserValue` pins its value (it is never moved out while
    /// pinned; dropping it in place is allowed).
    #[inline(always)]
    pub(crate) fn as_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        // SAFETY: structural pinning: the value is only dropped in place or taken by value
        // (`into_inner`, which needs the `UserValue` unpinned).
        unsafe { self.map_unchecked_mut(|v| &mut *v.0) }
    }

    /// The value, handed back to the user: its drop is theirs from now on.
    #[inline(always)]
    pub(crate) fn into_inner(self) -> T {
        ManuallyDrop::into_inner(self.0)
    }

    /// Drops the value inside a guard of `site` of its own: a panic in its `Drop` is
    /// recovered, reported once and the policy applied; `Err` is that (reported) panic.
    ///
    /// # Safety
    ///
    /// The value is dropped here: it must not be used, dropped nor taken again.
    #[inline]
    pub(crate) unsafe fn drop_guarded(
        &mut self,
        site: &Site,
        recovery: Recovery,
    ) -> Result<(), Panicked> {
        if !mem::needs_drop::<T>() {
            return Ok(());
        }
        // SAFETY: the caller hands the value over to be dropped once, here.
        catch_as(site, recovery, || unsafe {
            ManuallyDrop::drop(&mut self.0)
        })
    }

    /// Drops the value in the guard that is running (a future's last poll drops it there, so
    /// the common drop costs no guard of its own).
    ///
    /// # Safety
    ///
    /// As [`drop_guarded`](Self::drop_guarded), and called inside the closure a guard of the
    /// holder's site runs ([`catch`](crate::guard::catch)), which catches a panic of the drop.
    #[inline(always)]
    pub(crate) unsafe fn drop_in_guard(&mut self) {
        // SAFETY: the caller's.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

/// Empties `slot` (a holder's optional value), dropping its value in a guard of `site`;
/// `Err` is the drop's panic, recovered and reported.
#[inline]
pub(crate) fn clear_guarded<T>(
    slot: Pin<&mut Option<UserValue<T>>>,
    site: &Site,
    recovery: Recovery,
) -> Result<(), Panicked> {
    // SAFETY: the value is dropped in place, then the slot emptied (`UserValue` has no drop of
    // its own: overwriting it drops nothing), so it is never used again; nothing is moved.
    let slot = unsafe { slot.get_unchecked_mut() };
    let dropped = match slot {
        Some(value) => unsafe { value.drop_guarded(site, recovery) },
        None => Ok(()),
    };
    *slot = None;
    dropped
}

/// Drops `value` in a guard of `site` (a holder giving up an owned value of the user's).
#[inline]
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // the layer's unsent answer
pub(crate) fn drop_guarded<T>(site: &Site, recovery: Recovery, value: T) -> Result<(), Panicked> {
    let mut value = UserValue::new(value);
    // SAFETY: `value` is a local, dropped here and never used again.
    unsafe { value.drop_guarded(site, recovery) }
}

/// A task's output, from its end until its handle takes it. Nobody may: tokio drops the
/// output of a task whose handle is gone (and swallows a panic there, unreported), so an output
/// not taken is dropped in a guard of the task's site instead. One pointer more than the value.
pub(crate) struct TaskOutput<T> {
    value: UserValue<T>,
    site: &'static Site,
}

impl<T> TaskOutput<T> {
    #[inline(always)]
    pub(crate) fn new(value: T, site: &'static Site) -> Self {
        TaskOutput {
            value: UserValue::new(value),
            site,
        }
    }

    /// The output, handed to the task's handle.
    #[inline(always)]
    pub(crate) fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped: the value is taken once (the site has no drop).
        unsafe { std::ptr::read(&this.value) }.into_inner()
    }
}

impl<T> Drop for TaskOutput<T> {
    #[inline]
    fn drop(&mut self) {
        // Reported already if it panics; nobody wanted the output.
        // SAFETY: the value is dropped here, once, and never used again.
        let _ = unsafe { self.value.drop_guarded(self.site, Recovery::Guard) };
    }
}

pin_project_lite::pin_project! {
    /// A value of the user's that is dropped inside a guard of `site` when this is dropped: a
    /// supervised task's attempt (polled by hand), its factory, a task's output not taken.
    pub(crate) struct DropGuarded<S: Borrow<Site>, T> {
        #[pin]
        value: UserValue<T>,
        site: S,
        recovery: Recovery,
    }

    impl<S: Borrow<Site>, T> PinnedDrop for DropGuarded<S, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Reported already if it panics; nothing is waiting for the value.
            // SAFETY: the value is dropped here, once, and never used again.
            let _ = unsafe {
                this.value
                    .get_unchecked_mut()
                    .drop_guarded((*this.site).borrow(), *this.recovery)
            };
        }
    }
}

impl<S: Borrow<Site>, T> DropGuarded<S, T> {
    #[inline]
    pub(crate) fn new(site: S, recovery: Recovery, value: T) -> Self {
        DropGuarded {
            value: UserValue::new(value),
            site,
            recovery,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value, handed back to its user (a blocking job's closure, called).
    #[inline]
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped: the value is taken once, and the site (the only
        // other field with a drop) dropped once.
        unsafe {
            std::ptr::drop_in_place(&mut this.site);
            std::ptr::read(&this.value).into_inner()
        }
    }
}

impl<S: Borrow<Site>, F: Future> Future for DropGuarded<S, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().value.as_pin_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::policy::PanicPolicy;

    /// Counts its drops, then panics.
    struct Bomb<'a>(&'a Cell<u32>);

    impl Drop for Bomb<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic!("bomb");
        }
    }

    #[test]
    fn a_user_value_is_dropped_only_through_a_guard() {
        let drops = Cell::new(0);
        {
            // Forgotten by its holder: leaked, never dropped outside a guard.
            let _forgotten = UserValue::new(Bomb(&drops));
        }
        assert_eq!(drops.get(), 0);

        let site = Site::new("unit", "drop", PanicPolicy::KeepRunning);
        let mut value = UserValue::new(Bomb(&drops));
        // SAFETY: dropped once, never used again.
        let dropped = unsafe { value.drop_guarded(&site, Recovery::Guard) };
        assert_eq!(drops.get(), 1);
        assert_eq!(dropped.unwrap_err().message(), "bomb");

        let mut value = Some(UserValue::new(Bomb(&drops)));
        assert!(clear_guarded(Pin::new(&mut value), &site, Recovery::Guard).is_err());
        assert!(value.is_none());
        assert_eq!(drops.get(), 2);
        // Nothing left to drop: a second clear drops nothing.
        assert!(clear_guarded(Pin::new(&mut value), &site, Recovery::Guard).is_ok());
        assert_eq!(drops.get(), 2);
    }
}
