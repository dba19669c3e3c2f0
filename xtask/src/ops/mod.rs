//! Operations shared by the commands, between them and the core and infra
//! below: the context every command starts from, the run directory with its
//! journal and resume, the inputs commands read, a station that builds and
//! benchmarks in a slot, the sweep's plan, analysing and rendering a run,
//! the compiler's tests, and writing patches. Commands call these and never
//! each other; these call the pure core and the effects in infra.

pub mod analysis;
pub mod candidates;
pub mod compiler_tests;
pub mod context;
pub mod inputs;
pub mod patches;
pub mod rundir;
pub mod station;
