//! What the end-to-end tests (`tests/e2e`) use from the library: creating
//! the fixture, parsing the benchmark's CSV, hashing files, finding tools,
//! the MLIR `check-model` hands to `iree-opt` for a command (so a test
//! can check it against a real compiler without going through the model),
//! and a lit test's cases with the sizes the heuristics read off them.
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
