//! Who holds which build slot. A slot (`<work dir>/slot-N/`) is used by one
//! process at a time: its lock file `slot-N.lock` is locked (flock, which
//! the kernel releases when the holder dies, `kill -9` included) and names
//! the holder (pid, run, command, start). A run takes the first free slots;
//! when `build.slots` are all held it waits, naming the holder. A lock file
//! that still names a holder although nobody holds it was left by a process
//! that died: the next run takes it over and says so.
//!
//! Several slots are taken at once or not at all, so two runs that each
//! need several never wait for each other.

use crate::infra::signals;
use crate::infra::store;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a run waiting for a slot looks again.
const WAIT: Duration = Duration::from_secs(2);

/// Who holds a slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Holder {
    pub(crate) pid: u32,
    pub(crate) run: String,
    pub(crate) command: String,
    /// Seconds since the Unix epoch.
    pub(crate) started: u64,
}

impl Holder {
    /// This process, working on `run`.
    pub(crate) fn me(run: &str) -> Holder {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Holder {
            pid: std::process::id(),
            run: run.to_string(),
            command: format!("cargo xtask {}", args.join(" ")),
            started,
        }
    }

    fn describe(&self) -> String {
        format!("pid {} (run `{}`, `{}`)", self.pid, self.run, self.command)
    }
}

/// A held slot; dropping it lets it go.
pub(crate) struct SlotLock {
    pub(crate) index: u32,
    file: File,
}

impl Drop for SlotLock {
    fn drop(&mut self) {
        // A clean release leaves no holder behind (a crash leaves one, which
        // is how the next run knows to say it takes over).
        let _ = self.file.set_len(0);
    }
}

fn lock_path(work_dir: &Path, index: u32) -> PathBuf {
    work_dir.join(format!("slot-{index}.lock"))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Tries to take slot `index`; the holder when it is busy.
fn try_take(work_dir: &Path, index: u32, me: &Holder) -> Result<Result<SlotLock, Option<Holder>>> {
    std::fs::create_dir_all(work_dir).with_context(|| format!("cannot create `{}`", work_dir.display()))?;
    let path = lock_path(work_dir, index);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut file))),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock `{}`", path.display()))
        }
    }
    if let Some(gone) = read_holder(&mut file).filter(|h| h.pid != me.pid) {
        eprintln!("note: slot-{index} was left by {}, which is gone; taking it over", gone.describe());
    }
    let text = serde_json::to_string(me).context("cannot serialise the slot's holder")?;
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(Ok(SlotLock { index, file }))
}

/// Takes `count` free slots among the first `slots`, all at once, waiting
/// (and saying for whom) while not enough are free.
pub(crate) fn take(work_dir: &Path, slots: u32, count: usize, me: &Holder) -> Result<Vec<SlotLock>> {
    let mut told = false;
    loop {
        let mut held = Vec::new();
        let mut busy = Vec::new();
        for index in 0..slots {
            if held.len() == count {
                break;
            }
            match try_take(work_dir, index, me)? {
                Ok(lock) => held.push(lock),
                Err(holder) => busy.push((index, holder)),
            }
        }
        if held.len() == count {
            return Ok(held);
        }
        // Not enough: give back what we took, so that two runs waiting for
        // each other's slots cannot deadlock.
        drop(held);
        if !told {
            let who: Vec<String> = busy
                .iter()
                .map(|(i, h)| {
                    format!("slot-{i} by {}", h.as_ref().map(Holder::describe).unwrap_or("another run".into()))
                })
                .collect();
            eprintln!("waiting for {count} free build slot(s) of {slots} (`build.slots`): held are {}", who.join("; "));
            told = true;
        }
        signals::check()?;
        std::thread::sleep(WAIT);
    }
}

/// Every slot under `work_dir` (a `slot-N/` directory or lock file): its
/// index, whether it is held now, and who holds (or held) it.
pub(crate) fn survey(work_dir: &Path) -> Vec<(u32, bool, Option<Holder>)> {
    let mut indices: Vec<u32> = std::fs::read_dir(work_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("slot-")?;
            n.strip_suffix(".lock").unwrap_or(n).parse().ok()
        })
        .collect();
    indices.sort();
    indices.dedup();
    let mut out = Vec::new();
    for index in indices {
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(lock_path(work_dir, index)) else {
            out.push((index, false, None));
            continue;
        };
        let held = matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock));
        if !held {
            let _ = file.unlock();
        }
        out.push((index, held, read_holder(&mut file)));
    }
    out
}

/// Takes exactly the slots `indices`, failing (taking none) when one is held.
pub(crate) fn take_these(work_dir: &Path, indices: &[u32], me: &Holder) -> Result<Vec<SlotLock>> {
    let mut held = Vec::new();
    for &index in indices {
        match try_take(work_dir, index, me)? {
            Ok(lock) => held.push(lock),
            Err(holder) => anyhow::bail!(
                "slot-{index} is in use by {}; wait for it to finish, then try again",
                holder.as_ref().map(Holder::describe).unwrap_or("another run".into())
            ),
        }
    }
    Ok(held)
}

/// What a slot last built: the commit and everything else that makes the
/// build what it is (configuration, targets), so a benchmark can refuse a
/// build that is not the one it was asked to measure.
pub(crate) fn built_key(commit: &str, configure_hash: &str, targets: &[String]) -> String {
    crate::core::digest::sha256_hex(format!("{commit}|{configure_hash}|{}", targets.join(",")).as_bytes())
}

/// Removes a slot's lock file (by `clean`, with the slot taken).
pub(crate) fn forget(work_dir: &Path, index: u32) -> Result<()> {
    let path = lock_path(work_dir, index);
    store::remove_file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_held_by_one_holder_and_taken_over_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let me = Holder::me("a");
        let first = take(dir.path(), 3, 2, &me).unwrap();
        assert_eq!(first.iter().map(|l| l.index).collect::<Vec<_>>(), vec![0, 1]);
        // The same process opening again gets the third slot: flock locks
        // belong to open files, so this behaves like another process.
        let other = Holder { pid: me.pid + 1, ..Holder::me("b") };
        let second = take(dir.path(), 3, 1, &other).unwrap();
        assert_eq!(second[0].index, 2);
        let survey = survey(dir.path());
        assert_eq!(survey.iter().filter(|s| s.1).count(), 3);
        assert_eq!(survey[2].2.as_ref().unwrap().run, "b");
        drop(first);
        // Released cleanly: no holder named any more.
        let survey = super::survey(dir.path());
        assert!(!survey[0].1 && survey[0].2.is_none());
    }
}
