//! `cargo xtask validate [RUN]`: builds the recommended change beside the
//! baseline, benchmarks both in interleaved A/B rounds, runs the compiler's
//! own tests (updating their pinned results with `--update-tests`), checks
//! numerics, refits around shapes that regress, and writes the patches.
//!
//! Both sides of the A/B are kept builds ([`Station::keep`]), so one build
//! slot serves the whole validation: the baseline is the sweep's kept build
//! (the one that measured its baseline; in a probe sweep the probe build,
//! which decides as the code does with its variables unset) or, when there
//! is none, the baseline built once in the slot and kept; each round builds
//! only the patched compiler, keeps it and runs the compiler's tests in the
//! slot, and every A/B process runs a kept build. Each refinement round is one pass of [`Validator::round`]; the
//! statistics and the verdict are [`crate::core::validation`]'s, the texts
//! [`crate::core::report`]'s.

use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::core::analysis::{self, HeuristicPatch};
use crate::core::decide::pass::{self, Pass};
use crate::core::digest::sha256_hex;
use crate::core::fit::{Pin, Pins};
use crate::core::littest;
use crate::core::results::{Measurement, Results, SCHEMA};
use crate::core::stats::Verdict;
use crate::core::validation::{self, Round, ShapeAb, TestOutcome, Validation};
use crate::core::workload::{Heuristic, Shape};
use crate::core::TOOL_VERSION;
use crate::infra::progress::Progress;
use crate::infra::{git, store};
use crate::ops::analysis as ops_analysis;
use crate::ops::candidates::branch_name;
use crate::ops::compiler_tests::{lit_changes, run_tests};
use crate::ops::context::Ctx;
use crate::ops::inputs::{self, Tuned};
use crate::ops::patches::{self, Evidence, LitTest};
use crate::ops::rundir::{RunDir, RunJournal};
use crate::ops::station::{self, BenchJob, Station};
use crate::ops::targets;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn run(ctx: &Ctx, args: &ValidateArgs) -> Result<()> {
    let first = RunDir::find(&ctx.config, args.run.as_deref())?;
    let runs = targets::runs_of(&ctx.config, &first)?;
    // A later target's change is validated on the earlier targets' change,
    // as its patches will apply: its baseline is the code they leave.
    let mut stack = targets::Stack::default();
    for t in &runs {
        let run = &t.run;
        let _lock = run.lock("sweep or validation")?;
        let results = run.read_results()?;
        // The benchmark must run on a GPU of the kind the run measured.
        if let Some(measured) = targets::target_of(&results).filter(|m| !ctx.config.targets().contains(m)) {
            bail!(
                "run `{}` measured {} targets but the configuration benchmarks {}: validate it with the \
                 configuration it was swept with (`heuristics.targets`, `heuristics.low_parallelism`, \
                 `[bench.targets.*]`)",
                run.name,
                measured.name(),
                ctx.config.targets().iter().map(|t| t.name()).collect::<Vec<_>>().join(" and ")
            );
        }
        let config = settings(&targets::config_for(&ctx.config, &results), args)?;
        if runs.len() > 1 {
            eprintln!("target {} (run `{}`)", t.target.name(), run.name);
            patches::remove_run(&config.patches_dir, &run.name)?;
        }
        stack.place(&config, run)?;
        let mut v = Validator::open(&config, run, &results, args.update_tests)?;
        let max_rounds = 1 + config.validate.refine_rounds as usize;
        let mut stopped = String::new();
        for round in 1..=max_rounds {
            let (pass, next) = v.round(round, round == max_rounds)?;
            stopped = pass;
            match next {
                Some(new) => v.pins.extend(new.into_iter().map(|s| (s, Pin::Baseline))),
                None => break,
            }
        }
        let (commit, series_base, analysis) = v.conclude(&stopped)?;
        if runs.len() > 1 {
            stack.push(run, analysis.as_ref(), commit, series_base)?;
        }
    }
    if runs.len() > 1 {
        let list: Vec<(bool, String)> = runs.iter().map(|t| (t.target.low(), t.run.name.clone())).collect();
        let path = patches::write_series(&ctx.config.patches_dir, &runs[0].run.name, &list)?;
        eprintln!("PR description of the series: {}", path.display());
    }
    Ok(())
}

/// The baseline validate benchmarks, kept: a kept build of `base` (the
/// sweep's, or a validation's: a later target's base is the earlier one's
/// validated commit), else the sweep's probe build on `base` when it was
/// kept (its variables stay unset), else `base` built in the slot and kept.
/// Returns its commit and where it is kept.
fn baseline_build(
    config: &Config,
    results: &Results,
    repo: &git2::Repository,
    base: git2::Oid,
    station: &Station,
    dir: &Path,
) -> Result<(git2::Oid, PathBuf)> {
    let probe = results
        .candidates
        .iter()
        .find(|c| c.limit.is_none())
        .and_then(|c| git2::Oid::from_str(&c.commit).ok())
        .filter(|&c| repo.find_commit(c).is_ok_and(|k| k.parent_ids().eq([base])));
    for commit in std::iter::once(base).chain(probe) {
        let kept = station::kept_dir(config, commit)?;
        if kept.is_dir() {
            let short = git::short(commit);
            if commit == base {
                eprintln!("baseline: the kept build of {short} (no build)");
            } else {
                eprintln!("baseline: the sweep's kept probe build ({short}), its variables unset (no build)");
            }
            return Ok((commit, kept));
        }
    }
    station.build_or_fail(base, &dir.join("baseline-build.log"), "baseline")?;
    Ok((base, station.keep(base, &dir.join("baseline-keep.log"))?))
}

/// The configuration with the flags applied; validation builds also need
/// what the compiler's tests run.
fn settings(config: &Config, args: &ValidateArgs) -> Result<Config> {
    let mut config = config.clone();
    if let Some(r) = args.rounds {
        config.validate.rounds = r;
    }
    if let Some(r) = args.refine_rounds {
        config.validate.refine_rounds = r;
    }
    if config.validate.rounds == 0 {
        bail!("`validate.rounds` is 0: at least one A/B round is needed");
    }
    for t in config.validate.targets.clone() {
        if !config.build.targets.contains(&t) {
            config.build.targets.push(t);
        }
    }
    Ok(config)
}

/// The last round's patched build and what it was checked with.
struct Checked {
    patches: Vec<HeuristicPatch>,
    tests: TestOutcome,
    lit: Vec<LitTest>,
}

/// A validation under way.
struct Validator<'a> {
    config: &'a Config,
    run: &'a RunDir,
    results: &'a Results,
    update_tests: bool,
    /// The tuned revision's heuristic file and lit tests.
    tuned: Tuned,
    repo: git2::Repository,
    base: git2::Oid,
    shapes: Vec<Shape>,
    /// What every A/B run's key shares: the benchmark and its inputs.
    bench_key: String,
    station: Station<'a>,
    /// The kept baseline build: its commit (the probe's, when the sweep's
    /// probe build serves) and where it is kept.
    baseline: (git2::Oid, PathBuf),
    /// The kept build of the round's patched commit.
    patched: Option<(git2::Oid, PathBuf)>,
    test_files: Vec<String>,
    journal: RunJournal,
    pins: Pins,
    history: Vec<Round>,
    last: Option<Checked>,
    numerics_failed: Vec<usize>,
    numerics_checked: bool,
}

impl<'a> Validator<'a> {
    /// Opens the slot and finds (or builds and keeps) the baseline.
    fn open(config: &'a Config, run: &'a RunDir, results: &'a Results, update_tests: bool) -> Result<Validator<'a>> {
        let tuned = inputs::tuned(config, run, results)?;
        let repo = git::open(Path::new(&results.target.checkout)).or_else(|_| git::open(&config.target.iree))?;
        // The patches apply where the rule is written (`analyze --rev`).
        let base = git2::Oid::from_str(&tuned.base)?;
        let bench_key = sha256_hex(
            serde_json::to_string(&serde_json::json!({
                "tool": TOOL_VERSION,
                "bench": config.bench,
                "commands": results.commands.sha256,
            }))?
            .as_bytes(),
        );
        let base_branch = branch_name(&results.run, "baseline");
        git::set_branch(&repo, &base_branch, base)?;
        let station = Station::open(config, &repo, &results.run, &base_branch)?;
        let baseline = baseline_build(config, results, &repo, base, &station, &run.validation_dir())?;
        let test_files = tuned.lit.iter().map(|(path, _)| path.clone()).collect();
        Ok(Validator {
            config,
            run,
            results,
            update_tests,
            tuned,
            shapes: inputs::shapes(results),
            bench_key,
            station,
            baseline,
            patched: None,
            test_files,
            journal: run.journal()?,
            pins: Pins::new(),
            history: Vec::new(),
            last: None,
            numerics_failed: Vec::new(),
            numerics_checked: false,
            repo,
            base,
        })
    }

    /// One refinement round: refit with the pins, build, test, A/B. Returns
    /// why refinement stops here (or the round's outcome) and, when it goes
    /// on, the newly regressed shapes to pin.
    fn round(&mut self, round: usize, last_round: bool) -> Result<(String, Option<Vec<usize>>)> {
        let (_, patches) = ops_analysis::analyze(self.config, self.results, &self.tuned, &self.pins);
        if patches.is_empty() {
            let why = if round == 1 {
                "nothing to validate: the analysis recommends no change".to_string()
            } else {
                format!("round {round}: with the regressed shapes pinned, no change is recommended any more")
            };
            return Ok((why, None));
        }
        let rdir = self.run.validation_dir().join(format!("round-{round}"));
        let (commit, combined, tests, lit) = self.build_and_test(round, &rdir, &patches)?;
        let rounds = self.config.validate.rounds as usize;
        let progress = Progress::new(2 * rounds as u64 + 1, &format!("validate round {round}"));
        let mut ab = self.ab_rounds(&rdir, commit, &combined, &progress)?;
        self.numerics(&rdir, commit, &mut ab, &progress)?;
        progress.finish();
        let summary = summarize_round(
            round,
            &self.pins,
            &patches,
            commit,
            self.results,
            &ab,
            (rounds, &self.config.bench.devices),
        );
        let regressed: Vec<usize> =
            summary.shapes.iter().filter(|s| s.verdict == Verdict::Regressed).map(|s| s.shape).collect();
        let s = &summary.summary;
        eprintln!(
            "round {round}: geomean speedup {:.3}x (95% CI {:.3}-{:.3}), {} improved, {} neutral, {} regressed",
            s.geomean, s.geomean_ci.0, s.geomean_ci.1, s.improved, s.neutral, s.regressed
        );
        self.history.push(summary);
        self.last = Some(Checked { patches, tests, lit });
        if regressed.is_empty() {
            return Ok((format!("round {round} regressed no shape"), None));
        }
        let new: Vec<usize> = regressed.iter().copied().filter(|s| !self.pins.contains_key(s)).collect();
        if new.is_empty() {
            let why = format!(
                "stopped improving: round {round} regressed only shapes already pinned to their baseline split"
            );
            return Ok((why, None));
        }
        if last_round {
            let why = format!(
                "refinement rounds exhausted ({} of them) with {} shape(s) still regressed",
                self.config.validate.refine_rounds,
                regressed.len()
            );
            return Ok((why, None));
        }
        eprintln!("round {round}: refitting with {} regressed shape(s) pinned to their baseline split", new.len());
        Ok((String::new(), Some(new)))
    }

    /// Commits and builds the round's change, runs the compiler's tests,
    /// and with `--update-tests` rewrites the lit tests' pinned results.
    fn build_and_test(
        &mut self,
        round: usize,
        rdir: &Path,
        patches: &[HeuristicPatch],
    ) -> Result<(git2::Oid, String, TestOutcome, Vec<LitTest>)> {
        let combined = analysis::combined_source(self.tuned.emit_source(), patches).map_err(|e| anyhow::anyhow!(e))?;
        let mut files = vec![(self.results.target.heuristic_file.clone(), combined.clone())];
        let message =
            format!("tune: {} validation round {round}\n\nsplit-reduction-tuner validation build.\n", self.results.run);
        let mut commit = git::commit_files(&self.repo, self.base, &files, &message)?;
        let branch = branch_name(&self.results.run, &format!("validate-r{round}"));
        git::set_branch(&self.repo, &branch, commit)?;
        let log = rdir.join("patched-build.log");
        let station = &self.station;
        station.build_or_fail(commit, &log, &format!("round {round}: patched"))?;
        let run = run_tests(self.config, station, &rdir.join("tests.log"))?;
        let passed = run.passed;
        let mut tests = TestOutcome {
            command: run.command,
            portable: run.portable,
            passed,
            need_update: vec![],
            updated: vec![],
            unreadable: vec![],
            log: run.log_tail,
        };
        let lit = lit_changes(self.config, station, &self.test_files)?;
        tests.unreadable = lit
            .iter()
            .filter_map(|t| Some(format!("cannot update `{}`: {}", t.path, t.unreadable.as_ref()?)))
            .collect();
        tests.need_update = lit.iter().filter(|t| !t.changes.is_empty()).map(|t| t.path.clone()).collect();
        if !passed && self.update_tests && !tests.need_update.is_empty() {
            for t in lit.iter().filter(|t| !t.changes.is_empty()) {
                files.push((t.path.clone(), littest::apply(&t.text, &t.changes, |_| true)));
            }
            commit = git::commit_files(&self.repo, self.base, &files, &message)?;
            git::set_branch(&self.repo, &branch, commit)?;
            let what = format!("round {round}: patched with updated tests");
            station.build_or_fail(commit, &log, &what)?;
            let run = run_tests(self.config, station, &rdir.join("tests-updated.log"))?;
            tests.passed = run.passed;
            tests.log = run.log_tail;
            tests.updated = tests.need_update.clone();
            if tests.passed {
                tests.need_update.clear();
            }
        }
        self.patched = Some((commit, self.station.keep(commit, &rdir.join("keep.log"))?));
        eprintln!(
            "round {round}: compiler tests {}{}",
            if tests.passed { "pass" } else { "fail" },
            if tests.need_update.is_empty() {
                String::new()
            } else {
                format!(" (pinned results change in {})", tests.need_update.join(", "))
            }
        );
        Ok((commit, combined, tests, lit))
    }

    /// The A/B rounds, alternating which build goes first.
    fn ab_rounds(&mut self, rdir: &Path, commit: git2::Oid, combined: &str, p: &Progress) -> Result<Vec<ShapeAb>> {
        let rounds = self.config.validate.rounds as usize;
        // Shapes whose split the patch does not change calibrate drift.
        let unchanged = unchanged_shapes(self.config, self.results, combined);
        let mut ab: Vec<ShapeAb> = self
            .results
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
                control: unchanged[i],
            })
            .collect();
        for r in 0..rounds {
            let sides = if r % 2 == 0 { ["baseline", "patched"] } else { ["patched", "baseline"] };
            for side in sides {
                let built = if side == "baseline" { self.baseline.0 } else { commit };
                let key = sha256_hex(format!("{}|{built}|{r}|{side}", self.bench_key).as_bytes());
                // Both sides of a round put each shape on the same device, the
                // next device each round: device and build are not confounded.
                let m = self.measure(&rdir.join(format!("ab-{r}-{side}")), (side, built), &key, (&[], r), p)?;
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
        Ok(ab)
    }

    /// Numerics on the patched build, where the benchmark verifies them.
    fn numerics(&mut self, rdir: &Path, commit: git2::Oid, ab: &mut [ShapeAb], p: &Progress) -> Result<()> {
        let args = self.config.validate.numerics_args.clone();
        if args.is_empty() {
            return Ok(());
        }
        let key = sha256_hex(format!("{}|{commit}|numerics|{:?}", self.bench_key, args).as_bytes());
        let m = self.measure(&rdir.join("numerics"), ("numerics", commit), &key, (&args, 0), p)?;
        self.numerics_checked = m.iter().any(|x| x.numerics_pass.is_some());
        self.numerics_failed =
            m.iter().enumerate().filter(|(_, x)| x.numerics_pass == Some(false)).map(|(i, _)| i).collect();
        for (a, x) in ab.iter_mut().zip(&m) {
            a.numerics_pass = x.numerics_pass;
        }
        Ok(())
    }

    /// One benchmark run of a build into `dir`; `key` says what it measured
    /// (build commit, round, side, benchmark settings), so an interrupted
    /// validation resumes without redoing the runs it finished.
    fn measure(
        &mut self,
        dir: &Path,
        (side, build_of): (&str, git2::Oid),
        key: &str,
        (extra, offset): (&[String], usize),
        p: &Progress,
    ) -> Result<Vec<Measurement>> {
        let step = self.run.relative(dir);
        let file = dir.join("measured.json");
        if let Some(m) = self.journal.reuse::<Vec<Measurement>>(self.run, &step, key) {
            p.advance(1);
            return Ok(m);
        }
        let from = match (side, &self.patched) {
            ("baseline", _) => self.baseline.1.as_path(),
            (_, Some((c, kept))) if *c == build_of => kept.as_path(),
            _ => bail!("the patched build of {} was not kept before its benchmark", git::short(build_of)),
        };
        let cache = if side == "numerics" { "validate-numerics".to_string() } else { format!("validate-{side}") };
        let job = BenchJob {
            build_of,
            shapes: &self.shapes,
            dir,
            cache_dir: self.config.work_dir().join("cache").join(&self.results.run).join(cache),
            seed: key,
            repeats: 1,
            timeout: Duration::from_secs(self.config.bench.timeout_s),
            extra_args: extra,
            device_offset: offset,
            env: &[],
            decision_log: false,
            config: None,
            from: Some(from),
            // Not anchored: validation pairs both builds within each round,
            // so a process's drift is noise there, not one build's bias.
            anchors: None,
            one_per_shape: false,
        };
        let run = self.station.bench(&job, Some(p))?;
        for why in &run.failed_repeats {
            p.log(why);
        }
        if run.failed_repeats.is_empty() {
            self.journal.finish(self.run, &step, key, &file, &run.measurements)?;
        }
        Ok(run.measurements)
    }

    /// The verdict, the report of the validated rule, and the patches.
    /// Returns where a later target's change is validated (the validated
    /// commit, or the baseline when nothing changes) and the series' base.
    fn conclude(self, stopped: &str) -> Result<(git2::Oid, String, Option<analysis::Analysis>)> {
        let series_base = self.tuned.series_base.clone();
        let (Some(last), Some(checked)) = (self.history.last(), self.last.as_ref()) else {
            eprintln!("{stopped}");
            return Ok((self.base, series_base, None));
        };
        // The report of the validated rule: the analysis with the final pins.
        let (mut a, _) = ops_analysis::analyze(self.config, self.results, &self.tuned, &self.pins);
        let audits: Vec<_> = a.heuristics.iter().filter_map(|h| Some((h.heuristic, h.audit.as_ref()?))).collect();
        let (ready, reasons) = validation::verdict(last, Some(&checked.tests), &self.numerics_failed, &audits);
        let stabilities: Vec<_> =
            a.heuristics.iter().filter_map(|h| Some((h.heuristic, h.stability.as_ref()?))).collect();
        let notes = validation::stability_notes(&stabilities);
        let v = Validation {
            schema: SCHEMA,
            tool_version: TOOL_VERSION.to_string(),
            patch_sha256: ops_analysis::patch_fingerprint(&checked.patches),
            device: self.results.bench.device.clone(),
            target_commit: self.results.target.commit.clone(),
            baseline_build: self.baseline.0.to_string(),
            commands_sha256: self.results.commands.sha256.clone(),
            rounds: self.history.clone(),
            tests: Some(checked.tests.clone()),
            numerics_failed: self.numerics_failed.clone(),
            numerics_checked: self.numerics_checked,
            ready,
            reasons: reasons.clone(),
            notes: notes.clone(),
            stopped: stopped.to_string(),
        };
        store::write_json(&self.run.validation_file(), &v)?;
        a.validation = Some(v.clone());
        ops_analysis::render(self.run, self.results, &a)?;
        let evidence = Evidence {
            results: self.results,
            source: self.tuned.emit_source(),
            base_commit: &self.tuned.series_base,
            analysis: &a,
            validation: &v,
            last,
            tests: &checked.lit,
            with_tests: !checked.tests.updated.is_empty(),
        };
        let written = patches::write(&self.config.patches_dir, &self.repo, &evidence, &checked.patches)?;
        eprintln!("verdict: {}", if ready { "ready" } else { "not ready" });
        for r in &reasons {
            eprintln!("  - {r}");
        }
        for (_, n) in &notes {
            eprintln!("  note: {n}");
        }
        eprintln!("refinement: {stopped}");
        for p in &written {
            eprintln!("patch: {}", p.display());
        }
        eprintln!("report: {}", self.run.report_md().display());
        Ok((git2::Oid::from_str(&last.patched_commit)?, series_base, Some(a)))
    }
}

/// The round's verdicts and summaries, overall and per heuristic.
fn summarize_round(
    round: usize,
    pins: &Pins,
    patches: &[HeuristicPatch],
    commit: git2::Oid,
    results: &Results,
    ab: &[ShapeAb],
    (rounds, devices): (usize, &[String]),
) -> Round {
    let seed = 0x5eed + round as u64;
    let (verdicts, failed) = validation::verdicts(ab);
    let summary = validation::summarize(&verdicts, failed.clone(), rounds, seed);
    let per_heuristic: Vec<(Heuristic, _)> = results
        .heuristics
        .iter()
        .map(|&h| {
            let v: Vec<_> = verdicts.iter().filter(|s| s.heuristic == h).cloned().collect();
            let f: Vec<usize> = failed.iter().copied().filter(|&i| results.shapes[i].features.heuristic == h).collect();
            (h, validation::summarize(&v, f, rounds, seed))
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
        devices: validation::device_effects(ab, devices),
    }
}

/// Per shape: whether the patched code decides the same split as the
/// baseline (read from both versions of the file, no build needed).
fn unchanged_shapes(config: &Config, results: &Results, patched: &str) -> Vec<bool> {
    let names = |h: Heuristic| config.heuristics.names(h);
    let pass = Pass::from_source(patched, names(Heuristic::Conv), names(Heuristic::Matmul));
    results
        .shapes
        .iter()
        .map(|s| {
            let Some(base) = s.decisions.get("baseline").filter(|d| d.unknown.is_none()) else { return false };
            let new = pass::predict_op(&s.op, &pass, config.heuristics.low_parallelism).decision;
            new.unknown.is_none() && new.same_split(base)
        })
        .collect()
}
