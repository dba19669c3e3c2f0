//! Child processes: builds, benchmarks, tests and queries, with logs,
//! timeouts, and no orphans.
//!
//! Every child of the tool starts here. It runs under a supervisor
//! ([`crate::infra::supervisor`]) in a process group of its own, so a
//! timeout, a Ctrl-C or the tool's death (`kill -9` included) kills the
//! whole tree: ninja and its compilers, python and its iree-compile. A
//! rerun never finds a ninja still writing into the build directory it is
//! about to use. Output goes to a log file (or, for queries, is captured),
//! never to the terminal.

use crate::infra::overlay::Mount;
use crate::infra::signals;
use crate::infra::supervisor::{self, Spec, Status};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A command to run to completion with its output in a log file.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: PathBuf,
    /// Variables set on top of the inherited environment.
    pub(crate) env: Vec<(String, OsString)>,
    /// Variables removed from the inherited environment.
    pub(crate) env_remove: Vec<String>,
    pub(crate) log: PathBuf,
    pub(crate) timeout: Duration,
    /// Overlays the job sees over their lower directories, in a user and
    /// mount namespace of its own (an overlay slot's build and everything
    /// run against it); empty for every other job.
    pub(crate) overlays: Vec<Mount>,
}

impl Job {
    pub(crate) fn new(program: impl Into<OsString>, cwd: &Path, log: &Path, timeout: Duration) -> Job {
        Job {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            env: Vec::new(),
            env_remove: Vec::new(),
            log: log.to_path_buf(),
            timeout,
            overlays: Vec::new(),
        }
    }

    pub(crate) fn arg(mut self, a: impl Into<OsString>) -> Job {
        self.args.push(a.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Job
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, k: &str, v: impl Into<OsString>) -> Job {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// The command line as a shell would show it, for logs and errors.
    pub(crate) fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shlex::try_quote(&a.to_string_lossy()).map(|q| q.into_owned()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Exited(i32),
    Signalled(i32),
    TimedOut,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub(crate) ended: Ended,
    pub(crate) seconds: f64,
}

impl Outcome {
    pub(crate) fn success(&self) -> bool {
        self.ended == Ended::Exited(0)
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Exited(c) => write!(f, "exit code {c}"),
            Ended::Signalled(s) => write!(f, "killed by signal {s}"),
            Ended::TimedOut => f.write_str("timed out"),
        }
    }
}

impl From<Status> for Ended {
    fn from(s: Status) -> Ended {
        match s {
            Status::Exited(c) => Ended::Exited(c),
            Status::Signalled(s) => Ended::Signalled(s),
        }
    }
}

/// How often the tool looks at a running child, its clock and the signals,
/// once it has run a while; a child's first looks come sooner
/// ([`poll_after`]).
const POLL: Duration = Duration::from_millis(20);

/// How long to wait before the next look at a child that has run for
/// `elapsed`: from 1 ms up to [`POLL`], so that the many short processes
/// (a `patchelf`, a `tar`) do not each wait most of a full poll after they
/// end, while a long one is looked at no more often than before.
fn poll_after(elapsed: Duration) -> Duration {
    (elapsed / 8).clamp(Duration::from_millis(1), POLL)
}

/// How often a watched job's observer is called (see [`run_watched`]).
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Starts `job` under a supervisor and waits until it ends, times out (its
/// whole tree is killed) or the tool is interrupted (likewise, then the
/// error is [`Interrupted`]). `watch` is called every [`WATCH_EVERY`]
/// while the job runs.
fn supervise(job: &Job, stdout: &File, stderr: &File, watch: &mut dyn FnMut()) -> Result<Outcome> {
    signals::check()?;
    let spec = Spec {
        program: &job.program,
        args: &job.args,
        cwd: &job.cwd,
        env: &job.env,
        env_remove: &job.env_remove,
        overlays: &job.overlays,
    };
    // Where this attempt's stderr begins in the (appended) log.
    let log_start = stderr.metadata().map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let mut child = supervisor::spawn(&spec, stdout, stderr)
        .with_context(|| format!("cannot start `{}` in `{}`", job.display(), job.cwd.display()))?;
    let mut watched = start;
    loop {
        if let Some(status) = child.try_wait()? {
            let ended = match status {
                Status::Exited(supervisor::CANNOT_EXEC) => bail!(
                    "cannot run `{}` in `{}` (not executable, or the directory is gone)",
                    job.display(),
                    job.cwd.display()
                ),
                // The job itself may exit with the same code: only the
                // supervisor's own line in the log makes it an isolation failure.
                Status::Exited(supervisor::CANNOT_ISOLATE) if !job.overlays.is_empty() => {
                    match isolation_error(&job.log, log_start) {
                        Some(why) => bail!(
                            "cannot mount the build slot's overlays for `{}`: {why}; run `cargo xtask doctor`, \
                             or set `build.overlay = \"off\"` in tuner.toml to build in worktree slots",
                            job.display(),
                        ),
                        None => Ended::from(status),
                    }
                }
                other => Ended::from(other),
            };
            return Ok(Outcome { ended, seconds: start.elapsed().as_secs_f64() });
        }
        if let Err(interrupted) = signals::check() {
            child.kill()?;
            return Err(interrupted.into());
        }
        if start.elapsed() > job.timeout {
            child.kill()?;
            return Ok(Outcome { ended: Ended::TimedOut, seconds: start.elapsed().as_secs_f64() });
        }
        if watched.elapsed() >= WATCH_EVERY {
            watch();
            watched = Instant::now();
        }
        std::thread::sleep(poll_after(start.elapsed()));
    }
}

/// The supervisor's line on why a job could not be isolated, from its log.
fn isolation_error(log: &Path, from: u64) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(bytes.get(from as usize..)?);
    text.lines().rev().find_map(|l| l.strip_prefix(supervisor::ISOLATION_FAILURE)).map(str::to_string)
}

/// Runs `job`, appending its stdout and stderr to its log.
pub(crate) fn run(job: &Job) -> Result<Outcome> {
    run_watched(job, &mut || {})
}

/// [`run`], calling `watch` now and then while the job runs (a build's
/// progress is read from its log that way).
pub(crate) fn run_watched(job: &Job, watch: &mut dyn FnMut()) -> Result<Outcome> {
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&job.log)
        .with_context(|| format!("cannot open log `{}`", job.log.display()))?;
    use std::io::Write;
    writeln!(log, "$ {}", job.display()).with_context(|| format!("cannot write `{}`", job.log.display()))?;
    supervise(job, &log, &log, watch)
}

/// Runs `job` with the tool's own stdout and stderr (for `cargo xtask
/// test`, whose output is the user's to read).
pub(crate) fn run_inherit(job: &Job) -> Result<Outcome> {
    use std::os::fd::AsFd;
    let out = File::from(std::io::stdout().as_fd().try_clone_to_owned().context("cannot duplicate stdout")?);
    let err = File::from(std::io::stderr().as_fd().try_clone_to_owned().context("cannot duplicate stderr")?);
    supervise(job, &out, &err, &mut || {})
}

/// What a short command printed, and how it ended.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub(crate) ended: Ended,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Captured {
    pub(crate) fn success(&self) -> bool {
        self.ended == Ended::Exited(0)
    }
}

/// Runs `job` (its log is not used) and returns what it printed: for
/// queries such as `git rev-parse`, `python -c` or a lit test's RUN line.
/// The output goes through temporary files, so a chatty child never blocks
/// on a full pipe while the tool waits for it.
pub(crate) fn capture(job: &Job) -> Result<Captured> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let out = File::create(&out_path).with_context(|| format!("cannot create `{}`", out_path.display()))?;
    let err = File::create(&err_path).with_context(|| format!("cannot create `{}`", err_path.display()))?;
    // Its stderr file stands in for the log, where a failure to isolate
    // the job is explained.
    let job = Job { log: err_path.clone(), ..job.clone() };
    let outcome = supervise(&job, &out, &err, &mut || {})?;
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok(Captured { ended: outcome.ended, stdout: read(&out_path), stderr: read(&err_path) })
}

/// How long a query (`git`, `python -c`) may take before it is killed.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Lowers the calling thread's CPU priority by `nice` steps. Linux keeps
/// a nice value per thread, and the processes a thread starts inherit it:
/// what the thread runs then yields the CPU to the rest of the tool's work.
pub(crate) fn lower_thread_priority(nice: i32) {
    // SAFETY: system calls on the calling thread's own id; no memory is
    // shared with them. A failure (a limit on niceness) only leaves the
    // priority as it was.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, now + nice);
    }
}

/// The first `tool` on the inherited `PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// The last `n` lines of a log, for error messages.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
