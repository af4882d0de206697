//! The panic hook: installed once, chaining the previous hook. Inside a guard a panic is taken by
//! the guard and not printed raw; outside every guard it reaches the previous hook unchanged.
//! (One test in this binary: panic hooks are process-wide.)

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mruntime::PanicPolicy::KeepRunning;

static PREVIOUS_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_HOOK_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn previous_hook_sees_only_panics_outside_guards() {
    std::panic::set_hook(Box::new(|info| {
        PREVIOUS_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default();
        PREVIOUS_HOOK_MESSAGES.lock().unwrap().push(message);
    }));

    // Inside a guard: recovered, located, and the previous hook is not called.
    let p = mruntime::guard("c", "inside", KeepRunning, || panic!("inside")).unwrap_err();
    assert!(p.location().is_some());
    assert_eq!(PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst), 0);

    // Outside every guard: the previous hook gets it, unchanged.
    let outside = std::panic::catch_unwind(|| panic!("outside"));
    assert!(outside.is_err());
    assert_eq!(PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(*PREVIOUS_HOOK_MESSAGES.lock().unwrap(), ["outside"]);

    // After a guard returned normally, this thread is outside every guard again.
    mruntime::guard("c", "fine", KeepRunning, || ()).unwrap();
    let _ = std::panic::catch_unwind(|| panic!("after"));
    assert_eq!(PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst), 2);

    // A hook installed after mruntime's replaces it; `install_panic_hook` is once-only, so the
    // location is then unknown but the panic is still recovered.
    std::panic::set_hook(Box::new(|_| {}));
    let p = mruntime::guard("c", "replaced", KeepRunning, || panic!("no hook")).unwrap_err();
    assert_eq!(p.message(), "no hook");
    assert!(p.location().is_none());
}
