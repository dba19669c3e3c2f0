//! The run directory, `runs/<name>/`: where a sweep's and a validation's
//! files live, under typed paths, with a lock, a journal of typed events,
//! and the one resume mechanism both commands use.
//!
//! Resuming: a finished step (a candidate's benchmark, the baseline's
//! recheck, an A/B run) writes its result file, then journals `Done` with
//! the step's key. A rerun reuses the file only when the journal vouches for
//! it with the same key, so a crash between the two loses that step and
//! never yields a half-written or stale result. Durability of the files and
//! the journal is [`crate::infra::store`]'s.

use crate::config::Config;
use crate::core::results::{check_schema, Results, SCHEMA};
use crate::core::validation::{self, Validation};
use crate::core::workload::Heuristic;
use crate::core::TOOL_VERSION;
use crate::infra::git;
use crate::infra::store::{self, DirLock, Journal};
use anyhow::{bail, Result};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What happened in a run, one journal line each. Every field has a
/// default so that lines written by earlier versions of the tool still read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    SweepStarted {
        #[serde(default)]
        candidates: Vec<String>,
    },
    CandidateStarted {
        #[serde(default, deserialize_with = "null_as_empty")]
        candidate: String,
        #[serde(default, deserialize_with = "null_as_empty")]
        key: String,
        #[serde(default)]
        branch: String,
        #[serde(default)]
        commit: String,
    },
    CandidateBuilt {
        #[serde(default, deserialize_with = "null_as_empty")]
        candidate: String,
        #[serde(default, deserialize_with = "null_as_empty")]
        key: String,
        #[serde(default)]
        seconds: f64,
    },
    CandidateFailed {
        #[serde(default, deserialize_with = "null_as_empty")]
        candidate: String,
        #[serde(default, deserialize_with = "null_as_empty")]
        key: String,
        #[serde(default)]
        reason: String,
    },
    /// A step finished and left `file` (relative to the run directory).
    #[serde(alias = "candidate_done", alias = "recheck_done")]
    Done {
        #[serde(alias = "candidate", default, deserialize_with = "null_as_empty")]
        step: String,
        #[serde(default, deserialize_with = "null_as_empty")]
        key: String,
        #[serde(default, deserialize_with = "null_as_empty")]
        file: String,
    },
    SweepFinished,
    /// The first line of every journal: what wrote it.
    Journal {
        schema: u32,
        #[serde(default)]
        tool_version: String,
    },
}

/// Earlier versions wrote absent values as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// One journal line: an event and when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Seconds since the Unix epoch.
    pub(crate) time: f64,
    #[serde(flatten)]
    pub(crate) event: Event,
}

impl Record {
    fn now(event: Event) -> Record {
        let time =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Record { time, event }
    }
}

/// `runs/<name>/`.
#[derive(Clone, Debug)]
pub(crate) struct RunDir {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
}

impl RunDir {
    pub(crate) fn new(runs_dir: &Path, name: &str) -> RunDir {
        RunDir { name: name.to_string(), path: runs_dir.join(name) }
    }

    /// Finds a run: a directory with results, a name under the runs dir, or
    /// (none given) the configured commands file's run, else the newest run.
    pub(crate) fn find(config: &Config, run: Option<&str>) -> Result<RunDir> {
        let runs = &config.runs_dir;
        let named = |dir: PathBuf| RunDir {
            name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            path: dir,
        };
        if let Some(r) = run {
            let as_path = PathBuf::from(r);
            let dir = if as_path.join(RESULTS).exists() { as_path } else { runs.join(r) };
            if !dir.join(RESULTS).exists() {
                bail!(
                    "`{}` has no results.json; run `cargo xtask sweep` first (runs are under `{}`)",
                    dir.display(),
                    runs.display()
                );
            }
            return Ok(named(dir));
        }
        if !config.sweep.commands.is_empty() {
            let dir = runs.join(default_run_name(&config.sweep.commands));
            if dir.join(RESULTS).exists() {
                return Ok(named(dir));
            }
        }
        newest_run(runs).map(named).ok_or_else(|| {
            anyhow::anyhow!("no run with results.json under `{}`; run `cargo xtask sweep` first", runs.display())
        })
    }

    /// Locks the run for `what` (a sweep or a validation).
    pub(crate) fn lock(&self, what: &str) -> Result<DirLock> {
        store::lock_dir(&self.path, what)
    }

    pub(crate) fn results_file(&self) -> PathBuf {
        self.path.join(RESULTS)
    }

    /// results.json, refused when a newer tool wrote it.
    pub(crate) fn read_results(&self) -> Result<Results> {
        let path = self.results_file();
        let schema: Versioned = store::read_json(&path)?;
        check_schema(&format!("`{}`", path.display()), schema.schema, &schema.tool_version)
            .map_err(anyhow::Error::msg)?;
        store::read_json(&path)
    }

    pub(crate) fn write_results(&self, results: &Results) -> Result<()> {
        store::write_json(&self.results_file(), results)
    }

    /// The commands the sweep ran, one per line.
    pub(crate) fn commands_file(&self) -> PathBuf {
        self.path.join("commands.txt")
    }

    pub(crate) fn candidate_dir(&self, candidate: &str) -> PathBuf {
        self.path.join("candidates").join(candidate)
    }

    /// A path relative to the run directory, as the journal records it.
    pub(crate) fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.path).unwrap_or(path).to_string_lossy().into_owned()
    }

    pub(crate) fn analysis_file(&self) -> PathBuf {
        self.path.join("analysis.json")
    }

    /// Where `analyze --rev` records the revision the rule is written at.
    pub(crate) fn retarget_file(&self) -> PathBuf {
        self.path.join("retarget.json")
    }

    /// The recorded retarget, if any.
    pub(crate) fn read_retarget(&self) -> Result<Option<super::inputs::RetargetRecord>> {
        let path = self.retarget_file();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(store::read_json(&path)?))
    }

    /// Records (or, with `None`, removes) the revision the rule is written at.
    pub(crate) fn write_retarget(&self, r: Option<&super::inputs::RetargetRecord>) -> Result<()> {
        let path = self.retarget_file();
        match r {
            Some(r) => store::write_json(&path, r),
            None if path.exists() => {
                std::fs::remove_file(&path).map_err(|e| anyhow::anyhow!("cannot remove `{}`: {e}", path.display()))
            }
            None => Ok(()),
        }
    }

    pub(crate) fn report_md(&self) -> PathBuf {
        self.path.join("report.md")
    }

    pub(crate) fn report_html(&self) -> PathBuf {
        self.path.join("report.html")
    }

    pub(crate) fn recommended_diff(&self, h: Heuristic) -> PathBuf {
        self.path.join(format!("recommended-{h}.diff"))
    }

    pub(crate) fn validation_dir(&self) -> PathBuf {
        self.path.join("validation")
    }

    pub(crate) fn validation_file(&self) -> PathBuf {
        self.validation_dir().join("validation.json")
    }

    /// The validation of `results`, if one was written for the same
    /// revision and commands; refused when a newer tool wrote it.
    pub(crate) fn read_validation(&self, results: &Results) -> Result<Option<Validation>> {
        let path = self.validation_file();
        if !path.exists() {
            return Ok(None);
        }
        let v: Validation = store::read_json(&path)?;
        check_schema(&format!("`{}`", path.display()), v.schema, &v.tool_version).map_err(anyhow::Error::msg)?;
        let mut v = Some(v)
            .filter(|v| v.target_commit == results.target.commit && v.commands_sha256 == results.commands.sha256);
        if let Some(v) = v.as_mut() {
            validation::backfill(v);
        }
        Ok(v)
    }

    /// The run's journal; lines that are not records are reported and
    /// skipped (their work is redone); a journal of a newer tool is refused.
    pub(crate) fn journal(&self) -> Result<RunJournal> {
        let path = self.path.join("journal.jsonl");
        let journal = Journal::<Record>::open(&path)?;
        for warning in &journal.skipped {
            eprintln!("warning: {warning}");
        }
        for r in journal.records() {
            if let Event::Journal { schema, tool_version } = &r.event {
                check_schema(&format!("`{}`", path.display()), *schema, tool_version).map_err(anyhow::Error::msg)?;
            }
        }
        let mut run = RunJournal { journal };
        if run.journal.records().is_empty() {
            run.append(Event::Journal { schema: SCHEMA, tool_version: TOOL_VERSION.to_string() })?;
        }
        Ok(run)
    }

    fn inputs_file(&self) -> PathBuf {
        self.path.join("inputs.json")
    }

    /// What the run holds results of: its recorded inputs, or (for a run of
    /// an earlier version) those its results.json names.
    fn recorded_inputs(&self) -> Result<Option<RunInputs>> {
        if self.inputs_file().exists() {
            return store::read_json(&self.inputs_file()).map(Some);
        }
        if !self.results_file().exists() {
            return Ok(None);
        }
        Ok(Some(RunInputs::of_results(&self.read_results()?)))
    }

    /// Moves the run out of the way, to `<name>.<time>/`, with its
    /// `tune/<name>/*` branches renamed alike; returns where it went.
    pub(crate) fn set_aside(&self, repo: &git2::Repository) -> Result<PathBuf> {
        let stamp = chrono_stamp();
        let to = self.path.with_file_name(format!("{}.{stamp}", self.name));
        std::fs::rename(&self.path, &to)
            .map_err(|e| anyhow::anyhow!("cannot move `{}` to `{}`: {e}", self.path.display(), to.display()))?;
        git::rename_branches(repo, &format!("tune/{}/", self.name), &format!("tune/{}.{stamp}/", self.name))?;
        Ok(to)
    }

    /// Makes the run directory the home of `inputs`: refused, changing
    /// nothing, when it holds results of other inputs.
    pub(crate) fn claim(&self, inputs: &RunInputs) -> Result<()> {
        if let Some(old) = self.recorded_inputs()? {
            let diff = old.differences(inputs);
            if !diff.is_empty() {
                bail!(
                    "run `{}` (`{}`) holds results of other inputs:\n  {}\ngive this sweep another name \
                     (`--name NEW`), or pass `--replace` to move the old run to `{}.<time>/` and start afresh",
                    self.name,
                    self.path.display(),
                    diff.join("\n  "),
                    self.path.display()
                );
            }
        }
        store::write_json(&self.inputs_file(), inputs)
    }
}

/// The journal of one run.
pub(crate) struct RunJournal {
    journal: Journal<Record>,
}

impl RunJournal {
    pub(crate) fn append(&mut self, event: Event) -> Result<()> {
        self.journal.append(Record::now(event))
    }

    /// The result of `step` from an earlier (possibly interrupted) run, when
    /// the journal vouches for it with `key` and its file reads.
    pub(crate) fn reuse<T: DeserializeOwned>(&self, run: &RunDir, step: &str, key: &str) -> Option<T> {
        let file = self.journal.records().iter().rev().find_map(|r| match &r.event {
            Event::Done { step: s, key: k, file } if s == step && k == key => Some(file.clone()),
            _ => None,
        })?;
        store::read_json(&run.path.join(file)).ok()
    }

    /// Whether an earlier attempt of this run built `candidate` with `key`
    /// (an attempt that was then interrupted, when no result is reused).
    pub(crate) fn built_before(&self, candidate: &str, key: &str) -> bool {
        self.journal.records().iter().any(
            |r| matches!(&r.event, Event::CandidateBuilt { candidate: c, key: k, .. } if c == candidate && k == key),
        )
    }

    /// Writes `value` to `file` (under the run directory), then journals
    /// `step` as done with `key`.
    pub(crate) fn finish<T: Serialize>(
        &mut self,
        run: &RunDir,
        step: &str,
        key: &str,
        file: &Path,
        value: &T,
    ) -> Result<()> {
        store::write_json(file, value)?;
        self.append(Event::Done { step: step.to_string(), key: key.to_string(), file: run.relative(file) })
    }
}

const RESULTS: &str = "results.json";

/// The version fields every file of a run holds.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default = "crate::core::results::first_schema")]
    schema: u32,
    #[serde(default)]
    tool_version: String,
}

/// The newest run directory with results.
fn newest_run(runs: &Path) -> Option<PathBuf> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(runs).ok()?.flatten() {
        if let Ok(meta) = std::fs::metadata(e.path().join(RESULTS)) {
            let t = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if newest.as_ref().is_none_or(|(nt, _)| t > *nt) {
                newest = Some((t, e.path()));
            }
        }
    }
    newest.map(|(_, p)| p)
}

/// What a run measures: a sweep with other inputs under the same name is
/// refused rather than mixed in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunInputs {
    /// Commands files: as given, and the hash of each one's shapes.
    pub(crate) commands: Vec<(String, String)>,
    pub(crate) rev: String,
    pub(crate) commit: String,
    pub(crate) heuristic_file: String,
    pub(crate) heuristics: Vec<Heuristic>,
    /// `None` for a run of an earlier version (not recorded).
    pub(crate) low_parallelism: Option<bool>,
    pub(crate) limits: Vec<i64>,
}

impl RunInputs {
    fn of_results(r: &Results) -> RunInputs {
        RunInputs {
            commands: vec![(r.commands.path.clone(), r.commands.sha256.clone())],
            rev: r.target.rev.clone(),
            commit: r.target.commit.clone(),
            heuristic_file: r.target.heuristic_file.clone(),
            heuristics: r.heuristics.clone(),
            low_parallelism: None,
            limits: r.candidates.iter().filter_map(|c| c.limit).collect(),
        }
    }

    /// What differs from `new`, one sentence each.
    fn differences(&self, new: &RunInputs) -> Vec<String> {
        let mut out = Vec::new();
        let files = |c: &[(String, String)]| {
            c.iter().map(|(p, s)| format!("`{p}` ({})", &s[..s.len().min(12)])).collect::<Vec<_>>().join(", ")
        };
        if self.commands != new.commands {
            out.push(format!("commands: {} now, {} before", files(&new.commands), files(&self.commands)));
        }
        if self.commit != new.commit {
            out.push(format!(
                "revision: `{}` ({}) now, `{}` ({}) before",
                new.rev,
                &new.commit[..new.commit.len().min(10)],
                self.rev,
                &self.commit[..self.commit.len().min(10)]
            ));
        }
        if self.heuristic_file != new.heuristic_file {
            out.push(format!("heuristic file: `{}` now, `{}` before", new.heuristic_file, self.heuristic_file));
        }
        if self.heuristics != new.heuristics {
            let names = |h: &[Heuristic]| h.iter().map(|h| h.name()).collect::<Vec<_>>().join(", ");
            out.push(format!("heuristics: {} now, {} before", names(&new.heuristics), names(&self.heuristics)));
        }
        if self.low_parallelism.is_some() && self.low_parallelism != new.low_parallelism {
            out.push("target: the other of default / low-parallelism".to_string());
        }
        if self.limits != new.limits {
            let list = |l: &[i64]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
            out.push(format!("limits: {} now, {} before", list(&new.limits), list(&self.limits)));
        }
        out
    }
}

/// The current UTC time as `YYYYmmdd-HHMMSS`, for names.
fn chrono_stamp() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let date = crate::core::patchtext::civil_date(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{:04}{:02}{:02}-{:02}{:02}{:02}", date.0, date.1, date.2, t / 3600, t % 3600 / 60, t % 60)
}

/// Run names become branch names and directory names.
pub(crate) fn sanitize_name(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.+".contains(c) { c } else { '_' }).collect();
    s.trim_matches('.').to_string()
}

/// The run name of commands files: their names without extension, joined
/// by `+` (`conv_weight_backward+gemm_large_k`).
pub(crate) fn default_run_name(files: &[PathBuf]) -> String {
    let stems: Vec<String> =
        files.iter().filter_map(|f| f.file_stem()).map(|s| s.to_string_lossy().into_owned()).collect();
    sanitize_name(&stems.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_of_several_files_join_their_stems() {
        let files = [PathBuf::from("/w/conv weight.txt"), PathBuf::from("gemm_large_k.txt")];
        assert_eq!(default_run_name(&files), "conv_weight+gemm_large_k");
        assert_eq!(default_run_name(&files[1..]), "gemm_large_k");
    }

    #[test]
    fn old_journal_lines_still_resume() {
        // A line as the first version wrote it.
        let old = r#"{"time":1.0,"event":"candidate_done","candidate":"limit-8","key":"k","file":"candidates/limit-8/result.json","detail":null}"#;
        let r: Record = serde_json::from_str(old).unwrap();
        assert_eq!(
            r.event,
            Event::Done { step: "limit-8".into(), key: "k".into(), file: "candidates/limit-8/result.json".into() }
        );
        let line = serde_json::to_string(&Record { time: 2.0, event: Event::SweepFinished }).unwrap();
        assert_eq!(line, r#"{"time":2.0,"event":"sweep_finished"}"#);
    }
}
