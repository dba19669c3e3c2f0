//! A sweep's plan, decided before anything is built: the shapes, the
//! heuristic file at the tuned revision, and per candidate (the baseline and
//! one per limit) the patched source, its diff, its commit message and its
//! key. The key covers everything that changes what the benchmark would
//! measure, so a rerun reuses exactly the candidates whose inputs did not
//! change. Also the results skeleton with the predicted decisions.

use super::context::{cwd_absolute, workspace, Ctx};
use super::inputs::{self, locate_sites, CommandsFile};
use super::rundir::{default_run_name, sanitize_name, RunDir};
use crate::config::Config;
use crate::core::cpp::{line_of, patch, LadderStyle, Site};
use crate::core::decide::pass::{self, Pass};
use crate::core::difftext;
use crate::core::digest::sha256_hex;
use crate::core::results::{
    candidate_name, BenchInfo, CandidateInfo, CandidateStatus, CommandsFileInfo, CommandsInfo, Decision, Results,
    ShapeResult, TargetInfo, SCHEMA,
};
use crate::core::schedule::Schedule;
use crate::core::workload::{BadLine, Heuristic, Shape};
use crate::core::TOOL_VERSION;
use crate::infra::build::ConfigurePlan;
use crate::infra::git;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One planned candidate.
pub(crate) struct Candidate {
    pub(crate) name: String,
    pub(crate) limit: Option<i64>,
    /// The heuristic file as this candidate decides: what its predictions,
    /// diff and message describe.
    pub(crate) source: String,
    /// The heuristic file the candidate's compiler is built from: `source`,
    /// or with the probe strategy the probe patch, shared by every candidate.
    pub(crate) build_source: String,
    /// Variables its benchmark runs with (the probe's limit and switch).
    pub(crate) env: Vec<(String, String)>,
    /// The heuristics whose decisions its build logs (the probe's; none
    /// for a rebuilt candidate).
    pub(crate) logged: Vec<Heuristic>,
    pub(crate) diff: String,
    pub(crate) message: String,
    pub(crate) key: String,
    /// The candidate's code, ready to predict what it decides.
    pub(crate) pass: Pass,
}

/// What the user asked to sweep.
pub(crate) struct Request<'a> {
    /// Commands files given on the command line (none: `sweep.commands`).
    pub(crate) commands: &'a [PathBuf],
    pub(crate) limits: Vec<i64>,
    pub(crate) name: Option<&'a str>,
    pub(crate) skip_bad_lines: bool,
    /// Share the measurement of a split already scheduled (off with
    /// `--no-dedup`).
    pub(crate) dedup: bool,
    /// One probe build for every candidate instead of one build each.
    pub(crate) probe: bool,
}

/// Everything decided before the first build.
pub(crate) struct Plan {
    pub(crate) run: RunDir,
    /// The commands files, in the order given; the shapes follow it.
    pub(crate) files: Vec<CommandsFileInfo>,
    /// Every file's commands, one per line, in order.
    pub(crate) commands_text: String,
    pub(crate) shapes: Vec<Shape>,
    /// Per shape, the index of its file in `files`.
    pub(crate) shape_file: Vec<usize>,
    pub(crate) skipped: Vec<BadLine>,
    pub(crate) base: git2::Oid,
    pub(crate) sites: Vec<Site>,
    /// Heuristics left out because they have nothing to tune, with why.
    pub(crate) skipped_heuristics: Vec<String>,
    pub(crate) candidates: Vec<Candidate>,
    /// Predicted decisions, `[candidate][shape]`.
    pub(crate) decisions: Vec<Vec<Decision>>,
    /// Which candidate measures which shape.
    pub(crate) schedule: Schedule,
}

/// The branch of a run's candidate.
pub(crate) fn branch_name(run: &str, candidate: &str) -> String {
    format!("tune/{run}/{candidate}")
}

/// The knobs a candidate turns, one line each, for its commit message.
fn knob_lines(source: &str, sites: &[Site], limit: Option<i64>) -> String {
    let mut out = String::new();
    for s in sites {
        let anchor = match &s.style {
            LadderStyle::Helper { helper, .. } => helper.name.clone(),
            LadderStyle::Inline { .. } => s.function.name.clone(),
        };
        match limit {
            None => out.push_str(&format!("  {}: unchanged ({anchor})\n", s.heuristic)),
            Some(l) => {
                out.push_str(&format!("  {}: limitParallelLoops = {l} in `{anchor}`\n", s.heuristic));
                for er in &s.early_returns {
                    out.push_str(&format!(
                        "  {}: early return disabled (line {}): {}\n",
                        s.heuristic,
                        line_of(source, er.condition.start),
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
    let mut inputs = serde_json::json!({
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
    });
    // Shapes spread over several devices: which ones is part of what was
    // measured (one device keeps the keys it always had).
    if config.bench.devices.len() > 1 {
        inputs["bench"]["devices"] = serde_json::json!(config.bench.devices);
    }
    // Anchored processes are divided by their drift: not the raw samples.
    if config.bench.anchors > 0 {
        inputs["bench"]["anchors"] = serde_json::json!(config.bench.anchors);
    }
    // Where the processes run (another node may hold another GPU).
    if !config.bench.launcher.is_empty() {
        inputs["bench"]["launcher"] = serde_json::json!(config.bench.launcher);
    }
    inputs
}

/// The source, diff, message and key of the candidate for `limit` (the
/// baseline for `None`).
fn candidate(
    config: &Config,
    run: &str,
    base: (git2::Oid, &str),
    sites: &[Site],
    inputs: &serde_json::Value,
    limit: Option<i64>,
    probe: Option<&Probe>,
) -> Result<Candidate> {
    let (base, base_source) = base;
    let name = candidate_name(limit);
    let source = match limit {
        None => base_source.to_string(),
        Some(l) => {
            let edits: Vec<patch::Edit> =
                sites.iter().flat_map(|s| patch::fixed_limit_edits(base_source, s, l)).collect();
            patch::apply_checked(base_source, sites, &edits)
                .map_err(|e| anyhow::anyhow!("cannot patch `{}` for {name}: {e}", config.target.heuristic_file))?
        }
    };
    let diff = difftext::unified(&config.target.heuristic_file, base_source, &source);
    let message = format!(
        "tune: {run} {name}\n\nsplit-reduction-tuner candidate of run `{run}`, on {}.\n\nKnobs:\n{}",
        git::short(base),
        knob_lines(base_source, sites, limit)
    );
    let mut key_of = serde_json::json!({ "inputs": inputs, "source_sha256": sha256_hex(source.as_bytes()) });
    let (build_source, env, logged) = match probe {
        None => (source.clone(), Vec::new(), Vec::new()),
        Some(probe) => {
            let env = limit.map(probe_env).unwrap_or_default();
            key_of["probe"] = serde_json::json!({ "source_sha256": sha256_hex(probe.source.as_bytes()), "env": env });
            (probe.source.clone(), env, probe.logged.clone())
        }
    };
    let key = sha256_hex(serde_json::to_string(&key_of)?.as_bytes());
    let pass = Pass::from_source(
        &source,
        config.heuristics.names(Heuristic::Conv),
        config.heuristics.names(Heuristic::Matmul),
    );
    Ok(Candidate { name, limit, source, build_source, env, logged, diff, message, key, pass })
}

/// The probe build's variables for the candidate of `limit`.
fn probe_env(limit: i64) -> Vec<(String, String)> {
    vec![
        (patch::PROBE_LIMIT_VAR.to_string(), limit.to_string()),
        (patch::PROBE_NO_EARLY_RETURNS_VAR.to_string(), "1".to_string()),
    ]
}

/// The probe build every candidate of a probe sweep shares.
pub(crate) struct Probe {
    /// The heuristic file with the probe patch on every tuned site.
    pub(crate) source: String,
    /// The heuristics whose decisions it logs.
    pub(crate) logged: Vec<Heuristic>,
}

/// The probe build's heuristic file.
pub(crate) fn probe(config: &Config, base_source: &str, sites: &[Site]) -> Result<Probe> {
    let edits: Vec<patch::Edit> = sites.iter().flat_map(|s| patch::probe_edits(base_source, s)).collect();
    let patched = patch::apply_checked(base_source, sites, &edits)
        .map_err(|e| anyhow::anyhow!("cannot write the probe patch of `{}`: {e}", config.target.heuristic_file))?;
    Ok(Probe {
        source: patch::with_include(&patch::with_include(&patched, "cstdlib"), "cstdio"),
        logged: sites.iter().filter(|s| patch::logs_decisions(base_source, s)).map(|s| s.heuristic).collect(),
    })
}

/// The commands files of a request: those given, else `sweep.commands`.
fn commands_paths(config: &Config, request: &Request) -> Result<Vec<PathBuf>> {
    if !request.commands.is_empty() {
        return Ok(request.commands.iter().map(|p| cwd_absolute(p)).collect());
    }
    if config.sweep.commands.is_empty() {
        bail!("no commands file: pass one or more (`cargo xtask sweep FILE...`) or set `sweep.commands`");
    }
    Ok(config.sweep.commands.clone())
}

/// What results.json records of a commands file.
fn file_info(f: &CommandsFile) -> CommandsFileInfo {
    let bundled = f.path.strip_prefix(workspace()).ok().map(|p| p.to_string_lossy().into_owned());
    CommandsFileInfo {
        name: f.name.clone(),
        path: f.path.display().to_string(),
        bundled,
        sha256: sha256_hex(f.text.as_bytes()),
        shapes: f.commands.shapes.len(),
    }
}

/// Plans the sweep: parses the commands, reads the heuristic at the tuned
/// revision, and patches and keys every candidate.
pub(crate) fn plan(ctx: &Ctx, request: &Request, plan_cfg: &ConfigurePlan) -> Result<Plan> {
    let config = &ctx.config;
    let paths = commands_paths(config, request)?;
    let read = inputs::read_commands_files(&paths, request.skip_bad_lines)?;
    let files: Vec<CommandsFileInfo> = read.iter().map(file_info).collect();
    let commands_text: String = read.iter().map(|f| f.text.as_str()).collect();
    let run = match request.name {
        Some(n) => sanitize_name(n),
        None => default_run_name(&paths),
    };
    if run.is_empty() {
        bail!("the run name is empty; pass --name");
    }
    if let Some(bad) = request.limits.iter().find(|&&l| l < 1) {
        bail!("limit {bad} is invalid: limits must be at least 1");
    }
    let repo = git::open(&config.target.iree)?;
    let base = git::resolve(&repo, &config.target.rev)?;
    refuse_tool_commit(&repo, &config.target.rev, base)?;
    let base_source = git::read_file(&repo, base, &config.target.heuristic_file)?;
    let located = locate_sites(config, &base_source)?;
    let sites = located.sites;
    let inputs = key_inputs(config, plan_cfg, &sha256_hex(commands_text.as_bytes()), base);
    let probe = if request.probe { Some(probe(config, &base_source, &sites)?) } else { None };
    let mut candidates = Vec::new();
    let mut seen = Vec::new();
    for limit in std::iter::once(None).chain(request.limits.iter().map(|&l| Some(l))) {
        if !seen.contains(&limit) {
            seen.push(limit);
            let probe = probe.as_ref();
            candidates.push(candidate(config, &run, (base, &base_source), &sites, &inputs, limit, probe)?);
        }
    }
    let shape_file =
        read.iter().enumerate().flat_map(|(i, f)| std::iter::repeat_n(i, f.commands.shapes.len())).collect();
    let skipped = read.iter().flat_map(|f| f.commands.skipped.iter().cloned()).collect();
    // Which function gets each op at this revision decides which ladder the
    // candidates' limits go through (before 53d61843c3 the matmul-like one
    // gets forward and backward-data convolutions).
    let shapes: Vec<Shape> =
        read.into_iter().flat_map(|f| f.commands.shapes).map(|s| pass::retarget(s, &candidates[0].pass)).collect();
    let low = config.heuristics.low_parallelism;
    let decisions: Vec<Vec<Decision>> = candidates
        .iter()
        .map(|c| shapes.iter().map(|s| pass::predict_op(&s.op, &c.pass, low).decision).collect())
        .collect();
    // A prediction may share a measurement only when the model saw the
    // candidate's pinned limit (its early returns are off, so every shape
    // that reaches the heuristic gets the pin). Where the model misses the
    // pin (it does not read every form a pinned ladder takes), or predicts
    // no limit at all, the shape is measured: a wrong share is a wrong
    // result, a missed one only costs a benchmark run.
    let trusted = |c: &Candidate, d: &Decision| match c.limit {
        Some(pin) => d.limit == Some(pin),
        None => true,
    };
    let schedule = if request.dedup {
        let known: Vec<Vec<Option<&Decision>>> = candidates
            .iter()
            .zip(&decisions)
            .map(|(c, ds)| ds.iter().map(|d| trusted(c, d).then_some(d)).collect())
            .collect();
        Schedule::dedup(&known)
    } else {
        Schedule::all(candidates.len(), shapes.len())
    };
    // A candidate's result holds the shapes it measures: the key says which.
    for (i, c) in candidates.iter_mut().enumerate() {
        c.key = sha256_hex(format!("{}|measures {:?}", c.key, schedule.measured(i)).as_bytes());
    }
    Ok(Plan {
        run: RunDir::new(&config.runs_dir, &run),
        files,
        commands_text,
        shapes,
        shape_file,
        skipped,
        base,
        sites,
        skipped_heuristics: located.skipped,
        candidates,
        decisions,
        schedule,
    })
}

/// A revision the tool made (a `tune/*` branch, an applied patch) would
/// measure a patched compiler as the baseline: refused, naming its base.
fn refuse_tool_commit(repo: &git2::Repository, rev: &str, base: git2::Oid) -> Result<()> {
    if !git::made_by_tool(repo, base) {
        return Ok(());
    }
    let fix = git::base_of_tool_commits(repo, base)
        .map(|b| format!("tune the revision they were made on with `--rev {}`", git::short(b)))
        .unwrap_or_else(|| "pass the revision you mean with `--rev`".into());
    bail!(
        "revision `{rev}` ({}) is a commit split-reduction-tuner made (a candidate, a validation build or an \
         applied patch, e.g. after `cargo xtask apply`): tuning it would measure the patched compiler as the \
         baseline; {fix}",
        git::short(base)
    )
}

/// Predicted decisions of shape `s`: what each candidate's code (the
/// baseline's included) decides, every condition of the file evaluated.
fn decisions(plan: &Plan, s: usize) -> BTreeMap<String, Decision> {
    plan.candidates.iter().zip(&plan.decisions).map(|(c, d)| (c.name.clone(), d[s].clone())).collect()
}

/// results.json before any measurement: the inputs, the candidates
/// pending, and every shape with its predicted decisions.
pub(crate) fn results_skeleton(config: &Config, plan: &Plan) -> Results {
    Results {
        schema: SCHEMA,
        tool_version: TOOL_VERSION.to_string(),
        run: plan.run.name.clone(),
        target: TargetInfo {
            checkout: config.target.iree.display().to_string(),
            rev: config.target.rev.clone(),
            commit: plan.base.to_string(),
            heuristic_file: config.target.heuristic_file.clone(),
            styles: plan.sites.iter().map(|s| (s.heuristic, s.style.name().to_string())).collect(),
        },
        commands: CommandsInfo {
            path: plan.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", "),
            sha256: sha256_hex(plan.commands_text.as_bytes()),
            skipped: plan.skipped.clone(),
            files: plan.files.clone(),
        },
        bench: BenchInfo {
            command: config.bench.command.clone(),
            column: config.bench.column.clone(),
            device: config.bench.devices.join(","),
            repeats: config.bench.repeats,
        },
        heuristics: plan.sites.iter().map(|s| s.heuristic).collect(),
        candidates: plan
            .candidates
            .iter()
            .map(|c| CandidateInfo {
                status: CandidateStatus::Pending,
                ..CandidateInfo::new(&c.name, c.limit, (branch_name(&plan.run.name, &c.name), String::new()), &c.key)
            })
            .collect(),
        shapes: plan
            .shapes
            .iter()
            .enumerate()
            .map(|(id, s)| ShapeResult {
                id,
                file: plan.files[plan.shape_file[id]].name.clone(),
                line: s.line,
                command: s.command.clone(),
                op: s.op.clone(),
                features: s.features.clone(),
                runs: BTreeMap::new(),
                decisions: decisions(plan, id),
            })
            .collect(),
        recheck: None,
        model_check: None,
        compiler_features: None,
        provenance: None,
    }
}
