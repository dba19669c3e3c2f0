//! Test data shared by the core's tests: synthetic sweep results whose
//! runtimes come from a small analytic GPU model evaluated on the split each
//! candidate's limit gives (the same tile walk the compiler uses), so the
//! best limit depends on the shape as it does on real hardware; and a
//! synthetic validation of their recommendation.

use crate::core::analysis::Settings;
use crate::core::cpp::{CppFile, FunctionNames};
use crate::core::decide::{self, Model};
use crate::core::results::*;
use crate::core::workload::{parse_commands, Heuristic};
use std::collections::BTreeMap;

pub(crate) const CURRENT: &str =
    include_str!("../../../tests/fixtures/iree/compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp");
pub(crate) const INLINE_2025: &str = include_str!(
    "../../../tests/fixtures/history/2025-inline/compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp"
);
pub(crate) const WORKLOAD: &str = include_str!("../../../workloads/conv_weight_backward.txt");

/// Microseconds for a shape split into `tiles` (None: not split).
fn model_time(output: i64, dims: &[i64], tiles: Option<&[i64]>) -> f64 {
    let reduction: i64 = dims.iter().product();
    let s = tiles.map(|t| decide::split_factor(dims, t)).unwrap_or(1) as f64;
    let wgs = ((output as f64) / 4096.0).ceil() * s;
    let waves = (wgs / 608.0).ceil();
    let per_wg = 4096f64.min(output as f64) * (reduction as f64 / s) * 2.0 / 2.0e6;
    let partial = if s > 1.0 { s * output as f64 * 4.0 / 4.0e6 + 4.0 } else { 0.0 };
    4.0 + waves * per_wg + partial
}

pub(crate) fn synthetic(source: &str, limits: &[i64]) -> Results {
    let (shapes, _) = parse_commands(WORKLOAD);
    let file = CppFile::parse(source);
    let models: BTreeMap<Heuristic, Model> = Heuristic::ALL
        .iter()
        .map(|&h| (h, Model::from_site(&file.locate(h, &FunctionNames::iree_defaults(h)).unwrap())))
        .collect();
    let mut candidates = vec![info("baseline", None)];
    candidates.extend(limits.iter().map(|&l| info(&candidate_name(Some(l)), Some(l))));
    let shapes = shapes
        .into_iter()
        .enumerate()
        .map(|(id, s)| {
            let f = &s.features;
            let base = decide::modelled(f, &models[&f.heuristic], false);
            let mut decisions = BTreeMap::new();
            let mut runs = BTreeMap::new();
            let time = |tiles: Option<&[i64]>| model_time(f.output_size, &f.reduction_dims, tiles);
            let t = time(base.tile_sizes.as_deref());
            runs.insert("baseline".to_string(), sample(t));
            decisions.insert("baseline".to_string(), base);
            for &l in limits {
                let d = decide::fixed(f, l);
                runs.insert(candidate_name(Some(l)), sample(time(d.tile_sizes.as_deref())));
                decisions.insert(candidate_name(Some(l)), d);
            }
            ShapeResult {
                id,
                file: "w.txt".into(),
                line: s.line,
                command: s.command,
                op: s.op,
                features: s.features,
                runs,
                decisions,
            }
        })
        .collect();
    Results {
        schema: SCHEMA,
        tool_version: "test".into(),
        run: "synthetic".into(),
        target: TargetInfo {
            checkout: "/nowhere".into(),
            rev: "HEAD".into(),
            commit: "0123456789abcdef".into(),
            heuristic_file: "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp".into(),
            styles: BTreeMap::new(),
        },
        commands: CommandsInfo {
            path: "w.txt".into(),
            sha256: "feedfacefeedface".into(),
            skipped: vec![],
            files: vec![],
        },
        bench: BenchInfo {
            command: "boo".into(),
            column: "iree_boo_experimental mean".into(),
            device: "0".into(),
            repeats: 3,
        },
        heuristics: vec![Heuristic::Conv, Heuristic::Matmul],
        candidates,
        shapes,
        recheck: None,
        model_check: None,
        compiler_features: None,
        provenance: Some(provenance()),
    }
}

/// Provenance as a sweep on a GPU machine records it (fixed values: the
/// volatile ones a real run has stand in).
pub(crate) fn provenance() -> Provenance {
    Provenance {
        gpu: Gpu { model: "AMD Instinct MI300X".into(), driver: "6.8.5".into(), source: "amd-smi".into() },
        turbine_version: "3.7.0".into(),
        build_type: "Release".into(),
        build_options: [("CMAKE_CXX_COMPILER_LAUNCHER", "ccache"), ("IREE_TARGET_BACKEND_ROCM", "ON")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tool: Tool {
            version: "0.1.0".into(),
            commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
            origin: Some("https://example.com/split-reduction-tuner.git".into()),
        },
        invocation: Invocation {
            fixture: false,
            config: None,
            heuristics: vec![Heuristic::Conv, Heuristic::Matmul],
            low_parallelism: false,
            repeats: 3,
            limits: vec![],
            skip_bad_lines: false,
            remeasure_repeats: None,
        },
    }
}

pub(crate) fn info(name: &str, limit: Option<i64>) -> CandidateInfo {
    CandidateInfo::new(name, limit, (format!("tune/synthetic/{name}"), String::new()), "")
}

/// Three repeats with a 1% deterministic spread.
pub(crate) fn sample(t: f64) -> Measurement {
    Measurement { samples: vec![t * 0.99, t, t * 1.01], dispatches: Some(1.0), ..Default::default() }
}

pub(crate) fn settings() -> Settings {
    Settings {
        pins: Default::default(),
        low_parallelism: false,
        folds: 5,
        max_rungs: 6,
        peak_flops: 0.0,
        peak_bytes_per_s: 0.0,
        names: Heuristic::ALL.iter().map(|&h| (h, FunctionNames::iree_defaults(h))).collect(),
        lit: LIT.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect(),
        retarget: None,
        series: None,
    }
}

/// The fixture's lit tests, as the audit reads them.
const LIT: [(&str, &str); 3] = [
    (
        "compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_conv.mlir",
        include_str!("../../../tests/fixtures/iree/compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_conv.mlir"),
    ),
    (
        "compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_gemm.mlir",
        include_str!("../../../tests/fixtures/iree/compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_gemm.mlir"),
    ),
    (
        "compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_low_parallelism.mlir",
        include_str!("../../../tests/fixtures/iree/compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_low_parallelism.mlir"),
    ),
];

pub(crate) const FULL: [i64; 10] = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/// A validation of `patches` on `results`: three A/B rounds whose patched
/// times are the recommendation's measured runtimes, with a deterministic
/// 1% jitter per round, and compiler tests that passed after an update.
pub(crate) fn validation(
    results: &Results,
    a: &crate::core::analysis::Analysis,
    patches: &[crate::core::analysis::HeuristicPatch],
) -> crate::core::validation::Validation {
    use crate::core::validation::{self as v, Round, ShapeAb, TestOutcome, Validation};
    let outcome: BTreeMap<usize, f64> =
        a.heuristics.iter().flat_map(|h| h.outcomes.iter().filter_map(|o| Some((o.shape, o.runtime?)))).collect();
    let jitter = [1.0, 1.01, 0.99];
    let ab: Vec<ShapeAb> = results
        .shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let base = s.runs["baseline"].median().unwrap();
            let patched = outcome.get(&i).copied().unwrap_or(base);
            ShapeAb {
                shape: i,
                command: s.command.clone(),
                heuristic: s.features.heuristic,
                baseline: jitter.iter().map(|j| Some(base * j)).collect(),
                patched: jitter.iter().rev().map(|j| Some(patched * j)).collect(),
                numerics_pass: Some(true),
                control: !outcome.contains_key(&i),
            }
        })
        .collect();
    let (verdicts, failed) = v::verdicts(&ab);
    let summary = v::summarize(&verdicts, failed.clone(), 3, 1);
    let per_heuristic = results
        .heuristics
        .iter()
        .map(|&h| {
            let vs: Vec<_> = verdicts.iter().filter(|s| s.heuristic == h).cloned().collect();
            (h, v::summarize(&vs, vec![], 3, 1))
        })
        .collect();
    let round = Round {
        round: 1,
        pins: vec![],
        rules: patches.iter().map(|p| (p.heuristic, p.rule.clone())).collect(),
        patched_commit: "feedfacefeedfacefeedfacefeedfacefeedface".into(),
        summary,
        per_heuristic,
        shapes: verdicts,
        devices: Vec::new(),
    };
    let tests = TestOutcome {
        unreadable: vec![],
        command: "ctest --test-dir /work/slot-1/iree-build -R set_split_reduction_sizes --output-on-failure".into(),
        portable: "ctest --test-dir build -R set_split_reduction_sizes --output-on-failure".into(),
        passed: true,
        need_update: vec![],
        updated: vec!["compiler/src/iree/compiler/DispatchCreation/test/set_split_reduction_sizes_conv.mlir".into()],
        log: String::new(),
    };
    let (ready, reasons) = v::verdict(&round, Some(&tests), &[], &[]);
    Validation {
        schema: SCHEMA,
        tool_version: "0.1.0".into(),
        patch_sha256: "0".repeat(64),
        device: results.bench.device.clone(),
        target_commit: results.target.commit.clone(),
        baseline_build: results.target.commit.clone(),
        commands_sha256: results.commands.sha256.clone(),
        rounds: vec![round],
        tests: Some(tests),
        numerics_failed: vec![],
        numerics_checked: true,
        ready,
        reasons,
        notes: vec![],
        stopped: "round 1 regressed no shape".into(),
    }
}
