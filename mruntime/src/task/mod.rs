//! Tasks: guarded spawns and their handles. `spawn.rs` is the one place in mruntime that spawns.

mod handle;
mod spawn;

pub use handle::{TaskError, TaskHandle};
pub(crate) use spawn::{guarded_task, spawn_blocking_site, spawn_site, spawn_thread};
pub use spawn::{spawn, spawn_blocking};
