//! The inputs several commands read: a commands file parsed into shapes,
//! the heuristic file at the tuned revision and its located heuristics, the
//! analysis settings from the configuration, and the shapes of a finished
//! sweep. Parsing and locating are the core's; this module reads the files
//! and turns failures into messages that name the file and the fix.

use super::rundir::RunDir;
use crate::config::Config;
use crate::core::analysis::{Retarget, Settings};
use crate::core::cpp::{CppFile, Missing, Site};
use crate::core::results::Results;
use crate::core::workload::{self, BadLine, Heuristic, Shape};
use crate::infra::git;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed commands file.
pub(crate) struct Commands {
    pub(crate) shapes: Vec<Shape>,
    /// Lines that could not be parsed (only with `skip_bad_lines`).
    pub(crate) skipped: Vec<BadLine>,
}

/// One commands file of a run.
pub(crate) struct CommandsFile {
    pub(crate) path: PathBuf,
    /// Its file name: what results, reports and patches call it (a local
    /// directory is nobody else's business).
    pub(crate) name: String,
    /// The commands the benchmark runs from it, one per line.
    pub(crate) text: String,
    pub(crate) commands: Commands,
}

/// Reads and parses the commands files of a run, in order. Two files of
/// one name are refused: shapes are told apart by their file's name.
pub(crate) fn read_commands_files(paths: &[PathBuf], skip_bad_lines: bool) -> Result<Vec<CommandsFile>> {
    let mut files: Vec<CommandsFile> = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(other) = files.iter().find(|f| f.name == name) {
            bail!(
                "`{}` and `{}` have the same name, and a run tells its files apart by name; pass each file once, \
                 or rename one",
                other.path.display(),
                path.display()
            );
        }
        let commands = read_commands(path, skip_bad_lines)?;
        let text = commands.shapes.iter().map(|s| format!("{}\n", s.command)).collect();
        files.push(CommandsFile { path: path.clone(), name, text, commands });
    }
    Ok(files)
}

/// Reads and parses a commands file; bad lines stop the run (naming file,
/// line and fix) unless `skip_bad_lines`.
pub(crate) fn read_commands(path: &Path, skip_bad_lines: bool) -> Result<Commands> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read commands file `{}`; pass an existing file (iree-boo-driver format)", path.display())
    })?;
    let (shapes, mut bad) = workload::parse_commands(&text);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for b in &mut bad {
        b.file = name.clone();
    }
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
    Ok(Commands { shapes, skipped: bad })
}

/// The tuned heuristics located in a file, and the ones left out.
pub(crate) struct Located {
    pub(crate) sites: Vec<Site>,
    /// One sentence per heuristic with nothing to tune at this revision.
    pub(crate) skipped: Vec<String>,
}

/// Locates every tuned heuristic in `source`. A heuristic whose function
/// computes no limit at this revision (the convolution one at 4b57016a5c)
/// is left out with a notice while another remains to tune.
pub(crate) fn locate_sites(config: &Config, source: &str) -> Result<Located> {
    let file = CppFile::parse(source);
    let mut located = Located { sites: Vec::new(), skipped: Vec::new() };
    let mut no_ladder = Vec::new();
    for &h in &config.heuristics.tune {
        match file.locate(h, config.heuristics.names(h)) {
            Ok(site) => located.sites.push(site),
            Err(e) if e.1 == Missing::Ladder => no_ladder.push((h, e)),
            Err(e) => bail!("in `{}` at revision `{}`: {e}", config.target.heuristic_file, config.target.rev),
        }
    }
    if located.sites.is_empty() {
        if let Some((_, e)) = no_ladder.first() {
            bail!("in `{}` at revision `{}`: {e}", config.target.heuristic_file, config.target.rev);
        }
    }
    for (h, e) in no_ladder {
        located.skipped.push(format!(
            "the {h} heuristic is skipped: {} at this revision, so it has nothing to tune",
            e.0.split(": neither").next().unwrap_or(&e.0)
        ));
    }
    Ok(located)
}

/// Where a run's rule is written: another revision than the one swept
/// (`analyze --rev`), recorded in the run directory so that `validate`
/// builds there and the patches apply there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RetargetRecord {
    pub(crate) rev: String,
    pub(crate) commit: String,
    /// For a later target of a sweep of several, written on the earlier
    /// targets' change ([`super::targets`]): the commit the whole patch
    /// series applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) series_base: Option<String>,
}

/// The inputs of an analysis: the swept revision's heuristic file (what
/// the fit's baseline measured), and the revision the patch is written at
/// with its lit tests (the swept one unless retargeted).
pub(crate) struct Tuned {
    pub(crate) source: String,
    /// Each test file's path and text, at the revision written at.
    pub(crate) lit: Vec<(String, String)>,
    pub(crate) retarget: Option<Retarget>,
    /// The commit the patches apply to.
    pub(crate) base: String,
    /// The commit the patch series they belong to applies to: `base`,
    /// unless they follow an earlier target's patches.
    pub(crate) series_base: String,
    /// Where the run stands in the series of a sweep of several targets.
    pub(crate) series: Option<crate::core::analysis::Series>,
}

impl Tuned {
    /// The heuristic file the patches edit.
    pub(crate) fn emit_source(&self) -> &str {
        self.retarget.as_ref().map(|r| r.source.as_str()).unwrap_or(&self.source)
    }
}

/// Reads [`Tuned`] from the checkout the sweep ran on (the configured one
/// for a retarget).
pub(crate) fn tuned(config: &Config, run: &RunDir, results: &Results) -> Result<Tuned> {
    let checkout = Path::new(&results.target.checkout);
    let checkout = if checkout.exists() { checkout.to_path_buf() } else { config.target.iree.clone() };
    let repo = git::open(&checkout)?;
    let oid = git2::Oid::from_str(&results.target.commit)
        .with_context(|| format!("results.json names a bad commit `{}`", results.target.commit))?;
    if repo.find_commit(oid).is_err() {
        bail!(
            "the sweep's revision {} is not in `{}` any more (the checkout was replaced or \
             rewritten); rerun `cargo xtask sweep`",
            &results.target.commit[..results.target.commit.len().min(12)],
            checkout.display()
        );
    }
    let source = git::read_file(&repo, oid, &results.target.heuristic_file)?;
    let record = run.read_retarget()?;
    let (retarget, at) = match &record {
        None => (None, oid),
        Some(r) => {
            let repo = git::open(&config.target.iree)?;
            let at = git2::Oid::from_str(&r.commit)
                .with_context(|| format!("`{}` names a bad commit `{}`", run.retarget_file().display(), r.commit))?;
            let source = git::read_file(&repo, at, &results.target.heuristic_file).with_context(|| {
                format!(
                    "the rule is written at `{}` ({}); rerun `cargo xtask analyze` without --rev to undo",
                    r.rev, r.commit
                )
            })?;
            (Some(Retarget { rev: r.rev.clone(), source }), at)
        }
    };
    let lit_repo = if record.is_some() { git::open(&config.target.iree)? } else { repo };
    let mut lit = Vec::new();
    for pattern in &config.validate.test_files {
        for path in git::glob(&lit_repo, at, pattern)? {
            let text = git::read_file(&lit_repo, at, &path)?;
            lit.push((path, text));
        }
    }
    let series_base = record.as_ref().and_then(|r| r.series_base.clone()).unwrap_or_else(|| at.to_string());
    let series = super::targets::series(run)?;
    Ok(Tuned { source, lit, retarget, base: at.to_string(), series_base, series })
}

/// Analysis settings from the configuration (no pins).
pub(crate) fn settings(config: &Config) -> Settings {
    Settings {
        pins: Default::default(),
        low_parallelism: config.heuristics.low_parallelism,
        folds: config.analyze.folds,
        max_rungs: config.analyze.max_rungs,
        peak_flops: config.analyze.peak_flops,
        peak_bytes_per_s: config.analyze.peak_bytes_per_s,
        names: Heuristic::ALL.iter().map(|&h| (h, config.heuristics.names(h).clone())).collect(),
        lit: vec![],
        retarget: None,
        series: None,
    }
}

/// The shapes of a sweep, rebuilt from results.json (what the benchmark runs).
pub(crate) fn shapes(results: &Results) -> Vec<Shape> {
    results
        .shapes
        .iter()
        .map(|s| Shape { line: s.line, command: s.command.clone(), op: s.op.clone(), features: s.features.clone() })
        .collect()
}
