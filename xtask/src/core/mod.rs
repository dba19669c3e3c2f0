//! The pure core: finding and rewriting C++, workload features, statistics,
//! rule fitting and patch text. Nothing in here runs a process, touches git,
//! reads a file or the clock; the commands feed it data and write what it
//! returns.

pub(crate) mod analysis;
pub(crate) mod anchors;
pub(crate) mod audit;
pub(crate) mod boo_csv;
pub(crate) mod cmake;
pub(crate) mod cpp;
pub(crate) mod crosscheck;
pub(crate) mod decide;
pub(crate) mod decisionlog;
pub(crate) mod difftext;
pub(crate) mod digest;
pub(crate) mod fit;
pub(crate) mod html;
pub(crate) mod linalg;
pub(crate) mod littest;
pub(crate) mod lowering;
pub(crate) mod modelcheck;
pub(crate) mod numfmt;
pub(crate) mod patchtext;
pub(crate) mod provenance;
pub(crate) mod remeasure;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod rule;
pub(crate) mod schedule;
pub(crate) mod seeds;
pub(crate) mod stats;
#[cfg(test)]
pub(crate) mod testdata;
pub(crate) mod validation;
pub(crate) mod workload;

/// The tool's version, recorded in every file it writes.
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
