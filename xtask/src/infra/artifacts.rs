//! Kept builds: what a benchmark loads from a build (its `tools/`, its
//! `lib/`, the Python packages its `.env` names, and `.env` itself), copied
//! out of a build slot into a directory of its own. A kept build is
//! benchmarked without its slot: `validate` benchmarks the sweep's baseline
//! from its kept copy and builds only the patched compiler, in one slot.
//!
//! A copy must load its own library, never the slot's or the user's. IREE's
//! build-tree tools carry CMake's absolute build RPATH (`<build>/lib`:
//! `iree_cc_binary` leaves `BUILD_WITH_INSTALL_RPATH` off), and its Python
//! package links `_mlir_libs/libIREECompiler.so` to `<build>/lib` by an
//! absolute symlink. In an overlay slot `<build>` is the user's build
//! directory, so an unfixed copy would silently run the user's compiler.
//! Here every symlink into the build directory becomes a relative one inside
//! the copy, every RPATH or RUNPATH entry into it becomes `$ORIGIN`-relative
//! (with patchelf), a directory those name that was not copied is copied
//! too, and `.env` is rewritten with the copy's paths. Entries outside the
//! build directory (the system's libraries, a ROCm install) stay as they are.
//!
//! Copying from the slot is the caller's (an overlay slot's build directory
//! exists only inside its jobs' namespaces); this module decides what to
//! copy and fixes the copy up, outside any namespace.

use crate::config::normalize;
use crate::infra::proc::{self, Job};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a benchmark loads from a build besides the Python packages of its
/// `.env`: the tools (`iree-compile` on `PATH`) and the shared libraries.
pub(crate) const ROOTS: &[&str] = &["tools", "lib"];

/// Never copied: CMake's per-target object directories, objects and static
/// archives, which a benchmark never loads and which make up most of a build.
pub(crate) const SKIPPED: &[&str] = &["CMakeFiles", "*.o", "*.a"];

/// Copy rounds: the first copies [`ROOTS`] and the packages; each later one
/// copies what the copied files' symlinks and RPATHs name that is missing.
const COPY_ROUNDS: usize = 3;

/// How long patchelf may take on one file.
const PATCHELF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Copies `rels` (paths relative to the build directory; directories with
/// everything in them but [`SKIPPED`], symlinks as symlinks) into the
/// given directory, keeping their relative paths.
pub(crate) type Copier<'a> = &'a dyn Fn(&[String], &Path) -> Result<()>;

/// Where a kept build says what it is a build of.
pub(crate) const LABEL_FILE: &str = "kept.json";

/// Keeps the build at `build` (the path its files were configured with) as
/// `dest`, unless `dest` is kept already; returns `dest`. The copy is made
/// beside `dest` and renamed into place when it is complete, so a `dest`
/// that exists is whole. `commit` (what was built) goes into its
/// [`LABEL_FILE`] with the build's path; `source` is the checkout it was
/// built from. `still` runs last before the rename: it fails when the build
/// changed while it was copied, and the copy is then never published.
pub(crate) fn keep(
    build: &Path,
    source: &Path,
    dest: &Path,
    commit: &str,
    (copy, still): (Copier, &dyn Fn() -> Result<()>),
) -> Result<PathBuf> {
    if dest.is_dir() {
        return Ok(dest.to_path_buf());
    }
    // Without patchelf every RPATH would read as none, and the copy would
    // load the build's library, whatever the slot holds by then.
    patchelf_at_hand()?;
    let parent = dest.parent().context("a kept build's directory has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    let name = dest.file_name().context("a kept build's directory has a name")?.to_string_lossy();
    remove_dead_partials(parent);
    let tmp = parent.join(format!("{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove `{}`", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    let mut wanted: Vec<String> = ROOTS.iter().map(|s| s.to_string()).collect();
    wanted.extend(packages(build).into_iter().filter_map(|p| inside(build, &p)).filter(|p| !p.is_empty()));
    for round in 0..COPY_ROUNDS {
        copy(&wanted, &tmp)?;
        wanted = fix_up(build, source, &tmp)?;
        if wanted.is_empty() {
            break;
        }
        if round + 1 == COPY_ROUNDS {
            bail!(
                "the kept copy of `{}` still names {} of the build directory after {COPY_ROUNDS} rounds of copying",
                build.display(),
                wanted.join(", ")
            );
        }
    }
    write_env(build, &tmp, dest)?;
    let label = serde_json::json!({ "commit": commit, "build": build });
    crate::infra::store::write_atomic(&tmp.join(LABEL_FILE), format!("{label:#}\n").as_bytes())?;
    if let Err(e) = still() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(dest.to_path_buf()),
        // Another process kept the same build first: theirs is as good.
        Err(_) if dest.is_dir() => {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove `{}`", tmp.display()))?;
            Ok(dest.to_path_buf())
        }
        Err(e) => Err(e).with_context(|| format!("cannot rename `{}` to `{}`", tmp.display(), dest.display())),
    }
}

/// Fails unless `dir` is a kept build of `commit` (its [`LABEL_FILE`] says
/// so): a benchmark must never run whatever compiler a missing or foreign
/// directory would leave on its paths.
pub(crate) fn check_kept(dir: &Path, commit: &str) -> Result<()> {
    let file = dir.join(LABEL_FILE);
    let label: serde_json::Value = crate::infra::store::read_json(&file)
        .with_context(|| format!("`{}` is not a kept build; run `cargo xtask clean`, then rerun", dir.display()))?;
    match label.get("commit").and_then(|c| c.as_str()) {
        Some(c) if c == commit => Ok(()),
        other => anyhow::bail!(
            "`{}` is a kept build of {}, not of {commit}; run `cargo xtask clean`, then rerun",
            dir.display(),
            other.unwrap_or("nothing named")
        ),
    }
}

/// Removes the kept build `dest`, renamed aside first (as this process's
/// partial copy) so that a removal cut short never leaves a `dest` that
/// looks whole: the next [`keep`] beside it removes the rest.
pub(crate) fn discard(dest: &Path) -> Result<()> {
    let name = dest.file_name().context("a kept build's directory has a name")?.to_string_lossy();
    let aside = dest.with_file_name(format!("{name}.partial-{}", std::process::id()));
    std::fs::rename(dest, &aside)
        .with_context(|| format!("cannot rename `{}` to `{}`", dest.display(), aside.display()))?;
    std::fs::remove_dir_all(&aside).with_context(|| format!("cannot remove `{}`", aside.display()))
}

/// Removes the partial copies (and their archives) of processes that died
/// while keeping a build (a crash, Ctrl-C, `kill -9`): nobody else would.
fn remove_dead_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, rest)) = name.split_once(".partial-") else { continue };
        let pid = rest.trim_end_matches(".tar").parse::<u32>().ok();
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
            let p = e.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
}

/// The Python package directories a benchmark of `build` puts on
/// `PYTHONPATH` (from its `.env`).
fn packages(build: &Path) -> Vec<PathBuf> {
    crate::infra::bench::build_pythonpath(build)
}

/// `path` relative to the build directory `build` when it lies inside it:
/// lexically, or once both are resolved (a build configured through a
/// symlinked path records that spelling, while the slot names the build by
/// its resolved path; either way the copy must not point back into it).
fn inside(build: &Path, path: &Path) -> Option<String> {
    relative_in(build, path).or_else(|| {
        let (b, p) = (std::fs::canonicalize(build).ok()?, std::fs::canonicalize(path).ok()?);
        if b == p {
            Some(String::new())
        } else {
            relative_in(&b, &p)
        }
    })
}

/// `path` relative to `base` when it lies inside it (lexically).
fn relative_in(base: &Path, path: &Path) -> Option<String> {
    let rel = normalize(path).strip_prefix(normalize(base)).ok()?.to_path_buf();
    (!rel.as_os_str().is_empty()).then(|| rel.to_string_lossy().into_owned())
}

/// The relative path from directory `from` to `to`, both relative to the
/// same root.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// Fixes every symlink and ELF file under `copy` (a copy of parts of
/// `build` at the same relative paths); returns the build's paths they name
/// that the copy lacks.
fn fix_up(build: &Path, source: &Path, copy: &Path) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    let mut files = Vec::new();
    walk(copy, &mut files)?;
    for file in files {
        let rel = file.strip_prefix(copy).expect("walked under the copy").to_path_buf();
        let meta = std::fs::symlink_metadata(&file).with_context(|| format!("cannot stat `{}`", file.display()))?;
        if meta.file_type().is_symlink() {
            fix_link(build, source, copy, &rel, &mut missing)?;
        } else if meta.is_file() && is_elf(&file)? {
            fix_rpath(build, copy, &rel, &mut missing)?;
        }
    }
    missing.sort();
    missing.dedup();
    Ok(missing)
}

/// Every file and symlink under `dir` (symlinks not followed).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))? {
        let e = e.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let t = e.file_type().with_context(|| format!("cannot stat `{}`", e.path().display()))?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

/// A symlink at `rel`: one into the build directory points at the same
/// place inside the copy (relative); one into the checkout `source` (MLIR
/// links the build tree's Python sources to it) becomes a copy of what it
/// names, since the slot's checkout moves on; a relative one out of both
/// becomes absolute, since the copy lives elsewhere.
fn fix_link(build: &Path, source: &Path, copy: &Path, rel: &Path, missing: &mut Vec<String>) -> Result<()> {
    let link = copy.join(rel);
    let target = std::fs::read_link(&link).with_context(|| format!("cannot read the link `{}`", link.display()))?;
    let dir = rel.parent().unwrap_or(Path::new(""));
    let resolved = normalize(&build.join(dir).join(&target));
    let new = match inside(build, &resolved) {
        Some(inside) => {
            if std::fs::symlink_metadata(copy.join(&inside)).is_err() {
                missing.push(inside.clone());
            }
            relative_path(dir, Path::new(&inside))
        }
        None if inside(source, &resolved).is_some() => {
            std::fs::remove_file(&link).with_context(|| format!("cannot replace `{}`", link.display()))?;
            return copy_tree(&resolved, &link);
        }
        None if target.is_relative() => resolved,
        None => return Ok(()),
    };
    if new != target {
        std::fs::remove_file(&link).with_context(|| format!("cannot replace `{}`", link.display()))?;
        std::os::unix::fs::symlink(&new, &link).with_context(|| format!("cannot create `{}`", link.display()))?;
    }
    Ok(())
}

/// Copies the file or directory `from` (symlinks followed) to `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to).with_context(|| format!("cannot create `{}`", to.display()))?;
        for e in std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))? {
            let e = e.with_context(|| format!("cannot read `{}`", from.display()))?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)
            .map(drop)
            .with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))
    }
}

fn is_elf(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let n = f.read(&mut magic).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(n == 4 && magic == *b"\x7fELF")
}

/// An ELF file at `rel`: each RPATH/RUNPATH entry into the build directory
/// becomes `$ORIGIN`-relative (the copy keeps the build's layout).
fn fix_rpath(build: &Path, copy: &Path, rel: &Path, missing: &mut Vec<String>) -> Result<()> {
    let file = copy.join(rel);
    // An ELF file without a dynamic section (an object, a static tool) has
    // no RPATH to fix.
    let Ok(old) = patchelf(&file, &["--print-rpath"]) else { return Ok(()) };
    let old = old.trim();
    if old.is_empty() {
        return Ok(());
    }
    let dir = rel.parent().unwrap_or(Path::new(""));
    let new: Vec<String> = old
        .split(':')
        .map(|entry| {
            let origin = build.join(dir);
            let expanded = entry.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", &origin.to_string_lossy());
            let resolved = normalize(Path::new(&expanded));
            match inside(build, &resolved).or_else(|| (resolved == normalize(build)).then(String::new)) {
                Some(inside) => {
                    if !inside.is_empty() && !copy.join(&inside).is_dir() {
                        missing.push(inside.clone());
                    }
                    let r = relative_path(dir, Path::new(&inside));
                    if r.as_os_str().is_empty() {
                        "$ORIGIN".to_string()
                    } else {
                        format!("$ORIGIN/{}", r.display())
                    }
                }
                // Outside the build: where it pointed from the build.
                None if entry.contains("ORIGIN") => resolved.to_string_lossy().into_owned(),
                None => entry.to_string(),
            }
        })
        .collect();
    let new = new.join(":");
    if new != old {
        // DT_RPATH stays DT_RPATH: patchelf would write DT_RUNPATH, which
        // LD_LIBRARY_PATH overrides and transitive lookups ignore.
        let args: &[&str] =
            if has_dt_rpath(&file)? { &["--force-rpath", "--set-rpath", &new] } else { &["--set-rpath", &new] };
        patchelf(&file, args)?;
    }
    Ok(())
}

/// Whether `file`'s dynamic section has a DT_RPATH (not a DT_RUNPATH), as
/// `readelf -d` lists it.
fn has_dt_rpath(file: &Path) -> Result<bool> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    let out = proc::capture(&Job::new("readelf", dir, Path::new("/dev/null"), PATCHELF_TIMEOUT).arg("-d").arg(file))?;
    Ok(out.stdout.lines().any(|l| l.contains("(RPATH)")))
}

/// How long copying a build's parts may take.
pub(crate) const COPY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// The job that packs `rels` of `build` into the archive `tar` (missing
/// paths skipped, [`SKIPPED`] left out): the caller runs it where the
/// build is visible (under an overlay slot's mounts), then [`unpack`].
pub(crate) fn pack_job(build: &Path, rels: &[String], tar: &Path, log: &Path) -> Job {
    let mut job =
        Job::new("tar", build, log, COPY_TIMEOUT).arg("-C").arg(build).arg("-cf").arg(tar).arg("--ignore-failed-read");
    for pattern in SKIPPED {
        job = job.arg(format!("--exclude={pattern}"));
    }
    job.arg("--").args(rels)
}

/// Unpacks what [`pack_job`] packed into `into`, and removes the archive.
pub(crate) fn unpack(tar: &Path, into: &Path, log: &Path) -> Result<()> {
    let job = Job::new("tar", into, log, COPY_TIMEOUT).arg("-C").arg(into).arg("-xf").arg(tar);
    let outcome = proc::run(&job)?;
    if !outcome.success() {
        bail!(
            "cannot unpack `{}` into `{}` ({}); see `{}`",
            tar.display(),
            into.display(),
            outcome.ended,
            log.display()
        );
    }
    std::fs::remove_file(tar).with_context(|| format!("cannot remove `{}`", tar.display()))
}

/// Runs patchelf on `file`; its standard output.
/// Fails, saying how to install it, unless `patchelf` is on `PATH`.
fn patchelf_at_hand() -> Result<()> {
    if proc::which("patchelf").is_none() {
        bail!(
            "keeping a build needs `patchelf` (to point the copy's RPATHs at its own libraries); install it, e.g. \
             `sudo apt-get install patchelf`"
        );
    }
    Ok(())
}

fn patchelf(file: &Path, args: &[&str]) -> Result<String> {
    patchelf_at_hand()?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let out = proc::capture(&Job::new("patchelf", dir, Path::new("/dev/null"), PATCHELF_TIMEOUT).args(args).arg(file))?;
    if !out.success() {
        bail!("`patchelf {} {}` failed: {}", args.join(" "), file.display(), out.stderr.trim());
    }
    Ok(out.stdout)
}

/// The copy's `.env`: the build's, each path into the build (however
/// spelled) pointing at the copy instead.
fn write_env(build: &Path, copy: &Path, dest: &Path) -> Result<()> {
    let file = build.join(".env");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        // No `.env`: the benchmark falls back to IREE's layout, which the
        // copy keeps.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", file.display())),
    };
    let mut fixed = String::new();
    for line in text.lines() {
        let line = match line.trim().strip_prefix("PYTHONPATH=") {
            Some(v) => {
                let parts: Vec<String> = v
                    .trim()
                    .trim_matches('"')
                    .split(':')
                    .map(|p| match inside(build, Path::new(p)) {
                        Some(rel) => dest.join(rel).to_string_lossy().trim_end_matches('/').to_string(),
                        None => p.to_string(),
                    })
                    .collect();
                format!("PYTHONPATH={}", parts.join(":"))
            }
            None => line.replace(&*build.to_string_lossy(), &dest.to_string_lossy()),
        };
        fixed.push_str(&line);
        fixed.push('\n');
    }
    crate::infra::store::write_atomic(&copy.join(".env"), fixed.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_between_directories_of_one_tree() {
        assert_eq!(relative_path(Path::new("tools"), Path::new("lib")), PathBuf::from("../lib"));
        assert_eq!(
            relative_path(Path::new("compiler/bindings/python/iree/compiler/_mlir_libs"), Path::new("lib/libX.so")),
            PathBuf::from("../../../../../../lib/libX.so")
        );
        assert_eq!(relative_path(Path::new("lib"), Path::new("lib")), PathBuf::new());
        assert_eq!(relative_in(Path::new("/b/build"), Path::new("/b/build/tools/../lib")), Some("lib".into()));
        assert_eq!(relative_in(Path::new("/b/build"), Path::new("/b/build-tune/lib")), None);
        assert_eq!(relative_in(Path::new("/b/build"), Path::new("/b/build")), None);
    }

    #[test]
    fn a_benchmark_takes_only_a_kept_build_of_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("abc");
        let err = check_kept(&kept, "1234").unwrap_err();
        assert!(format!("{err:#}").contains("is not a kept build; run `cargo xtask clean`"), "{err:#}");
        std::fs::create_dir_all(&kept).unwrap();
        std::fs::write(kept.join(LABEL_FILE), r#"{"commit": "5678", "build": "/b"}"#).unwrap();
        let err = check_kept(&kept, "1234").unwrap_err();
        assert!(format!("{err:#}").contains("is a kept build of 5678, not of 1234"), "{err:#}");
        check_kept(&kept, "5678").unwrap();
    }

    #[test]
    fn partial_copies_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let own = std::process::id();
        let dead = dir.path().join("k.partial-0");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dir.path().join("k.partial-0.tar"), "").unwrap();
        std::fs::create_dir(dir.path().join(format!("k.partial-{own}"))).unwrap();
        std::fs::create_dir(dir.path().join("k")).unwrap();
        remove_dead_partials(dir.path());
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, vec!["k".to_string(), format!("k.partial-{own}")]);
    }
}
