//! `cargo xtask validate [RUN]`: builds the recommended change beside the
//! baseline, benchmarks both in interleaved A/B rounds, runs the compiler's
//! own tests (updating their pinned results with `--update-tests`), checks
//! numerics, refits around shapes that regress, and writes the patches.
//!
//! The baseline lives in build slot 0 and the patched compiler in slot 1, so
//! both builds exist at once and every round can run each in a fresh
//! process; the statistics and the verdict are [`crate::core::validation`]'s,
//! the patch text [`crate::core::patchtext`]'s.

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::core::analysis::{self, Analysis, HeuristicPatch};
use crate::core::fit::Pin;
use crate::core::littest;
use crate::core::patchtext::{self, FileChange};
use crate::core::results::{Measurement, Results};
use crate::core::stats::Verdict;
use crate::core::validation::{self, Round, ShapeAb, TestOutcome, Validation};
use crate::core::workload::Shape;
use crate::infra::build::{self, ConfigurePlan, Slot};
use crate::infra::progress::Progress;
use crate::infra::{bench, git, proc, store};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The shapes of a sweep, rebuilt from results.json (what the benchmark runs).
fn shapes(results: &Results) -> Vec<Shape> {
    results
        .shapes
        .iter()
        .map(|s| Shape { line: s.line, command: s.command.clone(), op: s.op.clone(), features: s.features.clone() })
        .collect()
}

/// Builds `commit` in `slot` and fails with the log's tail when it does not
/// build.
fn build_or_fail(
    config: &Config,
    plan: &ConfigurePlan,
    slot: &Slot,
    commit: git2::Oid,
    log: &Path,
    what: &str,
) -> Result<()> {
    let _ = std::fs::remove_file(log);
    let (ok, seconds) = super::sweep::build_commit(config, plan, slot, commit, log)?;
    if !ok {
        bail!("the {what} build failed after {seconds:.1} s; see `{}`:\n{}", log.display(), proc::log_tail(log, 15));
    }
    eprintln!("{what}: built in {seconds:.1} s");
    Ok(())
}

/// Environment of commands run against a build (tests, lit RUN lines).
fn tool_env(config: &Config, slot: &Slot) -> Result<Vec<(String, std::ffi::OsString)>> {
    let cache = slot.dir.join("tool-cache");
    bench::environment(config, &slot.build, &slot.src, &cache, &config.bench.devices[0])
}

/// Runs the configured test command in the patched build.
fn run_tests(config: &Config, slot: &Slot, log: &Path) -> Result<(bool, String)> {
    let mut vars = BTreeMap::new();
    vars.insert("build_dir", slot.build.display().to_string());
    vars.insert("source_dir", slot.src.display().to_string());
    let tokens = shlex::split(&config.validate.test_command)
        .ok_or_else(|| anyhow::anyhow!("`validate.test_command` has unbalanced quotes"))?;
    let argv: Vec<String> = tokens.iter().map(|t| crate::config::expand(t, &vars)).collect::<Result<_>>()?;
    if argv.is_empty() {
        return Ok((true, String::new()));
    }
    let _ = std::fs::remove_file(log);
    let mut job =
        proc::Job::new(&argv[0], &slot.build, log, Duration::from_secs(config.build.timeout_s)).args(&argv[1..]);
    job.env = tool_env(config, slot)?;
    let outcome = proc::run(&job)?;
    Ok((outcome.success(), proc::log_tail(log, 30)))
}

/// The lit tests' pinned results as the patched build prints them: for each
/// test file, its text and the line changes that would make it pass.
fn lit_changes(config: &Config, slot: &Slot, files: &[String]) -> Result<Vec<(String, String, Vec<littest::Change>)>> {
    let env = tool_env(config, slot)?;
    let mut out = Vec::new();
    for rel in files {
        let path = slot.src.join(rel);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let mut changes = Vec::new();
        for run in littest::runs(&text) {
            let quoted = shlex::try_quote(&path.to_string_lossy()).map(|q| q.into_owned()).unwrap_or_default();
            let command = run.command.replace("%s", &quoted);
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(&command).current_dir(path.parent().unwrap_or(&slot.src));
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let output = cmd.output().with_context(|| format!("cannot run `{command}`"))?;
            if !output.status.success() {
                bail!(
                    "`{command}` (RUN line of `{rel}`) failed in the patched build: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            let attrs = littest::attributes(&String::from_utf8_lossy(&output.stdout));
            changes.extend(littest::update(&text, &run.prefixes, &attrs));
        }
        out.push((rel.clone(), text, changes));
    }
    Ok(out)
}

/// One A/B benchmark of a build, into per-shape single measurements.
#[allow(clippy::too_many_arguments)]
/// A finished A/B run on disk, reused by a rerun with the same key.
#[derive(serde::Serialize, serde::Deserialize)]
struct Measured {
    key: String,
    measurements: Vec<Measurement>,
}

/// One benchmark run of a build; `key` says what it measured (build commit,
/// round, side, benchmark settings), so an interrupted validation resumes
/// without redoing the runs it finished.
#[allow(clippy::too_many_arguments)]
fn measure(
    config: &Config,
    slot: &Slot,
    shapes: &[Shape],
    dir: &Path,
    cache: &Path,
    key: &str,
    extra: &[String],
    progress: &Progress,
) -> Result<Vec<Measurement>> {
    let done = dir.join("measured.json");
    if let Ok(m) = store::read_json::<Measured>(&done) {
        if m.key == key {
            progress.advance(1);
            return Ok(m.measurements);
        }
    }
    let timeout = Duration::from_secs(config.bench.timeout_s);
    let run = super::sweep::benchmark(config, slot, shapes, dir, cache, key, 1, timeout, extra, Some(progress))?;
    for why in &run.failed_repeats {
        progress.log(why);
    }
    if run.failed_repeats.is_empty() {
        store::write_json(&done, &Measured { key: key.to_string(), measurements: run.measurements.clone() })?;
    }
    Ok(run.measurements)
}

fn summarize_round(
    round: usize,
    pins: &BTreeMap<usize, Pin>,
    patches: &[HeuristicPatch],
    commit: git2::Oid,
    results: &Results,
    ab: &[ShapeAb],
    rounds: usize,
) -> Round {
    let (verdicts, failed) = validation::verdicts(ab);
    let summary = validation::summarize(&verdicts, failed.clone(), rounds, 0x5eed + round as u64);
    let per_heuristic = results
        .heuristics
        .iter()
        .map(|&h| {
            let v: Vec<_> = verdicts.iter().filter(|s| s.heuristic == h).cloned().collect();
            let f: Vec<usize> = failed.iter().copied().filter(|&i| results.shapes[i].features.heuristic == h).collect();
            (h, validation::summarize(&v, f, rounds, 0x5eed + round as u64))
        })
        .collect();
    Round {
        round,
        pins: pins.keys().copied().collect(),
        rules: patches.iter().map(|p| (p.heuristic, p.rule.clone())).collect(),
        patched_commit: commit.to_string(),
        summary,
        per_heuristic,
        shapes: verdicts,
    }
}

pub fn run(ctx: &Ctx, args: &ValidateArgs) -> Result<()> {
    let mut config = ctx.config.clone();
    if let Some(r) = args.rounds {
        config.validate.rounds = r;
    }
    if let Some(r) = args.refine_rounds {
        config.validate.refine_rounds = r;
    }
    if config.validate.rounds == 0 {
        bail!("`validate.rounds` is 0: at least one A/B round is needed");
    }
    // The validation builds also need what the compiler's tests run.
    for t in config.validate.targets.clone() {
        if !config.build.targets.contains(&t) {
            config.build.targets.push(t);
        }
    }
    let run_dir = super::analyze::find_run(ctx, args.run.as_deref())?;
    let _lock = store::lock_dir(&run_dir, "sweep or validation")?;
    let results: Results = store::read_json(&run_dir.join("results.json"))?;
    let source = super::analyze::tuned_source(ctx, &results)?;
    let repo = git::open(Path::new(&results.target.checkout)).or_else(|_| git::open(&config.target.iree))?;
    let base = git2::Oid::from_str(&results.target.commit)?;
    let shapes = shapes(&results);
    let cache = build::user_cache(&config)?;
    let plan0 = build::configure_plan(&config, cache.as_ref(), 0);
    let plan1 = build::configure_plan(&config, cache.as_ref(), 1);
    let vdir = run_dir.join("validation");
    let run_name = results.run.clone();
    // What every A/B run's key shares: the benchmark and its inputs.
    let bench_key = super::sweep::sha256_hex(
        serde_json::to_string(&serde_json::json!({
            "tool": super::sweep::TOOL_VERSION,
            "bench": config.bench,
            "commands": results.commands.sha256,
        }))?
        .as_bytes(),
    );

    // Baseline in slot 0 (the sweep's), patched in slot 1.
    let base_branch = super::sweep::branch_name(&run_name, "baseline");
    git::set_branch(&repo, &base_branch, base)?;
    let slot0 = build::ensure_slot(&repo, &config, 0, &base_branch)?;
    build_or_fail(&config, &plan0, &slot0, base, &vdir.join("baseline-build.log"), "baseline")?;

    let test_files: Vec<String> = config
        .validate
        .test_files
        .iter()
        .map(|g| git::glob(&repo, base, g))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();

    let mut pins: BTreeMap<usize, Pin> = BTreeMap::new();
    let mut history: Vec<Round> = Vec::new();
    let mut last_tests: Option<TestOutcome> = None;
    let mut numerics_failed = Vec::new();
    let mut numerics_checked = false;
    let mut final_patches: Vec<HeuristicPatch> = Vec::new();
    let mut final_tests: Vec<(String, String, Vec<littest::Change>)> = Vec::new();
    let mut stopped = String::new();
    let max_rounds = 1 + config.validate.refine_rounds as usize;
    let mut slot1: Option<Slot> = None;

    for round in 1..=max_rounds {
        let mut settings = super::analyze::settings(ctx);
        settings.pins = pins.clone();
        let (_, patches) = analysis::analyze(&results, &source, &settings);
        if patches.is_empty() {
            stopped = if round == 1 {
                "nothing to validate: the analysis recommends no change".into()
            } else {
                format!("round {round}: with the regressed shapes pinned, no change is recommended any more")
            };
            break;
        }
        let combined = analysis::combined_source(&source, &patches).map_err(|e| anyhow::anyhow!(e))?;
        let mut files = vec![(results.target.heuristic_file.clone(), combined.clone())];
        let message = format!("tune: {run_name} validation round {round}\n\nsplit-reduction-tuner validation build.\n");
        let mut commit = git::commit_files(&repo, base, &files, &message)?;
        let branch = super::sweep::branch_name(&run_name, &format!("validate-r{round}"));
        git::set_branch(&repo, &branch, commit)?;
        if slot1.is_none() {
            slot1 = Some(build::ensure_slot(&repo, &config, 1, &branch)?);
        }
        let slot = slot1.as_ref().unwrap();
        let rdir = vdir.join(format!("round-{round}"));
        build_or_fail(
            &config,
            &plan1,
            slot,
            commit,
            &rdir.join("patched-build.log"),
            &format!("round {round}: patched"),
        )?;

        // The compiler's own tests.
        let (passed, log) = run_tests(&config, slot, &rdir.join("tests.log"))?;
        let mut tests = TestOutcome {
            command: config.validate.test_command.clone(),
            passed,
            need_update: vec![],
            updated: vec![],
            log,
        };
        let lit = lit_changes(&config, slot, &test_files)?;
        tests.need_update = lit.iter().filter(|(_, _, c)| !c.is_empty()).map(|(f, _, _)| f.clone()).collect();
        if !passed && args.update_tests && !tests.need_update.is_empty() {
            for (rel, text, changes) in &lit {
                if !changes.is_empty() {
                    files.push((rel.clone(), littest::apply(text, changes, |_| true)));
                }
            }
            commit = git::commit_files(&repo, base, &files, &message)?;
            git::set_branch(&repo, &branch, commit)?;
            build_or_fail(
                &config,
                &plan1,
                slot,
                commit,
                &rdir.join("patched-build.log"),
                &format!("round {round}: patched with updated tests"),
            )?;
            let (passed, log) = run_tests(&config, slot, &rdir.join("tests-updated.log"))?;
            tests.passed = passed;
            tests.log = log;
            tests.updated = tests.need_update.clone();
            if passed {
                tests.need_update.clear();
            }
        }
        eprintln!(
            "round {round}: compiler tests {}{}",
            if tests.passed { "pass" } else { "fail" },
            if tests.need_update.is_empty() {
                String::new()
            } else {
                format!(" (pinned results change in {})", tests.need_update.join(", "))
            }
        );

        // A/B rounds, alternating which build goes first.
        let rounds = config.validate.rounds as usize;
        let progress = Progress::new(2 * rounds as u64 + 1, &format!("validate round {round}"));
        let mut ab: Vec<ShapeAb> = results
            .shapes
            .iter()
            .enumerate()
            .map(|(i, s)| ShapeAb {
                shape: i,
                command: s.command.clone(),
                heuristic: s.features.heuristic,
                baseline: vec![],
                patched: vec![],
                numerics_pass: None,
                control: false,
            })
            .collect();
        let cache_root = config.work_dir().join("cache").join(&run_name);
        // Shapes whose split the patch does not change calibrate drift.
        let unchanged = unchanged_shapes(&config, &results, &combined);
        for (a, u) in ab.iter_mut().zip(&unchanged) {
            a.control = *u;
        }
        for r in 0..rounds {
            let order: [(&Slot, &str); 2] = if r % 2 == 0 {
                [(&slot0, "baseline"), (slot, "patched")]
            } else {
                [(slot, "patched"), (&slot0, "baseline")]
            };
            for (s, side) in order {
                let dir = rdir.join(format!("ab-{r}-{side}"));
                let cache = cache_root.join(format!("validate-{side}"));
                let built = if side == "baseline" { base } else { commit };
                let key = super::sweep::sha256_hex(format!("{bench_key}|{built}|{r}|{side}").as_bytes());
                let m = measure(&config, s, &shapes, &dir, &cache, &key, &[], &progress)?;
                for (a, m) in ab.iter_mut().zip(m) {
                    let v = m.samples.first().copied();
                    if side == "baseline" {
                        a.baseline.push(v);
                    } else {
                        a.patched.push(v);
                    }
                }
            }
        }
        // Numerics on the patched build, where the benchmark verifies them.
        if !config.validate.numerics_args.is_empty() {
            let dir = rdir.join("numerics");
            let m = measure(
                &config,
                slot,
                &shapes,
                &dir,
                &cache_root.join("validate-numerics"),
                &super::sweep::sha256_hex(
                    format!("{bench_key}|{commit}|numerics|{:?}", config.validate.numerics_args).as_bytes(),
                ),
                &config.validate.numerics_args,
                &progress,
            )?;
            numerics_checked = m.iter().any(|x| x.numerics_pass.is_some());
            numerics_failed =
                m.iter().enumerate().filter(|(_, x)| x.numerics_pass == Some(false)).map(|(i, _)| i).collect();
            for (a, x) in ab.iter_mut().zip(&m) {
                a.numerics_pass = x.numerics_pass;
            }
        }
        progress.finish();
        let summary = summarize_round(round, &pins, &patches, commit, &results, &ab, rounds);
        let regressed: Vec<usize> =
            summary.shapes.iter().filter(|s| s.verdict == Verdict::Regressed).map(|s| s.shape).collect();
        eprintln!(
            "round {round}: geomean speedup {:.3}x (95% CI {:.3}-{:.3}), {} improved, {} neutral, {} regressed",
            summary.summary.geomean,
            summary.summary.geomean_ci.0,
            summary.summary.geomean_ci.1,
            summary.summary.improved,
            summary.summary.neutral,
            summary.summary.regressed
        );
        history.push(summary);
        last_tests = Some(tests);
        final_patches = patches;
        final_tests = lit;
        if regressed.is_empty() {
            stopped = format!("round {round} regressed no shape");
            break;
        }
        let new: Vec<usize> = regressed.iter().copied().filter(|s| !pins.contains_key(s)).collect();
        if new.is_empty() {
            stopped = format!(
                "stopped improving: round {round} regressed only shapes already pinned to their baseline split"
            );
            break;
        }
        if round == max_rounds {
            stopped = format!(
                "refinement rounds exhausted ({} of them) with {} shape(s) still regressed",
                config.validate.refine_rounds,
                regressed.len()
            );
            break;
        }
        eprintln!("round {round}: refitting with {} regressed shape(s) pinned to their baseline split", new.len());
        pins.extend(new.into_iter().map(|s| (s, Pin::Baseline)));
    }

    let Some(last) = history.last() else {
        eprintln!("{stopped}");
        return Ok(());
    };
    let (ready, reasons) = validation::verdict(last, last_tests.as_ref(), &numerics_failed);
    let fingerprint = super::analyze::patch_fingerprint(&final_patches);
    let mut v = Validation {
        patch_sha256: fingerprint,
        device: results.bench.device.clone(),
        target_commit: results.target.commit.clone(),
        commands_sha256: results.commands.sha256.clone(),
        rounds: history.clone(),
        tests: last_tests.clone(),
        numerics_failed: numerics_failed.clone(),
        numerics_checked,
        ready,
        reasons: reasons.clone(),
        stopped: stopped.clone(),
        markdown: String::new(),
    };
    v.markdown = validation::markdown(&v);
    store::write_json(&vdir.join("validation.json"), &v)?;

    // The report of the validated rule: the analysis with the final pins.
    let mut settings = super::analyze::settings(ctx);
    settings.pins = pins.clone();
    let (mut a, _) = analysis::analyze(&results, &source, &settings);
    a.validation = Some(serde_json::to_value(&v)?);
    super::analyze::render(&run_dir, &results, &a)?;

    let updated_tests = last_tests.as_ref().map(|t| !t.updated.is_empty()).unwrap_or(false);
    let written =
        write_patches(&config, &repo, &results, &source, &a, &final_patches, &final_tests, updated_tests, &v, last)?;

    eprintln!("{}", if ready { "verdict: ready".to_string() } else { "verdict: not ready".to_string() });
    for r in &reasons {
        eprintln!("  - {r}");
    }
    eprintln!("refinement: {stopped}");
    for p in &written {
        eprintln!("patch: {}", p.display());
    }
    eprintln!("report: {}", run_dir.join("report.md").display());
    Ok(())
}

/// Per shape: whether the patched code decides the same split as the
/// baseline (read from both versions of the file, no build needed).
fn unchanged_shapes(config: &Config, results: &Results, patched: &str) -> Vec<bool> {
    let file = crate::core::cpp::CppFile::parse(patched);
    let models: BTreeMap<crate::core::workload::Heuristic, crate::core::decide::Model> = results
        .heuristics
        .iter()
        .filter_map(|&h| {
            Some((h, crate::core::decide::Model::from_site(&file.locate(h, config.heuristics.names(h)).ok()?)))
        })
        .collect();
    results
        .shapes
        .iter()
        .map(|s| {
            let Some(base) = s.decisions.get("baseline").filter(|d| d.unknown.is_none()) else { return false };
            let Some(model) = models.get(&s.features.heuristic) else { return true };
            let new = crate::core::decide::modelled(&s.features, model, config.heuristics.low_parallelism);
            new.unknown.is_none() && new.tile_sizes == base.tile_sizes && new.limit.is_some() == base.limit.is_some()
        })
        .collect()
}

/// Writes `patches/<run>-<heuristic>.patch` per changed heuristic and the PR
/// description `patches/<run>.md`.
#[allow(clippy::too_many_arguments)]
fn write_patches(
    config: &Config,
    repo: &git2::Repository,
    results: &Results,
    source: &str,
    a: &Analysis,
    patches: &[HeuristicPatch],
    tests: &[(String, String, Vec<littest::Change>)],
    with_tests: bool,
    v: &Validation,
    last: &Round,
) -> Result<Vec<PathBuf>> {
    let (name, email) = git::identity(repo);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let limits: Vec<String> = results.candidates.iter().filter_map(|c| c.limit).map(|l| l.to_string()).collect();
    let mut written = Vec::new();
    for p in patches {
        let h = p.heuristic;
        let ha = a.heuristics.iter().find(|x| x.heuristic == h);
        let summary = last
            .per_heuristic
            .iter()
            .find(|(x, _)| *x == h)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| last.summary.clone());
        let strategy = ha.and_then(|x| x.strategies.iter().find(|e| e.strategy == x.recommended));
        let mut changes = vec![FileChange {
            path: results.target.heuristic_file.clone(),
            old: source.to_string(),
            new: p.source.clone(),
        }];
        if with_tests {
            for (rel, text, c) in tests {
                let mine = littest::apply(text, c, |f| littest::heuristic_of(text, f) == h);
                if &mine != text {
                    changes.push(FileChange { path: rel.clone(), old: text.clone(), new: mine });
                }
            }
        }
        let mut body = String::new();
        body.push_str(&format!(
            "Retune the {} split-reduction heuristic ({}) from runtimes measured\non {} shapes. New rule:\n\n{}\n",
            h,
            ha.map(|x| x.function.as_str()).unwrap_or(""),
            summary.shapes,
            p.rule.trim_end()
        ));
        if let Some(e) = strategy {
            body.push_str(&format!(
                "\nFitted by {} over a sweep of limits {} ({}-fold cross-validated\ngeomean speedup {:.3}x; the original toolkit's method: {:.3}x).\n",
                e.name,
                limits.join(", "),
                a.folds,
                e.cv_geomean,
                ha.map(|x| x.vs_original_toolkit).filter(|r| *r > 0.0).map(|r| e.cv_geomean / r).unwrap_or(1.0)
            ));
        }
        body.push_str(&format!(
            "\nValidated against the baseline in {} interleaved A/B rounds (fresh\nprocesses, per-build kernel caches) on device {} at {}, commands\nsha256 {}:\n\n{}",
            summary.rounds,
            results.bench.device,
            &results.target.commit[..results.target.commit.len().min(12)],
            &results.commands.sha256[..results.commands.sha256.len().min(16)],
            validation::table(&summary)
        ));
        body.push_str(&format!("\nValidation verdict: {}\n", if v.ready { "ready" } else { "not ready" }));
        for r in &v.reasons {
            body.push_str(&format!("- {r}\n"));
        }
        if let Some(t) = &v.tests {
            body.push_str(&format!(
                "Compiler tests (`{}`): {}{}\n",
                t.command,
                if t.passed { "pass" } else { "fail" },
                if with_tests && changes.len() > 1 { "; pinned results updated in this patch" } else { "" }
            ));
        }
        body.push_str(&format!(
            "Numerics: {}\n",
            if !v.numerics_checked {
                "not checked"
            } else if v.numerics_failed.is_empty() {
                "pass"
            } else {
                "FAIL for some shapes"
            }
        ));
        body.push_str(&format!(
            "\nMeasured by split-reduction-tuner {} (run `{}`).\n",
            super::sweep::TOOL_VERSION,
            results.run
        ));
        let meta = patchtext::Meta {
            author_name: name.clone(),
            author_email: email.clone(),
            date: now,
            subject: format!("[DispatchCreation] Retune {h} split-reduction limits from measurements"),
            body,
            base_commit: results.target.commit.clone(),
            tool_version: super::sweep::TOOL_VERSION.to_string(),
        };
        let text = patchtext::format_patch(&meta, &changes);
        let path = config.patches_dir.join(format!("{}-{h}.patch", results.run));
        store::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    // The PR description.
    let mut md = format!("# Retune split-reduction heuristics (`{}`)\n\n", results.run);
    md.push_str("## Summary\n\n");
    for p in patches {
        md.push_str(&format!("### {}\n\n{}\n", p.heuristic, p.rule));
    }
    md.push_str(&format!(
        "## Method\n\nA sweep of `limitParallelLoops` values (each a build of `{}` with the limit pinned and the threshold early returns disabled) over {} shapes from `{}`, benchmarked with iree-boo-driver; rules fitted by exact dynamic programming on `outputSize` with `reductionSize` buckets, chosen by {}-fold cross-validation, never regressing a measured shape beyond noise.\n\n",
        results.target.heuristic_file, results.shapes.len(), results.commands.path, a.folds
    ));
    md.push_str(&format!("## Validation\n\n{}\n", v.markdown));
    md.push_str(&format!(
        "## Reproduce\n\n```sh\ncargo xtask sweep {} --limits {} --name {}\ncargo xtask analyze {}\ncargo xtask validate {}\n```\n",
        results.commands.path,
        limits.join(","),
        results.run,
        results.run,
        results.run
    ));
    let path = config.patches_dir.join(format!("{}.md", results.run));
    store::write_atomic(&path, md.as_bytes())?;
    written.push(path);
    Ok(written)
}
