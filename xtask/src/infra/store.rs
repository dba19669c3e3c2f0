//! The run directory on disk: a lock, an append-only journal, atomic files.
//!
//! This module owns the durability rules that make a sweep resumable after a
//! crash, a Ctrl-C or a `kill -9`: every file is written to a temporary name
//! and renamed into place, so it is either old or new, never half; journal
//! records are single `write`s of one line followed by `fsync`, and a torn
//! last line (the only thing a crash can leave) is cut off when the journal
//! is next opened. A run directory is locked while a command uses it.

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let mut f = File::create(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    f.sync_all().with_context(|| format!("cannot sync `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move `{}` into place", path.display()))?;
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot serialise JSON")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "`{}` line {}, column {}: {}; the file is written by the tuner: rerun the command \
             that produces it",
            path.display(),
            e.line(),
            e.column(),
            e
        )
    })
}

/// One journal record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub event: String,
    pub candidate: Option<String>,
    pub key: Option<String>,
    /// The file this record vouches for, relative to the run directory.
    pub file: Option<String>,
    pub detail: Option<String>,
}

impl Record {
    pub fn new(event: &str) -> Record {
        Record {
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            event: event.to_string(),
            candidate: None,
            key: None,
            file: None,
            detail: None,
        }
    }
}

/// An append-only journal of JSON lines.
pub struct Journal {
    path: PathBuf,
    file: File,
    records: Vec<Record>,
}

impl Journal {
    /// Opens (or creates) the journal, cutting off a torn last line.
    pub fn open(path: &Path) -> Result<Journal> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        let complete = match text.rfind('\n') {
            Some(i) => i + 1,
            None => 0,
        };
        let mut records = Vec::new();
        for (n, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r: Record = serde_json::from_str(line).with_context(|| {
                format!(
                    "`{}` line {}: not a journal record; the journal is append-only and \
                     written by the tuner: restore it or start a new run with --name",
                    path.display(),
                    n + 1
                )
            })?;
            records.push(r);
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        if complete < text.len() {
            // A crash mid-write left a partial line: it was never a record.
            file.set_len(complete as u64).with_context(|| format!("cannot repair `{}`", path.display()))?;
        }
        Ok(Journal { path: path.to_path_buf(), file, records })
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Appends one record durably.
    pub fn append(&mut self, record: Record) -> Result<()> {
        let mut line = serde_json::to_string(&record).context("cannot serialise a journal record")?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).with_context(|| format!("cannot append to `{}`", self.path.display()))?;
        self.file.sync_data().with_context(|| format!("cannot sync `{}`", self.path.display()))?;
        self.records.push(record);
        Ok(())
    }
}

/// An exclusive lock on a directory, held while a command works in it.
pub struct DirLock {
    _file: File,
}

pub fn lock_dir(dir: &Path, what: &str) -> Result<DirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "`{}` is in use by another {what}; wait for it to finish (the lock is released \
             when that process exits)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock `{}`", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(Record::new("a")).unwrap();
            j.append(Record::new("b")).unwrap();
        }
        // Simulate a crash in the middle of the third write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"time\":1.0,\"ev").unwrap();
        drop(f);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.records().len(), 2);
        j.append(Record::new("c")).unwrap();
        let j = Journal::open(&path).unwrap();
        let events: Vec<&str> = j.records().iter().map(|r| r.event.as_str()).collect();
        assert_eq!(events, vec!["a", "b", "c"]);
    }
}
