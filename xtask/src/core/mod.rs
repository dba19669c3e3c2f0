//! The pure core: finding and rewriting C++, workload features, statistics,
//! rule fitting and patch text. Nothing in here runs a process, touches git,
//! reads a file or the clock; the commands feed it data and write what it
//! returns.

pub mod analysis;
pub mod boo_csv;
pub mod cmake;
pub mod cpp;
pub mod decide;
pub mod difftext;
pub mod digest;
pub mod fit;
pub mod html;
pub mod littest;
pub mod numfmt;
pub mod patchtext;
pub mod report;
pub mod results;
pub mod rule;
pub mod stats;
pub mod validation;
pub mod workload;

/// The tool's version, recorded in every file it writes.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
