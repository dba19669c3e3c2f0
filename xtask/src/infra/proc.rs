//! Child processes: builds and benchmarks, with logs, timeouts, and no orphans.
//!
//! This module owns how the tool starts long-running work. Every child gets
//! its own process group (so a timeout kills the whole tree: ninja and its
//! compilers, python and its iree-compile) and asks the kernel to send it
//! SIGTERM if the tool dies, so a `kill -9` of the sweep does not leave a
//! ninja writing into a build directory that the rerun is about to use.
//! Output goes to a log file in the run directory, never to the terminal.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

fn ended(status: ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(s)) => Ended::Signalled(s),
        _ => Ended::Exited(-1),
    }
}

/// The command ready to spawn in its own process group, with its output
/// going to `stdout` and `stderr`.
fn command(job: &Job, stdout: Stdio, stderr: Stdio) -> Command {
    let mut cmd = Command::new(&job.program);
    cmd.args(&job.args).current_dir(&job.cwd).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    for k in &job.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &job.env {
        cmd.env(k, v);
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd
}

/// Waits for `child` until it ends or `timeout` passes (then its whole
/// group is killed).
fn wait(mut child: Child, timeout: Duration, start: Instant) -> Result<Outcome> {
    let pid = child.id() as i32;
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for a child process")? {
            return Ok(Outcome { ended: ended(status), seconds: start.elapsed().as_secs_f64() });
        }
        if start.elapsed() > timeout {
            kill_group(pid);
            let _ = child.wait();
            return Ok(Outcome { ended: Ended::TimedOut, seconds: start.elapsed().as_secs_f64() });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `job`, appending its stdout and stderr to its log.
pub(crate) fn run(job: &Job) -> Result<Outcome> {
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
    let err_log = log.try_clone().with_context(|| format!("cannot reopen `{}`", job.log.display()))?;
    let start = Instant::now();
    let child = command(job, Stdio::from(log), Stdio::from(err_log))
        .spawn()
        .with_context(|| format!("cannot start `{}` in `{}`", job.display(), job.cwd.display()))?;
    wait(child, job.timeout, start)
}

/// SIGTERM to the whole group, then SIGKILL to what is left.
fn kill_group(pgid: i32) {
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(500));
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
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
    let out = std::fs::File::create(&out_path).with_context(|| format!("cannot create `{}`", out_path.display()))?;
    let err = std::fs::File::create(&err_path).with_context(|| format!("cannot create `{}`", err_path.display()))?;
    let start = Instant::now();
    let child = command(job, Stdio::from(out), Stdio::from(err))
        .spawn()
        .with_context(|| format!("cannot start `{}` in `{}`", job.display(), job.cwd.display()))?;
    let outcome = wait(child, job.timeout, start)?;
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok(Captured { ended: outcome.ended, stdout: read(&out_path), stderr: read(&err_path) })
}

/// How long a query (`git`, `python -c`) may take before it is killed.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

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
