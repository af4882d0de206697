//! The one place that writes to stderr. What reaches it is a line that passed the egress gate
//! ([`egress`](crate::telemetry::egress): bounded, redacted, escaped) or fixed text of ours, so
//! the floors below telemetry (the panic captures) can describe their trouble without calling up.

use std::fmt;
use std::io::Write as _;

/// Writes `line` and a newline to stderr, ignoring a failed write: `eprintln!` would panic, and
/// the paths that describe a recovered panic's trouble must not.
pub(crate) fn write_line(line: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
