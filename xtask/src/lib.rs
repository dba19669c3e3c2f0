//! The split-reduction tuner as a library: the binary in `main.rs` is a thin
//! shell over [`cli`] and [`commands`]; [`ops`] holds the operations the
//! commands share, [`core`] is pure (data in, data out) and [`infra`] does
//! the I/O (git, builds, benchmark processes, files).

pub mod cli;
pub mod commands;
pub mod config;
pub mod core;
pub mod infra;
pub mod ops;
