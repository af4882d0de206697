//! Compile-time behaviour of the macros: every supported shape compiles and runs
//! (`tests/ui/pass`), every mistake is a compile error that points at the offending tokens and
//! says how to fix it (`tests/ui/fail`, messages in the committed `.stderr` files).
//!
//! Compiler messages drift between toolchains, so the expected output is pinned to stable.
//! Regenerate after a deliberate change with `TRYBUILD=overwrite cargo test --test ui`, then
//! read every changed `.stderr`.

#[rustversion::attr(not(stable), ignore)]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
