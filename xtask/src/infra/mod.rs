//! Effects: git (through libgit2), CMake builds in persistent slots,
//! benchmark processes, the run directory's files, progress display, and the
//! bundled fixture. Everything here is called by `commands/`; nothing in
//! `core/` calls it.

pub(crate) mod artifacts;
pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod fixture;
pub(crate) mod git;
pub(crate) mod overlay;
pub(crate) mod proc;
pub(crate) mod progress;
pub(crate) mod setup;
pub(crate) mod signals;
pub(crate) mod slots;
pub(crate) mod store;
pub(crate) mod supervisor;
