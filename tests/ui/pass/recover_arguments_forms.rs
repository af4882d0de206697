//! Positional component and name, policy paths, and a name defaulting to the function's.
#![deny(warnings)]

use mruntime::{PanicPolicy, recover};

#[recover("onboarding", "handler.create_account")]
fn positional() -> Option<&'static str> {
    panic!("positional")
}

#[recover("onboarding", policy = KeepRunning)]
fn positional_then_key() -> Option<u8> {
    panic!("positional then key")
}

#[recover(component = "ledger", policy = mruntime::PanicPolicy::CrashProcess)]
fn full_policy_path(n: u32) -> u32 {
    n + 1
}

#[recover(component = "ledger", policy = PanicPolicy::KeepRunning)]
fn short_policy_path() -> Option<u8> {
    panic!("short policy path")
}

#[recover(component = "ledger", policy = CrashProcess, name = "raw.ident")]
fn r#type() -> u8 {
    1
}

/// The name defaults to the function's name; read it back from the recovered panic.
#[recover(component = "ui", on_panic = |p: mruntime::Panicked| p.name().to_owned())]
fn default_name() -> String {
    panic!("default name")
}

#[recover(component = "ui", on_panic = |p: mruntime::Panicked| format!("{}/{} {}", p.component(), p.name(), p.policy()))]
fn r#match() -> String {
    panic!("raw identifier name")
}

fn main() {
    assert_eq!(positional(), None);
    assert_eq!(positional_then_key(), None);
    assert_eq!(full_policy_path(1), 2);
    assert_eq!(short_policy_path(), None);
    assert_eq!(r#type(), 1);
    assert_eq!(default_name(), "default_name");
    assert_eq!(r#match(), "ui/match KeepRunning");
}
