//! Where a guard stands: the component, name and policy every report is labelled with.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use crate::policy::PanicPolicy;

/// The identity of a guarded call or task: component, name and policy.
///
/// Component and name are `&'static str` on purpose: they become metric label values, and
/// static strings keep label cardinality bounded (never a panic message, never a user id).
/// The macros build one `static Site` per annotated item, so a guarded future carries a single
/// pointer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Site {
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
}

impl Site {
    /// A site for `component`/`name` under `policy`.
    pub const fn new(component: &'static str, name: &'static str, policy: PanicPolicy) -> Self {
        Site {
            component,
            name,
            policy,
        }
    }

    /// The component (`"transaction"`, `"onboarding"`, ...).
    pub const fn component(&self) -> &'static str {
        self.component
    }

    /// The task or handler name (`"balance-sync"`, `"handler.create_account"`, ...).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The policy applied after a recovered panic.
    pub const fn policy(&self) -> PanicPolicy {
        self.policy
    }
}

/// A site held either by value (function API) or as a pointer to a `static` (the macros),
/// so that guarded futures from the macros stay one pointer wide.
pub trait AsSite: Send + Sync + Unpin + 'static {
    /// The site.
    fn site(&self) -> &Site;

    /// The site as a `&'static Site`: the pointer itself for a `static` (the macros' sites),
    /// otherwise one shared copy per distinct site (see [`interned`]).
    #[doc(hidden)]
    fn static_site(&self) -> &'static Site {
        interned(self.site())
    }
}

impl AsSite for Site {
    fn site(&self) -> &Site {
        self
    }
}

impl AsSite for &'static Site {
    fn site(&self) -> &Site {
        self
    }

    #[inline]
    fn static_site(&self) -> &'static Site {
        self
    }
}

/// `site` as a `&'static Site`, so that a [`TaskHandle`](crate::TaskHandle) holds one pointer
/// instead of a 40-byte copy (a `Vec` of handles for 1,000 tasks is then 16 KB instead of 48 KB,
/// and stays in the L1 cache). A site given by value (the function API, [`Task`](crate::Task))
/// is copied once into a process-wide table, and every equal site after that gets the same copy:
/// the table holds one entry per distinct component, name and policy a program uses (static
/// strings), never one per spawn. The thread's last lookup is kept, so a loop spawning under one
/// site takes no lock.
pub(crate) fn interned(site: &Site) -> &'static Site {
    thread_local! {
        static LAST: Cell<Option<&'static Site>> = const { Cell::new(None) };
    }
    if let Ok(Some(last)) = LAST.try_with(Cell::get)
        && *last == *site
    {
        return last;
    }
    static TABLE: LazyLock<Mutex<HashSet<&'static Site>>> = LazyLock::new(Default::default);
    let found = {
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        match table.get(site) {
            Some(found) => *found,
            None => {
                let leaked: &'static Site = Box::leak(Box::new(*site));
                table.insert(leaked);
                leaked
            }
        }
    };
    let _ = LAST.try_with(|last| last.set(Some(found)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sites_share_one_interned_copy_and_different_ones_do_not() {
        let a = interned(&Site::new("interning", "a", PanicPolicy::KeepRunning));
        let b = interned(&Site::new("interning", "b", PanicPolicy::KeepRunning));
        let crash = interned(&Site::new("interning", "a", PanicPolicy::CrashProcess));
        // Equal content from another string (not the same pointer) is the same site.
        let name = String::from("a").leak();
        let again = interned(&Site::new("interning", name, PanicPolicy::KeepRunning));
        assert!(std::ptr::eq(a, again));
        assert!(!std::ptr::eq(a, b) && !std::ptr::eq(a, crash));
        assert_eq!(
            (a.name(), b.name(), crash.policy()),
            ("a", "b", PanicPolicy::CrashProcess)
        );
        // Another thread (an empty last-lookup cache) finds the same copies.
        let (a2, b2) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    (
                        interned(&Site::new("interning", "a", PanicPolicy::KeepRunning))
                            as *const Site as usize,
                        interned(&Site::new("interning", "b", PanicPolicy::KeepRunning))
                            as *const Site as usize,
                    )
                })
                .join()
                .unwrap()
        });
        assert_eq!(
            (a2, b2),
            (a as *const Site as usize, b as *const Site as usize)
        );
    }
}
