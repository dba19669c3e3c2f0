//! The split-reduction tuner as a library: the binary in `main.rs` is a thin
//! shell over [`cli`] and [`commands`]; `ops` holds the operations the
//! commands share, `core` is pure (data in, data out) and `infra` does the
//! I/O (git, builds, benchmark processes, files). Only the command line and
//! what the end-to-end tests need ([`testkit`]) are public, so that rustc
//! reports whatever nothing uses.

pub mod cli;
pub mod commands;
pub(crate) mod config;
pub(crate) mod core;
pub(crate) mod infra;
pub(crate) mod ops;
pub mod testkit;
