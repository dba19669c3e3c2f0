//! The pure core: finding and rewriting C++, workload features, statistics,
//! rule fitting and patch text. Nothing in here runs a process, touches git or
//! reads a file; the commands feed it data and write what it returns.

pub mod analysis;
#[cfg(test)]
mod analysis_tests;
pub mod boo_csv;
pub mod cmake;
pub mod cpp;
pub mod decide;
pub mod difftext;
pub mod fit;
pub mod html;
pub mod littest;
pub mod patchtext;
pub mod report;
pub mod results;
pub mod stats;
pub mod validation;
pub mod workload;
