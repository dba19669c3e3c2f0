//! The decision model checked against a real compiler: the MLIR module
//! `check-model` hands to `iree-opt`, the comparison of the splits the
//! compiler chose with the model's predictions, and the report.
//!
//! Each shape becomes one `util.func` holding the op the split-reduction
//! pass sees ([`crate::core::lowering`]), so one `iree-opt` run answers for
//! a whole commands file. "Not split" has two spellings that compile to the
//! same kernels, no attribute and an attribute whose tiles are the whole
//! reduction dims; both compare equal. Running `iree-opt` is the caller's.

use crate::core::decide::pass::Prediction;
use crate::core::linalg::mlir;
use crate::core::lowering;
use crate::core::workload::Shape;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The pass pipeline `check-model` runs; `{options}` is empty or
/// `{low-parallelism=true}`.
pub(crate) const PIPELINE: &str =
    "builtin.module(util.func(iree-dispatch-creation-set-split-reduction-sizes{options}))";

/// The `--pass-pipeline` value for a target.
pub(crate) fn pipeline(low_parallelism: bool) -> String {
    PIPELINE.replace("{options}", if low_parallelism { "{low-parallelism=true}" } else { "" })
}

/// The function a shape becomes (its index in the commands file's shapes).
fn function_name(index: usize) -> String {
    format!("shape_{index}")
}

/// One module with a function per shape.
pub(crate) fn module(shapes: &[Shape]) -> String {
    shapes.iter().enumerate().map(|(i, s)| mlir::function(&function_name(i), &lowering::lower(&s.op))).collect()
}

/// A shape the model and the compiler disagree on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mismatch {
    pub(crate) line: usize,
    pub(crate) command: String,
    /// What `iree-opt` chose: the tiles, or `None` for no split.
    pub(crate) expected: Option<Vec<i64>>,
    /// What the model predicts, in words.
    pub(crate) predicted: String,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelCheck {
    /// The `iree-opt` that answered.
    pub(crate) iree_opt: String,
    /// The revision whose heuristic the model read.
    pub(crate) revision: String,
    pub(crate) low_parallelism: bool,
    pub(crate) total: usize,
    pub(crate) matches: usize,
    pub(crate) mismatches: Vec<Mismatch>,
}

/// What a sweep records: the check, or why it was not run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ModelCheckRecord {
    Checked(ModelCheck),
    Skipped(String),
    Failed(String),
}

/// One line saying how a recorded check went.
pub(crate) fn summary(record: &ModelCheckRecord) -> String {
    match record {
        ModelCheckRecord::Checked(c) if c.mismatches.is_empty() => {
            format!("model check: the model agrees with `{}` on {}/{} shapes", c.iree_opt, c.matches, c.total)
        }
        ModelCheckRecord::Checked(c) => format!(
            "warning: model check: the model agrees with `{}` on {}/{} shapes only; `cargo xtask check-model` lists the others",
            c.iree_opt, c.matches, c.total
        ),
        ModelCheckRecord::Skipped(why) => format!("model check skipped: {why}"),
        ModelCheckRecord::Failed(why) => format!("warning: model check failed: {why}"),
    }
}

/// `[1 : index, 45 : index]` to its numbers.
fn values(attribute: &str) -> Vec<i64> {
    attribute
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|v| v.split(':').next()?.trim().parse().ok())
        .collect()
}

/// Tiles as a split: `None` when they are the whole dims (no split).
fn as_split(tiles: Option<Vec<i64>>, dims: &[i64]) -> Option<Vec<i64>> {
    tiles.filter(|t| t.as_slice() != dims)
}

fn describe(split: &Option<Vec<i64>>) -> String {
    match split {
        Some(t) => format!("{t:?}"),
        None => "not split".into(),
    }
}

/// Compares the attributes `iree-opt` printed (by function) with the
/// predictions (one per shape).
pub(crate) fn compare(
    shapes: &[Shape],
    attributes: &BTreeMap<String, Vec<String>>,
    predictions: &[Prediction],
    header: (String, String, bool),
) -> Result<ModelCheck, String> {
    let (iree_opt, revision, low_parallelism) = header;
    let mut check =
        ModelCheck { iree_opt, revision, low_parallelism, total: shapes.len(), matches: 0, mismatches: vec![] };
    for (i, (shape, p)) in shapes.iter().zip(predictions).enumerate() {
        let attrs = attributes.get(&function_name(i)).ok_or_else(|| {
            format!(
                "`iree-opt` printed no function `{}` (line {}); its output is not the module it was given",
                function_name(i),
                shape.line
            )
        })?;
        let dims = lowering::lower(&shape.op).reduction_extents();
        let expected = as_split(attrs.first().map(|a| values(a)), &dims);
        let predicted = as_split(p.decision.tile_sizes.clone(), &dims);
        match &p.decision.unknown {
            None if predicted == expected => check.matches += 1,
            None => {
                let by = p.by.map(|h| format!(" by the {h} function")).unwrap_or_default();
                let why = if predicted.is_none() && !p.refusals.is_empty() {
                    format!(" ({})", p.refusals.join("; "))
                } else {
                    String::new()
                };
                check.mismatches.push(Mismatch {
                    line: shape.line,
                    command: shape.command.clone(),
                    expected,
                    predicted: format!("{}{by}{why}", describe(&predicted)),
                });
            }
            Some(why) => check.mismatches.push(Mismatch {
                line: shape.line,
                command: shape.command.clone(),
                expected,
                predicted: format!("unknown, because {why}"),
            }),
        }
    }
    Ok(check)
}

/// The report `check-model` prints (`source`: the commands file's name).
pub(crate) fn render(check: &ModelCheck, source: &str) -> String {
    let mut out = format!(
        "check-model: {} shapes of `{source}`, heuristic at {}{}, compiler `{}`\nmatches: {}/{}\n",
        check.total,
        check.revision,
        if check.low_parallelism { " (low-parallelism target)" } else { "" },
        check.iree_opt,
        check.matches,
        check.total
    );
    for m in &check.mismatches {
        out.push_str(&format!(
            "mismatch {source}:{}: {}\n  expected {} (iree-opt), predicted {}\n",
            m.line,
            m.command,
            describe(&m.expected),
            m.predicted
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide::pass::{predict_op, Pass};
    use crate::core::testdata::CURRENT;
    use crate::core::workload::{parse_commands, Heuristic};

    #[test]
    fn matches_mismatches_and_the_two_spellings_of_no_split() {
        let (shapes, _) = parse_commands(
            "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC\n\
             gemmfp16 --a_w 768 --a_h 16384 --b_w 768\n\
             gemmfp16 --a_w 64 --a_h 65536 --b_w 64\n",
        );
        let names = |h| crate::core::cpp::FunctionNames::iree_defaults(h);
        let pass = Pass::from_source(CURRENT, &names(Heuristic::Conv), &names(Heuristic::Matmul));
        let predictions: Vec<_> = shapes.iter().map(|s| predict_op(&s.op, &pass, false)).collect();
        let attrs: BTreeMap<String, Vec<String>> = [
            ("shape_0".to_string(), vec!["[1 : index, 45 : index, 225 : index]".to_string()]),
            // The whole reduction dim: no split, as the model says.
            ("shape_1".to_string(), vec!["[16384 : index]".to_string()]),
            ("shape_2".to_string(), vec!["[256 : index]".to_string()]),
        ]
        .into();
        let check =
            compare(&shapes, &attrs, &predictions, ("iree-opt".into(), "HEAD (0123456789)".into(), false)).unwrap();
        assert_eq!((check.matches, check.total), (2, 3));
        insta::assert_snapshot!("check_model_report", render(&check, "w.txt"));
        let module = module(&shapes);
        assert_eq!(module.matches("util.func public @shape_").count(), 3);
    }
}
