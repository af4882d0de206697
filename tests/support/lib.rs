//! Test support for mruntime's behaviour tests.
