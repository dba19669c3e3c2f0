//! End-to-end tests: one binary, each test in its own temporary directory,
//! with real git repositories, real CMake/Ninja builds of the fixture and real
//! benchmark processes.

mod analyze;
mod browser;
mod common;
mod compiler;
mod doctor;
mod faults;
mod sweep;
mod tidy;
mod validate;
mod workloads;
