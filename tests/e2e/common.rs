//! Helpers shared by the end-to-end tests: a fixture per test in its own
//! temporary directory, a config pointing at it, the real `xtask` binary,
//! and snapshots of a checkout and a build directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every test shares one compiler cache, so only the first fixture build of
/// a test run is cold.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = workspace().join("target/test-ccache");
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("CCACHE_DIR", &dir);
    });
}

/// Output of a git command that must succeed.
pub fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub repo: PathBuf,
    pub build: PathBuf,
    pub config: PathBuf,
}

impl Env {
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn runs(&self) -> PathBuf {
        self.root().join("runs")
    }

    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }
}

/// A fixture ("the user's IREE" and their build dir) in a fresh temporary
/// directory, and a tuner.toml for it. `build` builds the user's build dir
/// as a user would have it; otherwise it is only configured.
pub fn fixture(build: bool, extra_config: &str) -> Env {
    init();
    let tmp = tempfile::tempdir().unwrap();
    let options = xtask::testkit::FixtureOptions { build, ..Default::default() };
    let f = xtask::testkit::materialize_fixture(&workspace(), tmp.path(), &options).expect("fixture");
    let config = tmp.path().join("tuner.toml");
    let text = format!(
        r#"runs_dir = "{runs}"

[target]
iree = "{repo}"

[build]
dir = "{build}"
work_dir = "{work}"
targets = ["iree-compile", "iree-opt", "IREECompilerPythonModules"]

[bench]
pythonpath = ["{turbine}"]
repeats = 2
device_check = "{{python}} -m iree.turbine.kernel.boo.driver.driver --list-devices"

[validate]
targets = []

[sweep]
commands = "{commands}"
{extra_config}
"#,
        runs = tmp.path().join("runs").display(),
        repo = f.repo.display(),
        build = f.build.display(),
        work = tmp.path().join("work").display(),
        turbine = workspace().join("tests/fixtures/turbine").display(),
        commands = workspace().join("workloads/conv_weight_backward.txt").display(),
    );
    std::fs::write(&config, text).unwrap();
    Env { repo: f.repo, build: f.build, config, tmp }
}

/// Turns anchors off in `env`'s configuration (`bench.anchors = 0`), for a
/// test that counts the workload's commands in benchmark processes.
pub fn without_anchors(env: &Env) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    assert!(text.contains("repeats = 2\n"), "{text}");
    std::fs::write(&env.config, text.replace("repeats = 2\n", "repeats = 2\nanchors = 0\n")).unwrap();
}

/// Runs the real `xtask` binary.
pub fn xtask(env: &Env, args: &[&str]) -> Output {
    init();
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .current_dir(env.root())
        .output()
        .expect("xtask runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stderr.
pub fn ok(o: Output) -> String {
    let err = stderr(&o);
    assert!(o.status.success(), "xtask failed ({}):\n{err}\n{}", o.status, String::from_utf8_lossy(&o.stdout));
    err
}

/// What must not change in the user's checkout: HEAD, status, branches
/// other than `tune/*`.
pub fn checkout_state(repo: &Path) -> (String, String, Vec<String>) {
    let head = git_out(repo, &["rev-parse", "HEAD"]) + &git_out(repo, &["symbolic-ref", "-q", "HEAD"]);
    let status = git_out(repo, &["status", "--porcelain", "--untracked-files=all"]);
    let branches = git_out(repo, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"])
        .lines()
        .filter(|l| !l.starts_with("refs/heads/tune/"))
        .map(str::to_string)
        .collect();
    (head, status, branches)
}

/// Every file of a directory: size, modification time and content hash.
pub fn dir_snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else {
                let hash = if meta.is_file() {
                    xtask::testkit::sha256_hex(&std::fs::read(&p).unwrap())
                } else {
                    String::new()
                };
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), (meta.len(), meta.modified().unwrap(), hash));
            }
        }
    }
    out
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Writes a commands file into the test directory.
pub fn commands_file(env: &Env, name: &str, text: &str) -> PathBuf {
    let p = env.root().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A handful of weight-backward shapes of different sizes, fast to sweep.
pub const SMALL_WORKLOAD: &str = "\
# Small workload for the tests.
convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC
convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 3 -x 3 -p 1 -q 1 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC
convbfp16 -n 16 -c 256 -H 14 -W 14 -k 256 -y 3 -x 3 -p 1 -q 1 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC
convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC
convbfp16 -n 16 -c 64 -H 56 -W 56 -k 256 -y 1 -x 1 -p 0 -q 0 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC
gemmfp16 --a_w 64 --a_h 65536 --b_w 64 -t 1 --iter 100
gemmfp16 --a_w 768 --a_h 16384 --b_w 768 -t 1 --iter 100
";

/// A command's output as a snapshot shows it: the test's temporary
/// directory, durations and keys (which hold paths) replaced by
/// placeholders, so that the snapshot changes only when the text does.
pub fn redact(env: &Env, text: &str) -> String {
    let mut out = text.replace(&env.root().display().to_string(), "[TMP]");
    out = out.replace(&workspace().display().to_string(), "[WORKSPACE]");
    // A build's progress line appears only when the build took long (on a
    // busy machine): it says how far ninja was, not what the tool did.
    out = out.lines().filter(|l| !l.contains(" build steps, ")).map(|l| format!("{l}\n")).collect();
    if !text.ends_with('\n') {
        out.pop();
    }
    let rules = [
        (r"\d+(\.\d+)? (s|ms)\b", "[TIME]"),
        (r"in \d+ ms", "in [TIME]"),
        (r"key [0-9a-f]{12}", "key [KEY]"),
        (r"\d+\.\d GB", "[SIZE]"),
    ];
    for (pattern, with) in rules {
        out = regex::Regex::new(pattern).unwrap().replace_all(&out, with).into_owned();
    }
    out
}
