//! `cargo xtask sweep`: the baseline and one candidate per limit, each
//! committed on its own `tune/<run>/<candidate>` branch, built incrementally
//! in a build slot and benchmarked in fresh processes.
//!
//! The orchestration and its durability live here: candidates are planned
//! (patched, keyed) before anything is built; a candidate whose key is in the
//! journal with its result file is reused, so a rerun after a crash resumes
//! where it stopped; `results.json` is rewritten atomically after every
//! candidate. Patching is [`crate::core::cpp`]'s, building and benchmarking
//! [`crate::infra`]'s.

use super::Ctx;
use crate::cli::SweepArgs;
use crate::config::Config;
use crate::core::cpp::{patch, CppFile, Site};
use crate::core::decide::{self, Model};
use crate::core::difftext;
use crate::core::results::{
    candidate_name, BenchInfo, CandidateInfo, CandidateResult, CandidateStatus, CommandsInfo, Measurement, Results,
    ShapeResult, TargetInfo, SCHEMA,
};
use crate::core::workload::{self, Shape};
use crate::infra::build::{self, ConfigurePlan, Slot};
use crate::infra::progress::Progress;
use crate::infra::store::{self, Journal, Record};
use crate::infra::{bench, git, proc};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One planned candidate.
pub struct Candidate {
    pub name: String,
    pub limit: Option<i64>,
    /// The heuristic file as this candidate builds it.
    pub source: String,
    pub diff: String,
    pub message: String,
    pub key: String,
}

/// Everything decided before the first build.
pub struct Plan {
    pub run: String,
    pub run_dir: PathBuf,
    pub commands_path: PathBuf,
    pub commands_text: String,
    pub shapes: Vec<Shape>,
    pub skipped: Vec<workload::BadLine>,
    pub base: git2::Oid,
    pub base_source: String,
    pub sites: Vec<Site>,
    pub candidates: Vec<Candidate>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    build::hex(&Sha256::digest(bytes))
}

/// Reads and parses a commands file; bad lines stop the run (naming file,
/// line and fix) unless `skip_bad_lines`.
pub fn read_commands(path: &Path, skip_bad_lines: bool) -> Result<(String, Vec<Shape>, Vec<workload::BadLine>)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read commands file `{}`; pass an existing file (iree-boo-driver format)", path.display())
    })?;
    let (shapes, bad) = workload::parse_commands(&text);
    if !bad.is_empty() && !skip_bad_lines {
        let list: Vec<String> =
            bad.iter().map(|b| format!("  {}:{}: {}\n    {}", path.display(), b.line, b.error, b.text)).collect();
        bail!(
            "{} line(s) of `{}` cannot be parsed:\n{}\nfix or delete them, or pass --skip-bad-lines to record \
             them in the run and go on",
            bad.len(),
            path.display(),
            list.join("\n")
        );
    }
    if shapes.is_empty() {
        bail!("`{}` holds no benchmark command; add iree-boo-driver command lines", path.display());
    }
    Ok((text, shapes, bad))
}

/// Run names become branch names and directory names.
pub fn sanitize_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    s.trim_matches('.').to_string()
}

/// Locates every tuned heuristic in `source`.
pub fn locate_sites(config: &Config, source: &str) -> Result<Vec<Site>> {
    let file = CppFile::parse(source);
    let mut sites = Vec::new();
    for &h in &config.heuristics.tune {
        let site = file.locate(h, config.heuristics.names(h)).map_err(|e| {
            anyhow::anyhow!("in `{}` at revision `{}`: {e}", config.target.heuristic_file, config.target.rev)
        })?;
        sites.push(site);
    }
    Ok(sites)
}

fn knob_lines(source: &str, sites: &[Site], limit: Option<i64>) -> String {
    let mut out = String::new();
    for s in sites {
        let anchor = match &s.style {
            crate::core::cpp::LadderStyle::Helper { helper, .. } => helper.name.clone(),
            crate::core::cpp::LadderStyle::Inline { .. } => s.function.name.clone(),
        };
        match limit {
            None => out.push_str(&format!("  {}: unchanged ({anchor})\n", s.heuristic)),
            Some(l) => {
                out.push_str(&format!("  {}: limitParallelLoops = {l} in `{anchor}`\n", s.heuristic));
                for er in &s.early_returns {
                    out.push_str(&format!(
                        "  {}: early return disabled (line {}): {}\n",
                        s.heuristic,
                        crate::core::cpp::line_of(source, er.condition.start),
                        er.condition_text.split_whitespace().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
        }
    }
    out
}

/// What goes into a candidate's key besides its source: everything that
/// changes what the benchmark would measure.
fn key_inputs(config: &Config, plan_cfg: &ConfigurePlan, commands_sha: &str, base: git2::Oid) -> serde_json::Value {
    serde_json::json!({
        "tool_version": TOOL_VERSION,
        "base": base.to_string(),
        "heuristic_file": config.target.heuristic_file,
        "commands_sha256": commands_sha,
        "bench": {
            "command": config.bench.command,
            "python": config.bench.python,
            "column": config.bench.column,
            "repeats": config.bench.repeats,
            "shuffle": config.bench.shuffle,
            "pythonpath": config.bench.pythonpath,
            "path": config.bench.path,
            "env": config.bench.env,
            "device_env": config.bench.device_env,
            "device": config.bench.devices.first(),
        },
        "build": { "plan": plan_cfg, "targets": config.build.targets },
    })
}

/// Plans the sweep: parses the commands, reads the heuristic at the tuned
/// revision, and patches and keys every candidate.
pub fn plan(ctx: &Ctx, args: &SweepArgs, plan_cfg: &ConfigurePlan) -> Result<Plan> {
    let config = &ctx.config;
    let commands_path = match (&args.commands, &config.sweep.commands) {
        (Some(p), _) => super::cwd_absolute(p),
        (None, Some(p)) => p.clone(),
        (None, None) => bail!("no commands file: pass one (`cargo xtask sweep FILE`) or set `sweep.commands`"),
    };
    let (_, shapes, skipped) = read_commands(&commands_path, args.skip_bad_lines)?;
    let commands_text: String = shapes.iter().map(|s| format!("{}\n", s.command)).collect();
    let run = sanitize_name(&match &args.name {
        Some(n) => n.clone(),
        None => commands_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or("run".into()),
    });
    if run.is_empty() {
        bail!("the run name is empty; pass --name");
    }
    let limits: Vec<i64> = match (&args.limits, args.full) {
        (Some(l), _) => l.clone(),
        (None, true) => config.sweep.full.clone(),
        (None, false) => config.sweep.quick.clone(),
    };
    if let Some(bad) = limits.iter().find(|&&l| l < 1) {
        bail!("limit {bad} is invalid: limits must be at least 1");
    }

    let repo = git::open(&config.target.iree)?;
    let base = git::resolve(&repo, &config.target.rev)?;
    let base_source = git::read_file(&repo, base, &config.target.heuristic_file)?;
    let sites = locate_sites(config, &base_source)?;
    let commands_sha = sha256_hex(commands_text.as_bytes());
    let inputs = key_inputs(config, plan_cfg, &commands_sha, base);

    let mut candidates = Vec::new();
    let mut seen = Vec::new();
    for limit in std::iter::once(None).chain(limits.iter().map(|&l| Some(l))) {
        if seen.contains(&limit) {
            continue;
        }
        seen.push(limit);
        let name = candidate_name(limit);
        let source = match limit {
            None => base_source.clone(),
            Some(l) => {
                let edits: Vec<patch::Edit> =
                    sites.iter().flat_map(|s| patch::fixed_limit_edits(&base_source, s, l)).collect();
                patch::apply_checked(&base_source, &sites, &edits)
                    .map_err(|e| anyhow::anyhow!("cannot patch `{}` for {name}: {e}", config.target.heuristic_file))?
            }
        };
        let diff = difftext::unified(&config.target.heuristic_file, &base_source, &source);
        let message = format!(
            "tune: {run} {name}\n\nsplit-reduction-tuner candidate of run `{run}`, on {}.\n\nKnobs:\n{}",
            git::short(base),
            knob_lines(&base_source, &sites, limit)
        );
        let key = sha256_hex(
            serde_json::to_string(
                &serde_json::json!({ "inputs": inputs, "source_sha256": sha256_hex(source.as_bytes()) }),
            )?
            .as_bytes(),
        );
        candidates.push(Candidate { name, limit, source, diff, message, key });
    }
    Ok(Plan {
        run_dir: config.runs_dir.join(&run),
        run,
        commands_path,
        commands_text,
        shapes,
        skipped,
        base,
        base_source,
        sites,
        candidates,
    })
}

/// Predicted decisions per shape: the baseline from the ladder read from the
/// C++, candidates from their fixed limit.
fn decisions(plan: &Plan, shape: &Shape, low: bool) -> BTreeMap<String, crate::core::results::Decision> {
    let site = plan.sites.iter().find(|s| s.heuristic == shape.features.heuristic);
    let baseline = site.map(|s| decide::modelled(&shape.features, &Model::from_site(s), low));
    let mut out = BTreeMap::new();
    for c in &plan.candidates {
        let d = match (c.limit, site) {
            (Some(l), Some(_)) => decide::fixed(&shape.features, l),
            _ => match &baseline {
                Some(b) => b.clone(),
                None => crate::core::results::Decision {
                    limit: None,
                    tile_sizes: None,
                    unknown: Some(format!("the {} heuristic is not tuned", shape.features.heuristic)),
                },
            },
        };
        out.insert(c.name.clone(), d);
    }
    out
}

fn results_skeleton(ctx: &Ctx, plan: &Plan) -> Results {
    let config = &ctx.config;
    Results {
        schema: SCHEMA,
        tool_version: TOOL_VERSION.to_string(),
        run: plan.run.clone(),
        target: TargetInfo {
            checkout: config.target.iree.display().to_string(),
            rev: config.target.rev.clone(),
            commit: plan.base.to_string(),
            heuristic_file: config.target.heuristic_file.clone(),
            styles: plan.sites.iter().map(|s| (s.heuristic, s.style.name().to_string())).collect(),
        },
        commands: CommandsInfo {
            path: plan.commands_path.display().to_string(),
            sha256: sha256_hex(plan.commands_text.as_bytes()),
            skipped: plan.skipped.clone(),
        },
        bench: BenchInfo {
            command: config.bench.command.clone(),
            column: config.bench.column.clone(),
            device: config.bench.devices[0].clone(),
            repeats: config.bench.repeats,
        },
        heuristics: config.heuristics.tune.clone(),
        candidates: plan
            .candidates
            .iter()
            .map(|c| CandidateInfo {
                name: c.name.clone(),
                limit: c.limit,
                branch: branch_name(&plan.run, &c.name),
                commit: String::new(),
                key: c.key.clone(),
                status: CandidateStatus::Pending,
                build_seconds: None,
                bench_seconds: None,
                error: None,
            })
            .collect(),
        shapes: plan
            .shapes
            .iter()
            .enumerate()
            .map(|(id, s)| ShapeResult {
                id,
                line: s.line,
                command: s.command.clone(),
                op: s.op.clone(),
                features: s.features.clone(),
                runs: BTreeMap::new(),
                decisions: decisions(plan, s, config.heuristics.low_parallelism),
            })
            .collect(),
        recheck: None,
    }
}

pub fn branch_name(run: &str, candidate: &str) -> String {
    format!("tune/{run}/{candidate}")
}

/// A reusable result for `candidate` from an earlier (possibly interrupted)
/// run: the journal vouches for it and its key matches.
fn reusable(journal: &Journal, run_dir: &Path, candidate: &Candidate) -> Option<CandidateResult> {
    let record = journal.records().iter().rev().find(|r| {
        r.event == "candidate_done"
            && r.candidate.as_deref() == Some(candidate.name.as_str())
            && r.key.as_deref() == Some(candidate.key.as_str())
    })?;
    let file = run_dir.join(record.file.as_ref()?);
    let result: CandidateResult = store::read_json(&file).ok()?;
    (result.info.key == candidate.key).then_some(result)
}

/// Removes the logs, CSVs and result of an earlier attempt at a candidate
/// (its patch stays).
fn clear_attempt(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") || name.ends_with(".csv") || name.starts_with("commands-r") || name == "result.json" {
            std::fs::remove_file(e.path()).with_context(|| format!("cannot remove `{}`", e.path().display()))?;
        }
    }
    Ok(())
}

/// A deterministic shuffle (so reruns interleave shapes the same way).
pub fn shuffled(n: usize, seed: &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = u64::from_le_bytes(Sha256::digest(seed.as_bytes())[..8].try_into().unwrap()) | 1;
    for i in (1..n).rev() {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545F4914F6CDD1D);
        order.swap(i, (r % (i as u64 + 1)) as usize);
    }
    order
}

/// Outcome of benchmarking one build.
pub struct BenchRun {
    pub measurements: Vec<Measurement>,
    pub seconds: f64,
    /// Repeats whose process failed as a whole (no usable CSV).
    pub failed_repeats: Vec<String>,
}

/// Benchmarks the build in `slot` `repeats` times, each in a fresh process
/// with a fresh kernel cache, with the shapes in a shuffled order per repeat.
#[allow(clippy::too_many_arguments)]
pub fn benchmark(
    config: &Config,
    slot: &Slot,
    shapes: &[Shape],
    out_dir: &Path,
    cache_dir: &Path,
    tag: &str,
    repeats: u32,
    timeout: Duration,
    extra_args: &[String],
    progress: Option<&Progress>,
) -> Result<BenchRun> {
    let commands: Vec<String> = shapes.iter().map(|s| s.command.clone()).collect();
    let mut measurements = vec![Measurement::default(); shapes.len()];
    let mut failed_repeats = Vec::new();
    let start = Instant::now();
    if cache_dir.exists() {
        std::fs::remove_dir_all(cache_dir).with_context(|| format!("cannot clear `{}`", cache_dir.display()))?;
    }
    for r in 0..repeats {
        let order = if config.bench.shuffle {
            shuffled(shapes.len(), &format!("{tag}-{r}"))
        } else {
            (0..shapes.len()).collect()
        };
        let file = out_dir.join(format!("commands-r{r}.txt"));
        let text: String = order.iter().map(|&i| format!("{}\n", commands[i])).collect();
        store::write_atomic(&file, text.as_bytes())?;
        let csv = out_dir.join(format!("raw-r{r}.csv"));
        let _ = std::fs::remove_file(&csv);
        let log = out_dir.join(format!("bench-r{r}.log"));
        let inv = bench::Invocation {
            config,
            build_dir: &slot.build,
            source_dir: &slot.src,
            commands: &file,
            csv: &csv,
            cache_dir,
            device: &config.bench.devices[0],
            log: &log,
            timeout,
            extra_args,
        };
        let outcome = bench::run(&inv)?;
        let csv_text = std::fs::read_to_string(&csv).unwrap_or_default();
        let usable = matches!(outcome.ended, proc::Ended::Exited(0) | proc::Ended::Exited(1)) && !csv_text.is_empty();
        if !usable {
            let why = format!(
                "benchmark repeat {r} {} without a usable CSV; see `{}`:\n{}",
                outcome.ended,
                log.display(),
                proc::log_tail(&log, 8)
            );
            for m in measurements.iter_mut() {
                m.failures.push(format!("benchmark process {}", outcome.ended));
            }
            failed_repeats.push(why);
        } else if let Err(e) = bench::collect(&csv_text, &config.bench.column, &order, &commands, &mut measurements) {
            bail!("`{}`: {e}", csv.display());
        }
        if let Some(p) = progress {
            p.advance(1);
        }
    }
    Ok(BenchRun { measurements, seconds: start.elapsed().as_secs_f64(), failed_repeats })
}

/// Builds `commit` in `slot`: checkout, configure when needed, build.
pub fn build_commit(
    config: &Config,
    plan_cfg: &ConfigurePlan,
    slot: &Slot,
    commit: git2::Oid,
    log: &Path,
) -> Result<(bool, f64)> {
    let start = Instant::now();
    git::checkout(&slot.worktree, commit)?;
    if let Some(outcome) = build::configure(slot, plan_cfg, config, log)? {
        if !outcome.success() {
            return Ok((false, start.elapsed().as_secs_f64()));
        }
    }
    let outcome = build::build(slot, config, log)?;
    Ok((outcome.success(), start.elapsed().as_secs_f64()))
}

pub fn run(ctx: &Ctx, args: &SweepArgs) -> Result<()> {
    let config = &ctx.config;
    let cache = build::user_cache(config)?;
    let plan_cfg = build::configure_plan(config, cache.as_ref(), 0);
    let plan = plan(ctx, args, &plan_cfg)?;
    let _lock = store::lock_dir(&plan.run_dir, "sweep")?;
    store::write_atomic(&plan.run_dir.join("commands.txt"), plan.commands_text.as_bytes())?;
    for c in &plan.candidates {
        let dir = plan.run_dir.join("candidates").join(&c.name);
        store::write_atomic(&dir.join("patch.diff"), c.diff.as_bytes())?;
    }
    eprintln!(
        "sweep `{}`: {} shapes ({} skipped), {} candidates, {} at {} ({})",
        plan.run,
        plan.shapes.len(),
        plan.skipped.len(),
        plan.candidates.len(),
        config.target.heuristic_file,
        git::short(plan.base),
        plan.sites.iter().map(|s| format!("{} {}", s.heuristic, s.style.name())).collect::<Vec<_>>().join(", ")
    );
    if args.dry_run {
        for c in &plan.candidates {
            let (a, r) = difftext::stat(&c.diff);
            eprintln!(
                "  {:<12} +{a} -{r}  {}",
                c.name,
                plan.run_dir.join("candidates").join(&c.name).join("patch.diff").display()
            );
        }
        eprintln!("dry run: nothing built");
        return Ok(());
    }
    if plan_cfg.launcher.is_none() {
        eprintln!(
            "note: the build uses no compiler cache; each build slot's first build is a cold build. \
             Configure your build with -DCMAKE_CXX_COMPILER_LAUNCHER=ccache (or sccache) to seed it."
        );
    }

    let mut journal = Journal::open(&plan.run_dir.join("journal.jsonl"))?;
    let mut record = Record::new("sweep_started");
    record.detail = Some(plan.candidates.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(","));
    journal.append(record)?;
    let mut results = results_skeleton(ctx, &plan);
    let results_path = plan.run_dir.join("results.json");
    store::write_json(&results_path, &results)?;

    let repo = git::open(&config.target.iree)?;
    let per_build = 1 + u64::from(config.bench.repeats);
    let steps = (plan.candidates.len() as u64 + u64::from(config.sweep.recheck_baseline)) * per_build;
    let progress = Progress::new(steps, "sweep");
    let mut slot: Option<Slot> = None;
    let mut baseline_seconds: Option<f64> = None;

    for c in &plan.candidates {
        let dir = plan.run_dir.join("candidates").join(&c.name);
        if let Some(done) = reusable(&journal, &plan.run_dir, c) {
            progress.log(&format!("{}: reusing the finished result (key {})", c.name, &c.key[..12]));
            if c.limit.is_none() {
                baseline_seconds = done.info.bench_seconds.map(|s| s / f64::from(config.bench.repeats));
            }
            results.merge(&done);
            store::write_json(&results_path, &results)?;
            progress.advance(1 + u64::from(config.bench.repeats));
            continue;
        }
        let branch = branch_name(&plan.run, &c.name);
        let commit = match c.limit {
            None => plan.base,
            Some(_) => git::commit_file(&repo, plan.base, &config.target.heuristic_file, &c.source, &c.message)?,
        };
        git::set_branch(&repo, &branch, commit)?;
        let mut started = Record::new("candidate_started");
        started.candidate = Some(c.name.clone());
        started.key = Some(c.key.clone());
        started.detail = Some(format!("{branch} {commit}"));
        journal.append(started)?;

        if slot.is_none() {
            let first_branch = branch_name(&plan.run, &plan.candidates[0].name);
            git::set_branch(&repo, &first_branch, plan.base)?;
            slot = Some(build::ensure_slot(&repo, config, 0, &first_branch)?);
        }
        let slot_ref = slot.as_ref().unwrap();
        progress.message(&format!("{}: building", c.name));
        // Logs and CSVs of an interrupted attempt would mix with this one's.
        clear_attempt(&dir)?;
        let log = dir.join("build.log");
        let (built, build_seconds) = build_commit(config, &plan_cfg, slot_ref, commit, &log)?;
        progress.advance(1);
        let mut info = CandidateInfo {
            name: c.name.clone(),
            limit: c.limit,
            branch: branch.clone(),
            commit: commit.to_string(),
            key: c.key.clone(),
            status: CandidateStatus::Ok,
            build_seconds: Some(build_seconds),
            bench_seconds: None,
            error: None,
        };
        if !built {
            let tail = proc::log_tail(&log, 15);
            if c.limit.is_none() {
                bail!("the baseline does not build; see `{}`:\n{tail}", log.display());
            }
            progress.log(&format!("{}: build failed after {build_seconds:.1} s; see `{}`", c.name, log.display()));
            info.status = CandidateStatus::BuildFailed;
            info.error = Some(format!("build failed; see {}", log.display()));
            let mut failed = Record::new("candidate_failed");
            failed.candidate = Some(c.name.clone());
            failed.key = Some(c.key.clone());
            failed.detail = info.error.clone();
            journal.append(failed)?;
            results.merge(&CandidateResult { info, measurements: vec![] });
            store::write_json(&results_path, &results)?;
            progress.advance(u64::from(config.bench.repeats));
            continue;
        }
        progress.log(&format!("{}: built in {build_seconds:.1} s", c.name));
        let mut built_rec = Record::new("candidate_built");
        built_rec.candidate = Some(c.name.clone());
        built_rec.key = Some(c.key.clone());
        built_rec.detail = Some(format!("{build_seconds:.3}"));
        journal.append(built_rec)?;

        progress.message(&format!("{}: benchmarking", c.name));
        let mut timeout = Duration::from_secs(config.bench.timeout_s);
        if let (Some(b), true) = (baseline_seconds, config.bench.timeout_factor > 0.0) {
            timeout = timeout.min(Duration::from_secs_f64((b * config.bench.timeout_factor).max(60.0)));
        }
        let cache_dir = config.work_dir().join("cache").join(&plan.run).join(&c.name);
        let run = benchmark(
            config,
            slot_ref,
            &plan.shapes,
            &dir,
            &cache_dir,
            &c.key,
            config.bench.repeats,
            timeout,
            &[],
            Some(&progress),
        )?;
        info.bench_seconds = Some(run.seconds);
        if c.limit.is_none() {
            baseline_seconds = Some(run.seconds / f64::from(config.bench.repeats));
        }
        let ok_shapes = run.measurements.iter().filter(|m| m.ok()).count();
        if ok_shapes == 0 {
            info.status = CandidateStatus::BenchFailed;
            info.error = Some(run.failed_repeats.first().cloned().unwrap_or_else(|| "no shape measured".to_string()));
        }
        for why in &run.failed_repeats {
            progress.log(&format!("{}: {why}", c.name));
        }
        progress.log(&format!("{}: {ok_shapes}/{} shapes measured in {:.1} s", c.name, plan.shapes.len(), run.seconds));
        let result = CandidateResult { info, measurements: run.measurements };
        let file = dir.join("result.json");
        store::write_json(&file, &result)?;
        if result.info.status == CandidateStatus::Ok {
            let mut done = Record::new("candidate_done");
            done.candidate = Some(c.name.clone());
            done.key = Some(c.key.clone());
            done.file = Some(format!("candidates/{}/result.json", c.name));
            journal.append(done)?;
        } else {
            if c.limit.is_none() {
                bail!("the baseline measured nothing: {}", result.info.error.clone().unwrap_or_default());
            }
            let mut failed = Record::new("candidate_failed");
            failed.candidate = Some(c.name.clone());
            failed.key = Some(c.key.clone());
            failed.detail = result.info.error.clone();
            journal.append(failed)?;
        }
        results.merge(&result);
        store::write_json(&results_path, &results)?;
    }
    if config.sweep.recheck_baseline {
        recheck_baseline(config, &plan, &plan_cfg, &repo, &mut slot, &mut journal, &mut results, &progress)?;
        store::write_json(&results_path, &results)?;
    }
    progress.finish();
    journal.append(Record::new("sweep_finished"))?;
    print_summary(&results);
    eprintln!("results: {}", results_path.display());
    Ok(())
}

/// Benchmarks the baseline once more after the candidates (SHARK tuner's
/// drift check), reusing an earlier recheck with the same key.
#[allow(clippy::too_many_arguments)]
fn recheck_baseline(
    config: &Config,
    plan: &Plan,
    plan_cfg: &ConfigurePlan,
    repo: &git2::Repository,
    slot: &mut Option<Slot>,
    journal: &mut Journal,
    results: &mut Results,
    progress: &Progress,
) -> Result<()> {
    let baseline = &plan.candidates[0];
    let key = sha256_hex(format!("{}-recheck", baseline.key).as_bytes());
    let dir = plan.run_dir.join("candidates").join("baseline-recheck");
    let file = dir.join("result.json");
    let done = journal.records().iter().any(|r| r.event == "recheck_done" && r.key.as_deref() == Some(key.as_str()));
    if done {
        if let Ok(m) = store::read_json::<Vec<Measurement>>(&file) {
            progress.log("baseline recheck: reusing the finished result");
            progress.advance(1 + u64::from(config.bench.repeats));
            results.recheck = Some(m);
            return Ok(());
        }
    }
    if slot.is_none() {
        let branch = branch_name(&plan.run, "baseline");
        git::set_branch(repo, &branch, plan.base)?;
        *slot = Some(build::ensure_slot(repo, config, 0, &branch)?);
    }
    let slot = slot.as_ref().unwrap();
    clear_attempt(&dir)?;
    progress.message("baseline recheck: building");
    let log = dir.join("build.log");
    let (built, _) = build_commit(config, plan_cfg, slot, plan.base, &log)?;
    progress.advance(1);
    if !built {
        progress.log(&format!("baseline recheck: the baseline no longer builds; see `{}`", log.display()));
        return Ok(());
    }
    progress.message("baseline recheck: benchmarking");
    let cache_dir = config.work_dir().join("cache").join(&plan.run).join("baseline-recheck");
    let timeout = Duration::from_secs(config.bench.timeout_s);
    let run = benchmark(
        config,
        slot,
        &plan.shapes,
        &dir,
        &cache_dir,
        &key,
        config.bench.repeats,
        timeout,
        &[],
        Some(progress),
    )?;
    store::write_json(&file, &run.measurements)?;
    let mut r = Record::new("recheck_done");
    r.key = Some(key);
    r.file = Some("candidates/baseline-recheck/result.json".into());
    journal.append(r)?;
    results.recheck = Some(run.measurements);
    Ok(())
}

/// Each candidate against the baseline, with "changed" meaning beyond the
/// measured noise (the analysis's comparison).
fn print_summary(results: &Results) {
    eprintln!("{:<12} {:>8} {:>16} {:>9} {:>10}", "candidate", "shapes", "geomean vs base", "improved", "regressed");
    for c in results.candidates.iter().filter(|c| c.limit.is_some()) {
        let status = match c.status {
            CandidateStatus::Ok => String::new(),
            ref other => format!("  ({other:?})"),
        };
        match crate::core::analysis::compare(results, &c.name) {
            Some(v) => eprintln!(
                "{:<12} {:>8} {:>15.3}x {:>9} {:>10}{status}",
                c.name, v.compared, v.geomean_speedup, v.improved, v.regressed
            ),
            None => eprintln!("{:<12} {:>8}{status}", c.name, 0),
        }
    }
}
