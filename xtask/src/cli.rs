//! The command line: clap derive types only. Each command's behaviour lives
//! in its module under `commands/`; this file says what can be typed.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Tune IREE's split-reduction heuristics: sweep limits, fit rules, validate, and \
             produce an upstream-ready patch.",
    version
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes; each overrides the key of tuner.toml in
/// brackets.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Configuration file [default: tuner.toml at the repository root].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use the bundled IREE-shaped fixture as the target (created under
    /// target/fixture on first use).
    #[arg(long, global = true)]
    pub fixture: bool,
    /// The IREE checkout to tune [target.iree].
    #[arg(long, global = true, value_name = "PATH")]
    pub iree: Option<PathBuf>,
    /// The revision to tune [target.rev].
    #[arg(long, global = true, value_name = "REV")]
    pub rev: Option<String>,
    /// The user's IREE build directory, whose configuration sibling builds
    /// copy [build.dir].
    #[arg(long, global = true, value_name = "PATH")]
    pub build_dir: Option<PathBuf>,
    /// Where build slots live [build.work_dir].
    #[arg(long, global = true, value_name = "PATH")]
    pub work_dir: Option<PathBuf>,
    /// Where run directories go [runs_dir].
    #[arg(long, global = true, value_name = "PATH")]
    pub runs_dir: Option<PathBuf>,
    /// Where validated patches go [patches_dir].
    #[arg(long, global = true, value_name = "PATH")]
    pub patches_dir: Option<PathBuf>,
    /// Heuristics to tune, comma separated: conv, matmul [heuristics.tune].
    #[arg(long, global = true, value_delimiter = ',', value_name = "LIST")]
    pub heuristics: Option<Vec<String>>,
    /// Interpreter of the benchmark, e.g. the iree-turbine venv's python
    /// [bench.python].
    #[arg(long, global = true, value_name = "PATH")]
    pub python: Option<String>,
    /// Benchmark processes per candidate [bench.repeats].
    #[arg(long, global = true, value_name = "N")]
    pub repeats: Option<u32>,
    /// Devices, comma separated [bench.devices].
    #[arg(long, global = true, value_delimiter = ',', value_name = "LIST")]
    pub devices: Option<Vec<String>>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build and benchmark the baseline and one candidate per limit value.
    Sweep(SweepArgs),
    /// Fit rules to a sweep's runtimes and write the report and the C++.
    Analyze(AnalyzeArgs),
    /// Build the recommended change, A/B it against the baseline, run the
    /// compiler's tests, and write the patch under patches/.
    Validate(ValidateArgs),
    /// Put a validated patch on a new branch of your IREE checkout.
    Apply(ApplyArgs),
    /// Check the checkout, build dir, compiler cache, benchmark environment,
    /// devices and disk before a sweep.
    Doctor,
    /// Remove a run's (or every run's) build slots, `tune/<run>/*` branches
    /// and kernel caches; run directories stay.
    Clean(CleanArgs),
    /// Check the decision model against a real `iree-opt`: every shape's op
    /// through the split-reduction pass, compared with the model's
    /// prediction at the tuned revision.
    CheckModel(CheckModelArgs),
    /// Create the bundled fixture (a git repository and a built user build
    /// dir) under target/fixture, or print where it is.
    Fixture(FixtureArgs),
    /// Measure cold build, per-candidate rebuild and the rebuild floor on
    /// the fixture.
    BuildBench(BuildBenchArgs),
    /// Measure, on the fixture, whether the recommendation flips with the
    /// benchmark's noise: one full sweep per seed, priced by a noise-free one.
    NoiseBench(NoiseBenchArgs),
    /// Measure a full sweep's cost on the fixture by strategy (rebuild,
    /// probe) and devices (1, 4), against the original toolkit's way.
    SweepBench(SweepBenchArgs),
    /// Install what the tests need (with apt-get) and run them.
    Test(TestArgs),
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Commands files (iree-boo-driver format), measured together in one
    /// run [sweep.commands].
    pub commands: Vec<PathBuf>,
    /// Limits 1, 64, 128, 256 [sweep.quick] (the default).
    #[arg(long, conflicts_with_all = ["full", "limits"])]
    pub quick: bool,
    /// Limits 1, 8, 16, ..., 2048 [sweep.full].
    #[arg(long, conflicts_with = "limits")]
    pub full: bool,
    /// Any limits, comma separated.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub limits: Option<Vec<i64>>,
    /// Run name [default: the commands files' names without extension,
    /// joined by `+`].
    #[arg(long)]
    pub name: Option<String>,
    /// Write every candidate's patch, and results.json with each shape's
    /// predicted split per candidate, into the run directory; build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Record unparsable command lines in the run instead of stopping.
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// A run of this name with other inputs exists: move it to
    /// `runs/<name>.<time>/` (its branches likewise) and start afresh.
    #[arg(long)]
    pub replace: bool,
    /// Benchmark every shape at every candidate, also where the predicted
    /// split equals one already scheduled (which then shares its
    /// measurement by default).
    #[arg(long)]
    pub no_dedup: bool,
    /// Do not measure again the (shape, candidate) pairs whose regression
    /// evidence is ambiguous [sweep.remeasure_repeats = 0].
    #[arg(long)]
    pub no_remeasure: bool,
    /// How candidates are built: `rebuild` (a build per candidate),
    /// `probe` (one build that reads the limit from the benchmark's
    /// environment), `both` (probe, then rebuild as `<name>-rebuild`, and
    /// check they measured the same) [sweep.strategy].
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
}

/// `sweep --strategy`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyArg {
    Rebuild,
    Probe,
    Both,
}

#[derive(Args, Debug)]
pub struct CheckModelArgs {
    /// Commands files (iree-boo-driver format) [sweep.commands].
    pub commands: Vec<PathBuf>,
    /// The `iree-opt` to ask (any MLIR build of IREE, e.g. the
    /// iree-base-compiler wheel's) [default: BUILD/tools/iree-opt].
    #[arg(long, value_name = "PATH")]
    pub iree_opt: Option<PathBuf>,
    /// Leave out unparsable command lines instead of stopping.
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// Also write the MLIR given to `iree-opt` (a function `@shape_N` per
    /// shape) to this file.
    #[arg(long, value_name = "FILE")]
    pub mlir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Run name or directory [default: the newest run].
    pub run: Option<String>,
    /// Write the run's rule at this revision of the IREE checkout (e.g. a
    /// newer main) instead of the one swept; validate then builds there and
    /// the patches apply there. Without it the rule is written at the swept
    /// revision again.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Run name or directory [default: the newest run].
    pub run: Option<String>,
    /// A/B rounds [validate.rounds].
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Rewrite the lit tests' pinned results that the patch changes, and add
    /// them to the patch.
    #[arg(long)]
    pub update_tests: bool,
    /// Refit-and-revalidate rounds when shapes regress [validate.refine_rounds].
    #[arg(long)]
    pub refine_rounds: Option<u32>,
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// The run to clean up after.
    pub run: Option<String>,
    /// Every run's slots, branches and caches.
    #[arg(long, conflicts_with = "run")]
    pub all: bool,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// A patch file, or a run name (applies every patch of that run)
    /// [default: the newest run's patches].
    pub patch: Option<String>,
    /// Branch to create [default: tune/<run>/patch].
    #[arg(long)]
    pub branch: Option<String>,
    /// Apply a patch whose validation verdict is not "ready".
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Passed on to `cargo test` (e.g. a test name filter, or `-- --ignored`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct FixtureArgs {
    /// Where to create it [default: target/fixture].
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct NoiseBenchArgs {
    /// Seeds of the simulated GPU's noise (1 to N).
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Per-iteration noise (lognormal sigma).
    #[arg(long, default_value_t = 0.02)]
    pub noise: f64,
    /// Per-process drift (lognormal sigma).
    #[arg(long, default_value_t = 0.02)]
    pub drift: f64,
    /// Anchor shapes per benchmark process (`bench.anchors`; default: the
    /// fixture's).
    #[arg(long, value_name = "N")]
    pub anchors: Option<u32>,
    /// Where the runs go [default: target/noise-bench]. `--repeats N`
    /// sets the repeats per candidate (default: the fixture's
    /// bench.repeats).
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SweepBenchArgs {
    /// Wall seconds the simulated GPU stays busy per second of simulated
    /// kernel time (FIXTURE_BOO_KERNEL_TIME): what makes the benchmarks
    /// take time, as on a GPU.
    #[arg(long, default_value_t = 5.0)]
    pub kernel_time: f64,
    /// Seconds every link of the fixture's libIREECompiler.so takes on top
    /// of its own (FIXTURE_LINK_SECONDS), as a real one's relink does.
    #[arg(long, default_value_t = 0.0)]
    pub link_time: f64,
    /// Scratch directory [default: target/sweep-bench], cleared first.
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BuildBenchArgs {
    /// Candidates to rebuild after the cold build.
    #[arg(long, default_value_t = 4)]
    pub candidates: u32,
    /// Scratch directory [default: a new one under target/].
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
}
