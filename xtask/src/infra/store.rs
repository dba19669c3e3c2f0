//! The run directory on disk: a lock, an append-only journal, atomic files.
//!
//! This module owns the durability rules that make a sweep resumable after a
//! crash, a Ctrl-C or a `kill -9`: every file is written to a temporary name
//! and renamed into place, so it is either old or new, never half; journal
//! records are single `write`s of one line followed by `fsync`, and a torn
//! last line (the only thing a crash can leave) is cut off when the journal
//! is next opened. A run directory is locked while a command uses it.

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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

/// Removes a file; one that is not there is fine.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove `{}`", path.display()))
        }
        _ => Ok(()),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot serialise JSON")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
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

/// An append-only journal of JSON lines, one record of type `T` each.
pub(crate) struct Journal<T> {
    path: PathBuf,
    file: File,
    records: Vec<T>,
    /// Lines that are not records (edited or corrupted by hand), with why:
    /// they are skipped, and the caller says so.
    pub(crate) skipped: Vec<String>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (or creates) the journal, cutting off a torn last line and
    /// skipping lines that are not records.
    pub(crate) fn open(path: &Path) -> Result<Journal<T>> {
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
        let mut skipped = Vec::new();
        for (n, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(r) => records.push(r),
                Err(e) => skipped.push(format!(
                    "`{}` line {}: not a journal record ({e}); skipped, so the work it recorded will be redone",
                    path.display(),
                    n + 1
                )),
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
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
        Ok(Journal { path: path.to_path_buf(), file, records, skipped })
    }

    pub(crate) fn records(&self) -> &[T] {
        &self.records
    }

    /// Appends one record durably.
    pub(crate) fn append(&mut self, record: T) -> Result<()> {
        let mut line = serde_json::to_string(&record).context("cannot serialise a journal record")?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).with_context(|| format!("cannot append to `{}`", self.path.display()))?;
        self.file.sync_data().with_context(|| format!("cannot sync `{}`", self.path.display()))?;
        self.records.push(record);
        Ok(())
    }
}

/// An exclusive lock on a directory, held while a command works in it.
pub(crate) struct DirLock {
    _file: File,
}

pub(crate) fn lock_dir(dir: &Path, what: &str) -> Result<DirLock> {
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

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct R {
        event: String,
    }

    fn r(e: &str) -> R {
        R { event: e.to_string() }
    }

    #[test]
    fn torn_last_line_is_cut_and_garbage_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(r("a")).unwrap();
            j.append(r("b")).unwrap();
        }
        // A line edited by hand, then a crash in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json at all\n{\"event\":\"c\"}\n{\"ev").unwrap();
        drop(f);
        let mut j: Journal<R> = Journal::open(&path).unwrap();
        assert_eq!(j.records(), &[r("a"), r("b"), r("c")]);
        assert_eq!(j.skipped.len(), 1);
        assert!(j.skipped[0].contains("line 3"), "{:?}", j.skipped);
        j.append(r("d")).unwrap();
        let j: Journal<R> = Journal::open(&path).unwrap();
        let events: Vec<&str> = j.records().iter().map(|r| r.event.as_str()).collect();
        assert_eq!(events, vec!["a", "b", "c", "d"]);
    }
}
