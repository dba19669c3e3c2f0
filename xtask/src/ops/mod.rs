//! Operations shared by the commands, between them and the core and infra
//! below: the context every command starts from, the run directory with its
//! journal and resume, the inputs commands read, a station that builds and
//! benchmarks in a slot, the sweep's plan, analysing and rendering a run,
//! the compiler's tests, the decision model against a real `iree-opt`, a
//! run's provenance, and writing patches. Commands call these and never
//! each other; these call the pure core and the effects in infra.

pub(crate) mod analysis;
pub(crate) mod candidates;
pub(crate) mod compiler_tests;
pub(crate) mod context;
pub(crate) mod inputs;
pub(crate) mod model_check;
pub(crate) mod patches;
pub(crate) mod provenance;
pub(crate) mod rundir;
pub(crate) mod selfrun;
pub(crate) mod station;
pub(crate) mod targets;
