//! A real compiler in the tests: IREE's `iree-base-compiler` wheel from PyPI,
//! pinned and installed once into `target/iree-venv` (python3 -m venv and
//! pip; the wheel's native `iree-opt` needs nothing else). The MLIR that
//! `check-model` generates must make the real split-reduction pass give the
//! splits computed by hand for every convolution direction and layout and
//! for contractions; with `IREE_GIT_DIR`, `check-model` must agree with the
//! wheel on every shape of the bundled workloads.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The wheel the tests use (IREE 89ece87b, whose heuristic file is
/// 8fc32e0e1e's: no commit touched it since).
const WHEEL: &str = "iree-base-compiler==3.13.0";
const WHEEL_VERSION: &str = "3.13.0";

fn site_packages(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib")).ok()?.flatten().map(|e| e.path().join("site-packages")).find(|p| p.is_dir())
}

fn installed(venv: &Path) -> Option<PathBuf> {
    let compiler = site_packages(venv)?.join("iree/compiler");
    let version = std::fs::read_to_string(compiler.join("version.py")).ok()?;
    let opt = compiler.join("_mlir_libs/iree-opt");
    (version.contains(&format!("VERSION = \"{WHEEL_VERSION}")) && opt.is_file()).then_some(opt)
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}); the test needs python3 with venv (apt-get install python3-venv) and access to PyPI:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The wheel's `iree-opt`, installing the wheel on first use.
pub fn wheel_iree_opt() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = workspace().join("target/iree-venv");
    if let Some(opt) = installed(&venv) {
        return opt;
    }
    // A venv made before python3-venv was installed has no pip: make it again.
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv), "python3 -m venv");
    }
    run(
        Command::new(venv.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            WHEEL,
        ]),
        &format!("pip install {WHEEL}"),
    );
    installed(&venv).expect("the wheel installs iree/compiler/_mlir_libs/iree-opt")
}

/// The IREE commit the wheel was built from (`iree.compiler.version`).
fn wheel_commit() -> String {
    let opt = wheel_iree_opt();
    let version = std::fs::read_to_string(opt.parent().unwrap().parent().unwrap().join("version.py")).unwrap();
    let start = version.find("\"IREE\": \"").expect("version.py names the IREE commit") + 9;
    version[start..start + 40].to_string()
}

/// Hand-computed splits of IREE's heuristic at 8fc32e0e1e (default target,
/// low-parallelism target; `None`: not split), one case per convolution
/// direction and layout, rank, group, unit-dim and contraction form.
/// A command, its split on default targets and on low-parallelism ones.
type Case = (&'static str, Option<&'static [i64]>, Option<&'static [i64]>);

const CASES: &[Case] = &[
    // The BRIEF's case: N*Ho*Wo reduced, outputSize 9216 < 128*128 gives
    // limit 128; ceil(16/128) = 1, then 128/16 = 8 splits 225 into 45.
    (
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -u 1 -v 1 -l 1 -j 1 -g 1 -F 4",
        Some(&[1, 45, 225]),
        Some(&[1, 45, 225]),
    ),
    (
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 45, 225]),
        Some(&[1, 45, 225]),
    ),
    // Mixed layouts: NCHW activations, KYXC filter gradient.
    (
        "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NCHW -O NCHW -f NHWC",
        Some(&[1, 45, 225]),
        Some(&[1, 45, 225]),
    ),
    // outputSize 36864 < 256*256 and reduction 50176 >= 50000: limit 32 (16
    // low-parallelism): 56 / (32/16) = 28.
    (
        "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 28, 56]),
        Some(&[1, 56, 56]),
    ),
    // Groups: Kg*Cg = 4096 per group, outputSize 147456 with 4 groups.
    (
        "convbfp16 -n 64 -c 256 -H 56 -W 56 -k 256 -y 3 -x 3 -p 1 -q 1 -g 4 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[4, 56, 56]),
        Some(&[2, 56, 56]),
    ),
    // Strided and dilated weight gradients.
    (
        "convbfp16 -n 4 -c 64 -H 112 -W 112 -k 128 -y 3 -x 3 -p 1 -q 1 -u 2 -v 2 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 14, 56]),
        Some(&[1, 14, 56]),
    ),
    (
        "convbfp16 -n 4 -c 64 -H 56 -W 56 -k 64 -y 3 -x 3 -p 2 -q 2 -l 2 -j 2 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 14, 56]),
        Some(&[1, 28, 56]),
    ),
    // N = 1: the batch loop folds away and Ho starts the walk.
    (
        "convbfp16 -n 1 -c 64 -H 224 -W 224 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[7, 224]),
        Some(&[14, 224]),
    ),
    // 1x1 weight gradient: a contraction, K = N*Ho*Wo.
    (
        "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 1 -x 1 -F 4 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 7, 56]),
        Some(&[1, 7, 56]),
    ),
    // 1-D and 3-D.
    ("convbfp16 -n 2 -c 4096 -H 16 -k 256 -y 3 -p 1 -F 1 -I NHC -f NHC -O NHC", Some(&[3, 32]), Some(&[3, 32])),
    (
        "convbfp16 -n 2 -c 32 -! 32 -H 64 -W 64 -k 32 -@ 3 -y 3 -x 3 -$ 1 -p 1 -q 1 -F 4 -I NDHWC -f NDHWC -O NDHWC",
        Some(&[1, 1, 64, 64]),
        Some(&[1, 4, 64, 64]),
    ),
    // A 1-D 1x1 weight gradient is a contraction over two 3-D operands.
    ("conv -n 235 -c 224 -H 363 -k 224 -y 1 -F 4 -I NHC -f NHC -O NHC", Some(&[47, 363]), Some(&[47, 363])),
    // Forward: batch-first, walked from the input channel outwards; NCHW
    // walks [C, Y, X] from X.
    (
        "convbfp16 -n 2 -c 2048 -H 7 -W 7 -k 512 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -f NHWC -O NHWC",
        Some(&[3, 3, 128]),
        Some(&[3, 3, 256]),
    ),
    (
        "convbfp16 -n 2 -c 2048 -H 7 -W 7 -k 512 -y 3 -x 3 -p 1 -q 1 -F 1 -I NCHW -f NCHW -O NCHW",
        Some(&[2048, 1, 1]),
        Some(&[2048, 3, 1]),
    ),
    // N = 1 forward: no batch, the convolution function refuses and the
    // matmul-like one splits over all reductions (K = C = 2048).
    (
        "convbfp16 -n 1 -c 2048 -H 7 -W 7 -k 512 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -f NHWC -O NHWC",
        Some(&[1, 1, 256]),
        Some(&[1, 1, 256]),
    ),
    // Backward data: the filter transpose puts Kg last in both layouts.
    (
        "convbfp16 -n 2 -c 512 -H 7 -W 7 -k 2048 -y 3 -x 3 -p 1 -q 1 -F 2 -I NHWC -f NHWC -O NHWC",
        Some(&[3, 3, 128]),
        Some(&[3, 3, 256]),
    ),
    (
        "convbfp16 -n 2 -c 512 -H 7 -W 7 -k 2048 -y 3 -x 3 -p 1 -q 1 -F 2 -I NCHW -f NCHW -O NCHW",
        Some(&[3, 3, 128]),
        Some(&[3, 3, 256]),
    ),
    // Too large to split, and depthwise (no output channel anywhere).
    ("convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -f NHWC -O NHWC", None, None),
    ("convbfp16 -n 32 -c 256 -H 56 -W 56 -k 256 -g 256 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC", None, None),
    // Contractions: outputSize 4096 <= 64*64 gives limit 128, 65536 / 128.
    ("gemmfp16 --a_w 64 --a_h 65536 --b_w 64", Some(&[512]), Some(&[512])),
    ("gemmfp16 --a_w 64 --a_h 64 --b_w 65536 -F 2", Some(&[512]), Some(&[512])),
    ("gemmfp16 --a_w 65536 --a_h 64 --b_w 64 -F 3", Some(&[512]), Some(&[512])),
    ("gemmfp16 --a_w 768 --a_h 16384 --b_w 768", None, None),
    (r#"aten::bmm "[[8, 64, 65536], [8, 65536, 64]]""#, Some(&[2048]), Some(&[8192])),
    (r#"aten::matmul "[[4, 16, 65536], [65536, 64]]""#, Some(&[512]), Some(&[512])),
    (r#"aten::linear "[[2, 32, 65536], [64, 65536]]""#, Some(&[512]), Some(&[512])),
];

/// `func name -> split` from `iree-opt`'s output (`None`: not split).
fn splits(output: &str, dims: &BTreeMap<String, Vec<i64>>) -> BTreeMap<String, Option<Vec<i64>>> {
    let func = regex::Regex::new(r"util\.func public @(\w+)").unwrap();
    let attr = regex::Regex::new(r"iree_linalg_ext\.split_reduction = \[([^\]]*)\]").unwrap();
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for line in output.lines() {
        if let Some(c) = func.captures(line) {
            current = c[1].to_string();
            out.insert(current.clone(), None);
        }
        if let Some(c) = attr.captures(line) {
            let tiles: Vec<i64> =
                c[1].split(',').map(|v| v.split(':').next().unwrap().trim().parse().unwrap()).collect();
            out.insert(current.clone(), Some(tiles).filter(|t| Some(t) != dims.get(&current)));
        }
    }
    out
}

fn iree_opt(opt: &Path, input: &Path, low: bool) -> String {
    let options = if low { "{low-parallelism=true}" } else { "" };
    let out = Command::new(opt)
        .arg(format!(
            "--pass-pipeline=builtin.module(util.func(iree-dispatch-creation-set-split-reduction-sizes{options}))"
        ))
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "iree-opt failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_wheels_compiler_splits_the_generated_mlir_as_computed_by_hand() {
    let opt = wheel_iree_opt();
    let tmp = tempfile::tempdir().unwrap();
    let mut module = String::new();
    let mut dims = BTreeMap::new();
    for (i, (command, _, _)) in CASES.iter().enumerate() {
        let (text, reductions) = xtask::testkit::check_model_function(command, &format!("case{i}")).unwrap();
        module.push_str(&text);
        dims.insert(format!("case{i}"), reductions);
    }
    let input = tmp.path().join("cases.mlir");
    std::fs::write(&input, module).unwrap();
    let mut wrong = Vec::new();
    for low in [false, true] {
        let got = splits(&iree_opt(&opt, &input, low), &dims);
        for (i, (command, default, low_par)) in CASES.iter().enumerate() {
            let want = if low { low_par } else { default }.map(<[i64]>::to_vec);
            if got.get(&format!("case{i}")) != Some(&want) {
                wrong.push(format!(
                    "{command} (low-parallelism: {low}): expected {want:?}, iree-opt gave {:?}",
                    got.get(&format!("case{i}"))
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The revision whose heuristic the wheel runs, in `git_dir`: the wheel's
/// own commit when the git dir has it, else `IREE_WHEEL_REV`.
fn wheel_revision(git_dir: &Path) -> String {
    let commit = wheel_commit();
    let has = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .status();
    if has.is_ok_and(|s| s.success()) {
        return commit;
    }
    std::env::var("IREE_WHEEL_REV").unwrap_or_else(|_| {
        panic!(
            "the wheel's commit {commit} is not in `{}`; fetch it, or set IREE_WHEEL_REV to a revision with the \
             same heuristic file (8fc32e0e1e: no commit changed the file after it up to 2026-08)",
            git_dir.display()
        )
    })
}

#[test]
#[ignore = "needs IREE_GIT_DIR, an iree-org/iree git directory: IREE_GIT_DIR=~/iree/.git [IREE_WHEEL_REV=8fc32e0e1e] cargo test --test e2e check_model -- --ignored"]
fn check_model_agrees_with_the_wheel_on_every_bundled_workload() {
    let git_dir =
        PathBuf::from(std::env::var_os("IREE_GIT_DIR").expect("set IREE_GIT_DIR to an iree-org/iree git directory"));
    let rev = wheel_revision(&git_dir);
    let opt = wheel_iree_opt();
    let tmp = tempfile::tempdir().unwrap();
    // Both targets in one configuration: check-model checks each, the
    // low-parallelism one with the pass's `low-parallelism` option.
    let both = tmp.path().join("both.toml");
    std::fs::write(
        &both,
        "[heuristics]\ntargets = [\"default\", \"low_parallelism\"]\n[bench.targets.default]\n\
         [bench.targets.low_parallelism]\ndevices = [\"1\"]\n",
    )
    .unwrap();
    for workload in ["conv_weight_backward", "conv_forward_backward_data", "gemm_large_k"] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--config")
            .arg(&both)
            .arg("--iree")
            .arg(&git_dir)
            .args(["--rev", &rev, "check-model"])
            .arg(workspace().join(format!("workloads/{workload}.txt")))
            .arg("--iree-opt")
            .arg(&opt)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{workload}:\n{report}{}", String::from_utf8_lossy(&out.stderr));
        let matches: Vec<&str> = report.lines().filter(|l| l.starts_with("matches: ")).collect();
        assert_eq!(matches.len(), 2, "{workload}: one check per target:\n{report}");
        assert!(report.contains("(low-parallelism target)"), "{report}");
        for line in matches {
            let (m, t) = line["matches: ".len()..].split_once('/').unwrap();
            assert_eq!(m, t.split_whitespace().next().unwrap(), "{workload}: {report}");
            eprintln!("{workload}: {line}");
        }
    }
}
