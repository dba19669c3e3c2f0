//! What the end-to-end tests (`tests/e2e`) use from the library: creating
//! the fixture, parsing the benchmark's CSV, hashing files, finding tools,
//! the MLIR `check-model` hands to `iree-opt` for a command (so a test
//! can check it against a real compiler without going through the model),
//! a lit test's cases with the sizes the heuristics read off them, and
//! keeping a build (as validate benchmarks it).
//! Nothing else of the library is public.

pub use crate::core::boo_csv::{parse as parse_boo_csv, Row as BooRow};
pub use crate::core::digest::sha256_hex;
pub use crate::infra::fixture::{materialize as materialize_fixture, Fixture, Options as FixtureOptions};
pub use crate::infra::proc::which;

/// The `util.func @name` `check-model` writes for one benchmark command,
/// and the extents of its reduction loops (what "not split" means for it).
pub fn check_model_function(command: &str, name: &str) -> Result<(String, Vec<i64>), String> {
    let op = crate::core::lowering::lower(&crate::core::workload::parse_command(command)?);
    Ok((crate::core::linalg::mlir::function(name, &op), op.reduction_extents()))
}

/// A lit case: its function and its op's `(outputSize, reductionSize)`
/// when the tuner reads it.
pub type LitCase = (String, Option<(i64, i64)>);

/// The functions of a lit test file (MLIR or the fixture's IR).
pub fn lit_cases(text: &str) -> Result<Vec<LitCase>, String> {
    Ok(crate::core::littest::cases(text)?
        .into_iter()
        .map(|c| (c.function, c.features.ok().map(|f| (f.output_size, f.reduction_size))))
        .collect())
}

/// Keeps the build directory `build` as `dest`, as a build slot keeps a
/// build for validate (here without a slot's overlays).
pub fn keep_build(
    build: &std::path::Path,
    source: &std::path::Path,
    dest: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    use crate::infra::{artifacts, proc};
    let log = dest.with_extension("log");
    let copy = |rels: &[String], into: &std::path::Path| -> anyhow::Result<()> {
        let tar = into.with_extension("tar");
        let outcome = proc::run(&artifacts::pack_job(build, rels, &tar, &log))?;
        anyhow::ensure!(outcome.success(), "tar failed: {}", proc::log_tail(&log, 5));
        artifacts::unpack(&tar, into, &log)
    };
    artifacts::keep(build, source, dest, "test", (&copy, &|| Ok(()))).map_err(|e| format!("{e:#}"))
}
