//! Tasks: guarded spawns and their handles, task contexts, groups with graceful shutdown, and
//! supervision, on top of [`crate::spawn`], the one place in mruntime that spawns.

mod builder;
mod context;
mod factory;
mod group;
mod handle;
mod launch;
mod report;
mod spawn;
mod supervise;

pub use builder::{NoRestart, Task};
pub use context::TaskContext;
pub use factory::TaskFactory;
pub use group::TaskGroup;
pub use handle::{TaskError, TaskHandle};
pub(crate) use launch::{
    Placement, spawn_blocking_once, spawn_blocking_supervised, spawn_once, spawn_supervised,
};
pub use report::{PanicSummary, ShutdownReport};
pub use spawn::{spawn, spawn_blocking};
pub(crate) use spawn::{spawn_blocking_site, spawn_site, untraced_task};
