//! Effects: git (through libgit2), CMake builds in persistent slots,
//! benchmark processes, the run directory's files, progress display, and the
//! bundled fixture. Everything here is called by `commands/`; nothing in
//! `core/` calls it.

pub mod bench;
pub mod build;
pub mod fixture;
pub mod git;
pub mod proc;
pub mod progress;
pub mod store;
