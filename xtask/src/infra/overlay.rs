//! Overlay slots: a build slot that stands on the user's own checkout and
//! build directory instead of copying them, so its first build is an
//! incremental one (the heuristic's translation unit and the relinks), not
//! a build of LLVM, MLIR and IREE.
//!
//! Each job of an overlay slot (its builds, benchmarks, tests) runs in a
//! user and mount namespace of its own ([`crate::infra::supervisor`] makes
//! it) where the user's checkout and build directory are overlayfs mounts
//! at their own paths: the user's files below, the slot's upper layer
//! above. Every absolute path CMake and ninja wrote stays valid, every
//! write lands in the slot's upper layer, and the mounts vanish with the
//! job, so nothing outside the slot is written. This module owns the
//! layers' layout, what is written into the source layer (a candidate's
//! files), the fingerprint that says whether the user's build directory
//! changed under the layers, and the check that the mounts work here;
//! when a slot is an overlay slot is [`crate::infra::build`]'s decision.

use crate::infra::proc::{self, Job};
use crate::infra::store;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One overlayfs mount: `upper` (with its `work` directory) over `lower`,
/// mounted at `lower`'s own path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    pub(crate) lower: PathBuf,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
    /// Mounted read-only, `upper` as one more lower layer: any number of
    /// such mounts may stand at once (a benchmark process per device),
    /// where a writable one needs its upper and work directories to itself.
    pub(crate) read_only: bool,
}

impl Mount {
    /// overlayfs's mount options for it. `userxattr` keeps overlayfs's own
    /// marks (opaque directories, redirects) in `user.` attributes, the only
    /// ones a user namespace may write, so every mount reads them alike.
    pub(crate) fn options(&self) -> String {
        if self.read_only {
            format!("lowerdir={}:{},userxattr", self.upper.display(), self.lower.display())
        } else {
            format!(
                "lowerdir={},upperdir={},workdir={},userxattr",
                self.lower.display(),
                self.upper.display(),
                self.work.display()
            )
        }
    }
}

/// An overlay slot's two layers: over the user's checkout and over their
/// build directory.
#[derive(Clone, Debug)]
pub(crate) struct Layers {
    /// `slot-N/overlay`.
    pub(crate) dir: PathBuf,
    pub(crate) checkout: Mount,
    pub(crate) build: Mount,
}

impl Layers {
    /// The layers of a slot in `slot_dir` over `checkout` and `build`.
    pub(crate) fn new(slot_dir: &Path, checkout: &Path, build: &Path) -> Layers {
        let dir = slot_dir.join("overlay");
        let mount = |name: &str, lower: &Path| Mount {
            lower: lower.to_path_buf(),
            upper: dir.join(name).join("upper"),
            work: dir.join(name).join("work"),
            read_only: false,
        };
        Layers { checkout: mount("src", checkout), build: mount("build", build), dir }
    }

    /// The mounts in the order they must be made: a directory before one
    /// inside it (a build directory inside the checkout). Writable mounts
    /// for jobs that write (builds, the compiler's tests), one at a time;
    /// read-only ones for jobs that only read (benchmarks, lit RUN lines),
    /// as many at once as there are devices.
    pub(crate) fn mounts(&self, read_only: bool) -> Vec<Mount> {
        let mut mounts = vec![self.checkout.clone(), self.build.clone()];
        for m in &mut mounts {
            m.read_only = read_only;
        }
        mounts.sort_by_key(|m| m.lower.components().count());
        mounts
    }

    /// Creates the layers' directories.
    pub(crate) fn create(&self) -> Result<()> {
        for m in [&self.checkout, &self.build] {
            for d in [&m.upper, &m.work] {
                std::fs::create_dir_all(d).with_context(|| format!("cannot create `{}`", d.display()))?;
            }
        }
        Ok(())
    }

    /// Throws the layers away (the slot then stands on the user's trees as
    /// they are now) and creates them empty.
    pub(crate) fn reset(&self) -> Result<()> {
        remove(&self.dir)?;
        self.create()
    }

    /// What the slot's jobs see at `rel` in the checkout: the upper
    /// layer's file if the slot wrote one, else the user's.
    pub(crate) fn read_source(&self, rel: &Path) -> Result<Vec<u8>> {
        let upper = self.checkout.upper.join(rel);
        let path = match upper_entry(&upper) {
            UpperEntry::File => upper,
            UpperEntry::Absent => self.checkout.lower.join(rel),
            UpperEntry::Other => bail!(
                "`{}` is not a file in the slot's source layer (a build deleted or replaced it); \
                 run `cargo xtask clean` and rerun",
                upper.display()
            ),
        };
        std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))
    }

    /// Makes the slot's jobs see `content` at `rel` in the checkout. A
    /// file whose content changes is written anew, so its time is newer
    /// than every object built from it and ninja rebuilds them; one whose
    /// content is already that is left alone, so nothing rebuilds. (Going
    /// back to the user's version is a write too, never a deletion from the
    /// upper layer: the user's older file would not look changed to ninja.)
    /// Returns whether it wrote.
    pub(crate) fn write_source(&self, rel: &Path, content: &[u8]) -> Result<bool> {
        let upper = self.checkout.upper.join(rel);
        // A whiteout or directory a build left in the layer hides the
        // user's file: it is replaced, whatever the user's content is.
        let current = match upper_entry(&upper) {
            UpperEntry::File => std::fs::read(&upper).ok(),
            UpperEntry::Absent => std::fs::read(self.checkout.lower.join(rel)).ok(),
            UpperEntry::Other => {
                if std::fs::symlink_metadata(&upper).is_ok_and(|m| m.is_dir()) {
                    remove(&upper)?;
                }
                None
            }
        };
        if current.as_deref() == Some(content) {
            return Ok(false);
        }
        if let Some(parent) = upper.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        store::write_atomic(&upper, content)?;
        Ok(true)
    }
}

/// What a path in an upper layer is.
enum UpperEntry {
    /// Not in the layer: the lower layer's file shows through.
    Absent,
    File,
    /// A whiteout (a deletion), a directory, a link: not a file's content.
    Other,
}

fn upper_entry(path: &Path) -> UpperEntry {
    match std::fs::symlink_metadata(path) {
        Err(_) => UpperEntry::Absent,
        Ok(m) if m.is_file() => UpperEntry::File,
        Ok(_) => UpperEntry::Other,
    }
}

/// Removes `dir`, including overlayfs's work directories (which the kernel
/// leaves without permissions).
pub(crate) fn remove(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    allow_removal(dir);
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove `{}`", dir.display()))
}

fn allow_removal(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                allow_removal(&e.path());
            }
        }
    }
}

/// The files of a build directory that change whenever it is built or
/// configured: if their sizes and times are the same, the layers built on
/// top of it are still valid.
const BUILD_STATE_FILES: [&str; 4] = ["CMakeCache.txt", "build.ninja", ".ninja_log", ".ninja_deps"];

/// A fingerprint of the user's build directory's state (see
/// [`BUILD_STATE_FILES`]).
pub(crate) fn fingerprint(build: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    BUILD_STATE_FILES
        .iter()
        .map(|f| match std::fs::metadata(build.join(f)) {
            Ok(m) => format!("{f}:{}:{}.{}", m.len(), m.mtime(), m.mtime_nsec()),
            Err(_) => format!("{f}:absent"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why an overlay cannot be made over `lower` with its layers in `upper`,
/// judged by paths alone.
pub(crate) fn path_problem(lower: &Path, upper: &Path) -> Option<String> {
    for p in [lower, upper] {
        let text = p.to_string_lossy();
        if text.contains([',', ':', '\\']) {
            return Some(format!("`{}` holds `,`, `:` or `\\`, which overlayfs options cannot hold", p.display()));
        }
    }
    if upper.starts_with(lower) {
        return Some(format!("the slot's layers (`{}`) would lie inside `{}`", upper.display(), lower.display()));
    }
    None
}

/// Removes the probe directories of processes that died mid-probe (a
/// crash, `kill -9`): nobody else would. Their mounts died with their
/// namespaces; a directory that will not go is left for `clean`.
fn remove_dead_probes(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("overlay-probe-").and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
            let _ = remove(&e.path());
        }
    }
}

/// Whether this machine can mount overlays in a user namespace: mounts a
/// scratch overlay in `dir` and runs `true` under it. The error says why not.
pub(crate) fn probe(dir: &Path) -> Result<(), String> {
    let inner = || -> Result<Result<(), String>> {
        // One directory per process: two runs starting at once must not
        // remove each other's probe under its mount.
        let root = dir.join(format!("overlay-probe-{}", std::process::id()));
        remove(&root)?;
        remove_dead_probes(dir);
        // Both kinds of mount: writable over one scratch tree, read-only
        // over the other.
        let (lower, other) = (root.join("lower"), root.join("other"));
        for d in [&lower, &other] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create `{}`", d.display()))?;
        }
        let layers = Layers::new(&root, &lower, &other);
        layers.create()?;
        let log = root.join("probe.log");
        let mut job = Job::new("true", &lower, &log, Duration::from_secs(30));
        job.overlays = vec![layers.checkout.clone(), Mount { read_only: true, ..layers.build.clone() }];
        let outcome = proc::run(&job);
        remove(&root)?;
        Ok(match outcome {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => Err(format!("a probe under an overlay ended with {}", o.ended)),
            Err(e) => Err(format!("{e:#}")),
        })
    };
    inner().unwrap_or_else(|e| Err(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_s_probe_directory_is_removed_and_a_live_one_s_kept() {
        let dir = tempfile::tempdir().unwrap();
        // Pid 0 is never a process's; this test's own is alive.
        let (dead, live) = (dir.path().join("overlay-probe-0"), dir.path().join("overlay-probe-1"));
        let own = dir.path().join(format!("overlay-probe-{}", std::process::id()));
        for d in [&dead, &live, &own] {
            std::fs::create_dir_all(d.join("lower")).unwrap();
        }
        remove_dead_probes(dir.path());
        assert!(!dead.exists() && own.exists());
        // Pid 1 (init) is alive wherever /proc is mounted.
        assert_eq!(live.exists(), Path::new("/proc/1").exists());
    }

    #[test]
    fn a_directory_inside_another_is_mounted_after_it() {
        let layers = Layers::new(Path::new("/w/slot-0"), Path::new("/u/iree"), Path::new("/u/iree/build"));
        let order: Vec<PathBuf> = layers.mounts(false).into_iter().map(|m| m.lower).collect();
        assert_eq!(order, vec![PathBuf::from("/u/iree"), PathBuf::from("/u/iree/build")]);
    }

    #[test]
    fn paths_overlayfs_cannot_take_are_named() {
        assert!(path_problem(Path::new("/u/ir,ee"), Path::new("/w/up")).unwrap().contains("`/u/ir,ee`"));
        assert!(path_problem(Path::new("/u/iree"), Path::new("/u/iree/tune/up")).unwrap().contains("inside"));
        assert_eq!(path_problem(Path::new("/u/iree"), Path::new("/u/iree-build-tune/up")), None);
    }

    /// Created layers over a checkout holding `a/h.cpp` and `a/g.cpp`
    /// ("old"): the temporary directory, the checkout, the layers.
    fn scratch_layers() -> (tempfile::TempDir, PathBuf, Layers) {
        let dir = tempfile::tempdir().unwrap();
        let (checkout, build) = (dir.path().join("iree"), dir.path().join("build"));
        std::fs::create_dir_all(checkout.join("a")).unwrap();
        for f in ["a/h.cpp", "a/g.cpp"] {
            std::fs::write(checkout.join(f), "old").unwrap();
        }
        let layers = Layers::new(&dir.path().join("slot-0"), &checkout, &build);
        layers.create().unwrap();
        (dir, checkout, layers)
    }

    #[test]
    fn writing_the_users_content_writes_nothing_and_a_change_is_written() {
        let (_dir, checkout, layers) = scratch_layers();
        let rel = Path::new("a/h.cpp");
        assert!(!layers.write_source(rel, b"old").unwrap());
        assert!(layers.write_source(rel, b"new").unwrap());
        assert_eq!(layers.read_source(rel).unwrap(), b"new");
        // Back to the user's version: written again (newer than any object).
        assert!(layers.write_source(rel, b"old").unwrap());
        assert_eq!(std::fs::read(checkout.join("a/h.cpp")).unwrap(), b"old");
    }

    #[test]
    fn what_a_build_left_in_the_source_layer_in_place_of_a_file_is_replaced() {
        let (_dir, _, layers) = scratch_layers();
        // A link (as a whiteout would) and a directory hide the user's file.
        std::fs::create_dir_all(layers.checkout.upper.join("a/g.cpp")).unwrap();
        std::os::unix::fs::symlink("/nowhere", layers.checkout.upper.join("a/h.cpp")).unwrap();
        for name in ["a/h.cpp", "a/g.cpp"] {
            let rel = Path::new(name);
            assert!(format!("{:#}", layers.read_source(rel).unwrap_err()).contains("not a file"));
            // Even the user's own content is written: the layer hid it.
            assert!(layers.write_source(rel, b"old").unwrap());
            assert_eq!(layers.read_source(rel).unwrap(), b"old");
        }
    }
}
