//! Where a guard stands: the component, name and policy every report is labelled with.

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
}
