//! `cargo xtask sweep-bench`: what a full sweep costs, by strategy and
//! devices, against the original toolkit's way, on the fixture.
//!
//! Each way is the fixture's full sweep (the baseline and ten limits) of
//! its bundled workload, with the simulated GPU keeping its device busy for
//! the kernels' time (`FIXTURE_BOO_KERNEL_TIME`), so device parallelism and
//! dedup show in wall time, and with each link of its `libIREECompiler.so`
//! made as slow as asked (`FIXTURE_LINK_SECONDS`), so builds overlapping
//! benchmarks show too. The tool's ways (rebuild with and without that
//! overlap, and probe, on one and four devices) are the tool itself in a
//! process of its own, in fresh slots;
//! the toolkit's way edits a scratch copy of the fixture in place, rebuilds
//! it and benchmarks every shape on one device, per candidate. Neither
//! re-measures ambiguous pairs nor rechecks the baseline, so the ways do
//! the same benchmark work, except that the probe sweeps also compile every
//! shape alone for the compiler's features (`sweep.compiler_features`, on
//! by default), which the table shows in a column of its own. A benchmark
//! to read, not a timed test.

use crate::cli::SweepBenchArgs;
use crate::config::{self, BuildAhead, Config};
use crate::core::cpp::patch;
use crate::core::results::Results;
use crate::infra::proc::{self, Job};
use crate::infra::{bench, fixture, overlay, store};
use crate::ops::inputs::{locate_sites, read_commands_files};
use crate::ops::rundir::RunDir;
use crate::ops::{context, selfrun};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// One way's figures.
struct Row {
    way: String,
    wall: f64,
    builds: usize,
    build_seconds: f64,
    /// Of `build_seconds`, those that ran while a benchmark did (builds made
    /// ahead, `sweep.build_ahead`): not wall time of their own.
    hidden_seconds: f64,
    bench_seconds: f64,
    /// The probe sweep's compiler features: every shape compiled by a
    /// benchmark process of its own before the baseline is measured
    /// (`sweep.compiler_features`), beside the candidates' benchmarks.
    features_seconds: f64,
    saved_runs: usize,
}

impl Row {
    /// Wall time not spent in a build or a benchmark process: the tool's
    /// own work (planning, predictions, results files, its own start).
    fn overhead(&self) -> f64 {
        let children = self.build_seconds - self.hidden_seconds + self.bench_seconds + self.features_seconds;
        (self.wall - children).max(0.0)
    }

    /// A tool sweep's figures from its results.
    fn of_sweep(way: String, wall: f64, results: &Results, repeats: u32) -> Row {
        let builds: Vec<f64> = results.candidates.iter().filter_map(|c| c.build_seconds).filter(|&s| s > 0.0).collect();
        // A build made ahead ran beside the benchmark before it, and is
        // wall time of its own only where it outlasted that benchmark.
        let hidden = results.candidates.windows(2).filter(|w| w[1].built_ahead).map(|w| {
            let (build, bench) = (w[1].build_seconds.unwrap_or(0.0), w[0].bench_seconds.unwrap_or(0.0));
            build.min(bench)
        });
        let shared = results.shapes.iter().flat_map(|s| s.runs.values()).filter(|m| m.shared_from.is_some()).count();
        Row {
            way,
            wall,
            builds: builds.len(),
            build_seconds: builds.iter().sum(),
            hidden_seconds: hidden.fold(0.0, |a, b| a + b),
            bench_seconds: results.candidates.iter().filter_map(|c| c.bench_seconds).sum(),
            features_seconds: results.compiler_features.as_ref().map_or(0.0, |f| f.seconds),
            saved_runs: shared * repeats as usize,
        }
    }
}

/// The fixture's simulated link time of `libIREECompiler.so`, read by its
/// build (`tests/fixtures/README.md`).
const LINK_VAR: &str = "FIXTURE_LINK_SECONDS";

pub(crate) fn run(workspace: &Path, args: &SweepBenchArgs) -> Result<()> {
    context::ensure_fixture(workspace)?;
    let dir = args.dir.clone().unwrap_or_else(|| workspace.join("target/sweep-bench"));
    // Wall time must not include a resumed run: every way starts afresh.
    overlay::remove(&dir)?;
    let mut base = config::load(Some(&workspace.join("tests/fixtures/tuner.toml")), workspace)?;
    base.runs_dir = dir.join("runs");
    base.sweep.recheck_baseline = false;
    base.bench.env.insert("FIXTURE_BOO_KERNEL_TIME".into(), args.kernel_time.to_string());
    base.bench.env.insert("FIXTURE_BOO_DEVICE_LOCK_DIR".into(), dir.join("locks").display().to_string());
    let limits = base.sweep.full.clone();
    eprintln!(
        "sweep-bench: the fixture's full sweep (baseline and {} limits, {} repeats, kernel time x{}); runs under `{}`",
        limits.len(),
        base.bench.repeats,
        args.kernel_time,
        dir.display()
    );
    let exe = selfrun::own_copy(&dir)?;
    let log = dir.join("sweep-bench.log");
    let mut rows = Vec::new();
    let env = [(LINK_VAR, args.link_time.to_string())];
    let ways =
        [("rebuild", 1, false), ("rebuild", 1, true), ("rebuild", 4, true), ("probe", 1, true), ("probe", 4, true)];
    for (strategy, devices, overlap) in ways {
        let name = format!("{strategy}-{devices}{}", if overlap { "" } else { "-serial" });
        let mut cfg = base.clone();
        cfg.build.work_dir = Some(dir.join(format!("work-{name}")));
        cfg.bench.devices = (0..devices).map(|d| d.to_string()).collect();
        cfg.sweep.build_ahead = if overlap { BuildAhead::Auto } else { BuildAhead::Off };
        let config = selfrun::write_config(&dir, &name, &cfg)?;
        eprintln!("{name}: sweeping...");
        let sweep = ["sweep", "--full", "--no-remeasure", "--strategy", strategy, "--name", &name];
        let wall = selfrun::step_with(&exe, &dir, &log, (&config, &env), &sweep)?;
        let results = RunDir::new(&base.runs_dir, &name).read_results()?;
        let plural = if devices == 1 { "device" } else { "devices" };
        let serial = if strategy == "rebuild" && !overlap { ", serial" } else { "" };
        let way = format!("{strategy}, {devices} {plural}{serial}");
        rows.push(Row::of_sweep(way, wall, &results, cfg.bench.repeats));
    }
    eprintln!("the toolkit's way: a scratch copy edited in place, rebuilt, every shape on one device...");
    let toolkit = toolkit_way(workspace, &dir, (&base, &env), &limits)?;
    print!("{}", render(&toolkit, &rows));
    Ok(())
}

/// The original toolkit's way on a scratch copy of the fixture: per
/// candidate, the heuristic file edited in place, the build directory
/// rebuilt, every shape benchmarked `bench.repeats` times on device 0.
fn toolkit_way(workspace: &Path, dir: &Path, (base, env): (&Config, &[(&str, String)]), limits: &[i64]) -> Result<Row> {
    let fx = fixture::materialize(workspace, &dir.join("toolkit"), &fixture::Options::default())?;
    let mut cfg = base.clone();
    cfg.target.iree = fx.repo.clone();
    cfg.build.dir = Some(fx.build.clone());
    let heuristic = fx.repo.join(&cfg.target.heuristic_file);
    let original =
        std::fs::read_to_string(&heuristic).with_context(|| format!("cannot read `{}`", heuristic.display()))?;
    let sites = locate_sites(&cfg, &original)?.sites;
    let files = read_commands_files(&cfg.sweep.commands, false)?;
    let text: String = files.iter().map(|f| f.text.as_str()).collect();
    let commands = dir.join("toolkit/commands.txt");
    store::write_atomic(&commands, text.as_bytes())?;
    let log = dir.join("toolkit/toolkit.log");
    let start = Instant::now();
    let mut row = Row {
        way: "toolkit (in place, 1 device)".into(),
        wall: 0.0,
        builds: 0,
        build_seconds: 0.0,
        hidden_seconds: 0.0,
        bench_seconds: 0.0,
        features_seconds: 0.0,
        saved_runs: 0,
    };
    for limit in std::iter::once(None).chain(limits.iter().map(|&l| Some(l))) {
        let source = match limit {
            None => original.clone(),
            Some(l) => {
                let edits: Vec<patch::Edit> =
                    sites.iter().flat_map(|s| patch::fixed_limit_edits(&original, s, l)).collect();
                patch::apply_checked(&original, &sites, &edits).map_err(|e| anyhow::anyhow!(e))?
            }
        };
        std::fs::write(&heuristic, &source).with_context(|| format!("cannot write `{}`", heuristic.display()))?;
        let mut job = Job::new("cmake", &fx.build, &log, Duration::from_secs(3600))
            .args(["--build", "."])
            .arg("--target")
            .args(cfg.build.targets.iter());
        for (k, v) in env {
            job = job.env(k, v);
        }
        let built = proc::run(&job)?;
        if !built.success() {
            bail!("the toolkit's build failed ({}); see `{}`", built.ended, log.display());
        }
        row.builds += 1;
        row.build_seconds += built.seconds;
        for r in 0..cfg.bench.repeats {
            row.bench_seconds += toolkit_repeat(&cfg, &fx, &commands, &format!("{}-r{r}", limit.unwrap_or(0)))?;
        }
    }
    std::fs::write(&heuristic, &original).with_context(|| format!("cannot write `{}`", heuristic.display()))?;
    row.wall = start.elapsed().as_secs_f64();
    Ok(row)
}

/// One benchmark process of the toolkit's way over every shape.
fn toolkit_repeat(cfg: &Config, fx: &fixture::Fixture, commands: &Path, tag: &str) -> Result<f64> {
    let dir = commands.parent().expect("in the toolkit's directory");
    let cache = dir.join(format!("cache-{tag}"));
    let inv = bench::Invocation {
        config: cfg,
        build_dir: &fx.build,
        source_dir: &fx.repo,
        commands,
        csv: &dir.join(format!("raw-{tag}.csv")),
        cache_dir: &cache,
        device: "0",
        log: &dir.join(format!("bench-{tag}.log")),
        timeout: Duration::from_secs(cfg.bench.timeout_s),
        extra_args: &[],
        overlays: &[],
        env: &[],
    };
    let outcome = bench::run(&inv)?;
    if !outcome.success() {
        bail!("the toolkit's benchmark {tag} failed ({}); see `{}`", outcome.ended, inv.log.display());
    }
    Ok(outcome.seconds)
}

/// The table and the line of ratios.
fn render(toolkit: &Row, rows: &[Row]) -> String {
    let mut out = format!(
        "{:<30} {:>8} {:>7} {:>8} {:>8} {:>8} {:>10} {:>10} {:>9}\n",
        "way", "wall s", "builds", "build s", "hidden s", "bench s", "features s", "runs saved", "overhead"
    );
    for r in std::iter::once(toolkit).chain(rows) {
        out.push_str(&format!(
            "{:<30} {:>8.1} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10} {:>8.1}%\n",
            r.way,
            r.wall,
            r.builds,
            r.build_seconds,
            r.hidden_seconds,
            r.bench_seconds,
            r.features_seconds,
            r.saved_runs,
            100.0 * r.overhead() / r.wall
        ));
    }
    let find = |way: &str| rows.iter().find(|r| r.way == way);
    if let (Some(serial), Some(ahead)) = (find("rebuild, 1 device, serial"), find("rebuild, 1 device")) {
        out.push_str(&format!(
            "overlap: rebuild on 1 device {:.1} s with builds overlapping benchmarks, {:.1} s without ({:.2}x); {:.1} \
             of its {:.1} build seconds ran beside benchmarks\n",
            ahead.wall,
            serial.wall,
            ahead.wall / serial.wall,
            ahead.hidden_seconds,
            ahead.build_seconds
        ));
    }
    if let (Some(p1), Some(p4)) = (find("probe, 1 device"), find("probe, 4 devices")) {
        let worst = rows.iter().map(|r| r.overhead() / r.wall).fold(0.0, f64::max);
        out.push_str(&format!(
            "ratios: probe with 4 devices / toolkit wall {:.2}x (target <= 0.30x); 4-device benchmarks / \
             (1-device / 4) {:.2}x (target <= 1.15x); probe builds {} (target 1); worst tool overhead {:.1}% \
             (target < 2%)\n",
            p4.wall / toolkit.wall,
            p4.bench_seconds / (p1.bench_seconds / 4.0),
            p4.builds.max(p1.builds),
            100.0 * worst
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{render, Row};

    fn row(way: &str, wall: f64, builds: usize, (build, ahead): (f64, f64), bench: f64, saved: usize) -> Row {
        let way = way.to_string();
        let features_seconds = if way.starts_with("probe") { 10.0 } else { 0.0 };
        let (build_seconds, hidden_seconds, bench_seconds, saved_runs) = (build, ahead, bench, saved);
        Row { way, wall, builds, build_seconds, hidden_seconds, bench_seconds, features_seconds, saved_runs }
    }

    /// The table and its ratio lines, from figures of the kind a run gives.
    #[test]
    fn sweep_bench_output() {
        let toolkit = row("toolkit (in place, 1 device)", 300.0, 11, (60.0, 0.0), 239.0, 0);
        let rows = [
            row("rebuild, 1 device, serial", 260.0, 11, (58.0, 0.0), 200.0, 681),
            row("rebuild, 1 device", 208.0, 11, (59.0, 53.0), 201.0, 681),
            row("rebuild, 4 devices", 70.0, 11, (58.0, 40.0), 52.0, 681),
            row("probe, 1 device", 216.0, 1, (5.5, 0.0), 199.0, 681),
            row("probe, 4 devices", 67.0, 1, (5.4, 0.0), 51.0, 681),
        ];
        insta::assert_snapshot!("sweep_bench_output", render(&toolkit, &rows));
    }
}
