//! The decision model on every revision of the real heuristic file since
//! 4b57016a5c, checked against the lit tests of the same revision (read
//! from `IREE_GIT_DIR`): every case of the conv, gemm and low-parallelism
//! tests is predicted from its op, and every case a benchmark command can
//! express is predicted from that command too.

use super::pass::{predict, predict_op, Pass};
use crate::core::cpp::FunctionNames;
use crate::core::linalg::read::read_cases;
use crate::core::linalg::{LinalgOp, DYNAMIC};
use crate::core::littest;
use crate::core::lowering;
use crate::core::workload::{self, parse_command, Heuristic};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) const HEURISTIC_FILE: &str = "compiler/src/iree/compiler/DispatchCreation/SetSplitReductionSizes.cpp";
const TEST_DIR: &str = "compiler/src/iree/compiler/DispatchCreation/test";

/// Output of a git command that must succeed.
pub(crate) fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("--git-dir").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn iree_git_dir() -> PathBuf {
    std::env::var_os("IREE_GIT_DIR")
        .map(PathBuf::from)
        .expect("set IREE_GIT_DIR to an iree-org/iree git directory (`~/iree/.git`)")
}

/// Every revision of the heuristic file since the matmul ladder appeared.
pub(crate) fn revisions(dir: &Path) -> Vec<String> {
    let log = git_out(dir, &["log", "--format=%H", "--reverse", "4b57016a5c^..HEAD", "--", HEURISTIC_FILE]);
    log.lines().map(str::to_string).collect()
}

pub(crate) fn pass_at(dir: &Path, rev: &str) -> Pass {
    let source = git_out(dir, &["show", &format!("{rev}:{HEURISTIC_FILE}")]);
    Pass::from_source(
        &source,
        &FunctionNames::iree_defaults(Heuristic::Conv),
        &FunctionNames::iree_defaults(Heuristic::Matmul),
    )
}

/// What a test pins per function under `prefix`: the attribute's values, or
/// `None` for a `CHECK-NOT`.
fn expectations(test: &str, prefix: &str) -> BTreeMap<String, Option<Vec<i64>>> {
    let mut out = BTreeMap::new();
    let mut function = String::new();
    for line in test.lines() {
        let Some(directive) = line.trim_start().strip_prefix("//").map(str::trim_start) else { continue };
        let Some(kind) = directive.strip_prefix(prefix) else { continue };
        if let Some(label) = kind.strip_prefix("-LABEL:") {
            function = label.trim().trim_start_matches('@').to_string();
        } else if kind.starts_with("-NOT:") && kind.contains("split_reduction") {
            out.insert(function.clone(), None);
        } else if kind.starts_with(':') && kind.contains("split_reduction") {
            let inside = kind.split('[').nth(1).and_then(|t| t.split(']').next()).unwrap_or("");
            let values = inside.split(',').filter_map(|v| v.split(':').next()?.trim().parse().ok()).collect();
            out.insert(function.clone(), Some(values));
        }
    }
    out
}

/// The lit tests' ops written as benchmark commands, by their operand
/// shapes: the op boo would build for the command is the test's op
/// (checked by the test).
const EXPRESSED: &[(&str, &str)] = &[
    (
        "16x227x227x16|16x225x225x64",
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -O NHWC -f NHWC",
    ),
    (
        "16x16x227x227|16x64x225x225",
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NCHW -O NCHW -f NHWC",
    ),
    (
        "16x227x227x16|64x3x3x16",
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -O NHWC -f NHWC",
    ),
    (
        "16x98x50x1024|16x96x48x1024",
        "convbfp16 -n 16 -c 1024 -H 96 -W 48 -k 1024 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -O NHWC -f NHWC",
    ),
    (
        "16x26x18x288|16x24x16x288",
        "convbfp16 -n 16 -c 288 -H 24 -W 16 -k 288 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -O NHWC -f NHWC",
    ),
    (
        "16x26x18x96|16x24x16x96",
        "convbfp16 -n 16 -c 96 -H 24 -W 16 -k 96 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -O NHWC -f NHWC",
    ),
    ("16x50x32x96|16x48x32x96", "convbfp16 -n 16 -c 96 -H 48 -W 32 -k 96 -y 3 -x 1 -p 1 -F 4 -I NHWC -O NHWC -f NHWC"),
    (
        "16x130x32x96|16x128x32x96",
        "convbfp16 -n 16 -c 96 -H 128 -W 32 -k 96 -y 3 -x 1 -p 1 -F 4 -I NHWC -O NHWC -f NHWC",
    ),
    ("32x15x15x2376|256x3x3x2376", "convfp16 -n 32 -c 2376 -H 15 -W 15 -k 256 -y 3 -x 3 -F 1 -I NHWC -O NHWC -f NHWC"),
    ("32x52x52x2376|256x3x3x2376", "convfp16 -n 32 -c 2376 -H 52 -W 52 -k 256 -y 3 -x 3 -F 1 -I NHWC -O NHWC -f NHWC"),
    ("32x40960|40960x32", "gemm --a_w 32 --a_h 40960 --b_w 32"),
    (
        "128x16800000|16800000x134",
        "aten::mm \"[[128, 16800000], [16800000, 134]]\" \"['c10::BFloat16', 'c10::BFloat16']\"",
    ),
    ("16x96x48x288|16x96x48x288", "conv -n 16 -c 288 -H 96 -W 48 -k 288 -y 1 -x 1 -F 4 -I NHWC -O NHWC -f NHWC"),
    ("235x363x224|235x363x224", "conv -n 235 -c 224 -H 363 -k 224 -y 1 -F 4 -I NHC -O NHC -f NHC"),
    ("16x96x48x32|16x96x48x32", "conv -n 16 -c 32 -H 96 -W 48 -k 32 -y 1 -x 1 -F 4 -I NHWC -O NHWC -f NHWC"),
    ("4096x150000|150000x2048", "gemm --a_w 4096 --a_h 150000 --b_w 2048"),
    ("4096x150000|150000x2268", "gemm --a_w 4096 --a_h 150000 --b_w 2268"),
    ("256x4096|4096x256", "gemm --a_w 256 --a_h 4096 --b_w 256"),
    ("16x24x16x288|16x24x16x288", "conv -n 16 -c 288 -H 24 -W 16 -k 288 -y 1 -x 1 -F 4 -I NHWC -O NHWC -f NHWC"),
    ("128x32768|32768x128", "aten::mm \"[[128, 32768], [32768, 128]]\" \"['c10::BFloat16', 'c10::BFloat16']\""),
    ("128x131072|131072x256", "aten::mm \"[[128, 131072], [131072, 256]]\" \"['c10::BFloat16', 'c10::BFloat16']\""),
];

fn shape_key(op: &LinalgOp) -> String {
    let dims = |s: &[i64]| {
        s.iter().map(|d| if *d == DYNAMIC { "?".into() } else { d.to_string() }).collect::<Vec<_>>().join("x")
    };
    format!("{}|{}", dims(&op.inputs[0].shape), dims(&op.inputs[1].shape))
}

/// Two ops are the same to the pass when their loops, maps and shapes are
/// (a sum's terms in any order).
fn same_op(a: &LinalgOp, b: &LinalgOp) -> bool {
    let loops = |o: &LinalgOp| o.loops.iter().map(|l| (l.extent, l.iter)).collect::<Vec<_>>();
    let maps = |o: &LinalgOp| {
        o.operands().map(|x| {
            let mut m = x.map.clone();
            m.iter_mut().for_each(|r| r.sort());
            (x.shape.clone(), m)
        })
    };
    loops(a) == loops(b) && maps(a) == maps(b)
}

/// One lit case: predicted from its op, and from its command when it has one.
fn check_case(label: &str, op: &LinalgOp, want: &Option<Vec<i64>>, pass: &Pass, low: bool, out: &mut Tally) {
    out.cases += 1;
    let got = predict(op, workload::of_linalg(op, 0.0, 0.0).ok().as_ref(), pass, low);
    if got.decision.unknown.is_some() || &got.decision.tile_sizes != want {
        out.failures.push(format!("{label}: expected {want:?}, predicted {got:?}"));
    }
    let Some((_, command)) = EXPRESSED.iter().find(|(k, _)| *k == shape_key(op)) else {
        out.unexpressed.push(format!("{label} ({})", shape_key(op)));
        return;
    };
    let parsed = parse_command(command).unwrap();
    if !same_op(&lowering::lower(&parsed), op) {
        out.failures.push(format!("{label}: `{command}` lowers to another op than the test's"));
        return;
    }
    out.expressed += 1;
    let got = predict_op(&parsed, pass, low);
    if &got.decision.tile_sizes != want {
        out.failures.push(format!("{label}: `{command}`: expected {want:?}, predicted {got:?}"));
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    expressed: usize,
    unexpressed: Vec<String>,
    failures: Vec<String>,
}

#[test]
#[ignore = "needs IREE_GIT_DIR, an iree-org/iree git directory: IREE_GIT_DIR=~/iree/.git cargo test model_predicts -- --ignored"]
fn model_predicts_every_lit_case_of_every_revision() {
    let dir = iree_git_dir();
    let revs = revisions(&dir);
    assert!(revs.len() >= 15, "expected at least 15 revisions, found {}", revs.len());
    let mut tally = Tally::default();
    for rev in &revs {
        let pass = pass_at(&dir, rev);
        let files = git_out(&dir, &["ls-tree", "--name-only", rev, &format!("{TEST_DIR}/")]);
        // The outer-reduction test holds batch-norm-like reductions, which no
        // benchmark command of a convolution or a GEMM produces.
        for file in files.lines().filter(|f| f.contains("set_split_reduction_sizes_") && !f.contains("outer_reduction"))
        {
            let text = git_out(&dir, &["show", &format!("{rev}:{file}")]);
            for run in littest::runs(&text) {
                let low = run.command.contains("low-parallelism=true");
                let expected = expectations(&text, &run.prefixes[0]);
                for case in read_cases(&text) {
                    let label = format!("{} {}:{}", &rev[..10], file.rsplit('/').next().unwrap(), case.name);
                    let want = expected.get(&case.name).cloned().unwrap_or(None);
                    match case.op {
                        Ok(op) => check_case(&label, &op, &want, &pass, low, &mut tally),
                        Err(e) => tally.failures.push(format!("{label}: not read: {e}")),
                    }
                }
            }
        }
    }
    eprintln!(
        "{} lit cases over {} revisions, {} of them also as benchmark commands; not expressible: {:?}",
        tally.cases,
        revs.len(),
        tally.expressed,
        tally.unexpressed
    );
    assert!(tally.failures.is_empty(), "{} failure(s):\n{}", tally.failures.len(), tally.failures.join("\n"));
}

#[test]
#[ignore = "needs IREE_GIT_DIR, an iree-org/iree git directory: IREE_GIT_DIR=~/iree/.git cargo test model_knows -- --ignored"]
fn model_knows_every_bundled_shape_at_every_revision() {
    let dir = iree_git_dir();
    let workloads: Vec<String> = ["conv_weight_backward", "conv_forward_backward_data", "gemm_large_k"]
        .iter()
        .map(|w| std::fs::read_to_string(format!("{}/../workloads/{w}.txt", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .collect();
    let (shapes, bad) = workload::parse_commands(&workloads.concat());
    assert!(bad.is_empty(), "{bad:?}");
    let mut unknown = Vec::new();
    for rev in revisions(&dir) {
        let pass = pass_at(&dir, &rev);
        for s in &shapes {
            for low in [false, true] {
                if let Some(why) = predict_op(&s.op, &pass, low).decision.unknown {
                    unknown.push(format!("{} `{}`: {why}", &rev[..10], s.command));
                }
            }
        }
    }
    assert!(unknown.is_empty(), "{} unknown:\n{}", unknown.len(), unknown.join("\n"));
    // Before 53d61843c3 the convolution function refuses batch-first
    // layouts, and the matmul-like one finds K = 2376 too small: not split.
    let fwd =
        parse_command("convfp16 -n 32 -c 2376 -H 15 -W 15 -k 256 -y 3 -x 3 -F 1 -I NHWC -f NHWC -O NHWC").unwrap();
    for rev in ["41cae6df70", "955917df61"] {
        let p = predict_op(&fwd, &pass_at(&dir, rev), false);
        assert_eq!(p.decision.tile_sizes, None, "{rev}: {p:?}");
        assert!(p.refusals[0].contains("batchPos.front() == 0"), "{rev}: {p:?}");
    }
    assert_eq!(predict_op(&fwd, &pass_at(&dir, "53d61843c3"), false).decision.tile_sizes, Some(vec![3, 3, 297]));
}
