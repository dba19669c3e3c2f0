//! Starting a child so that nothing of it outlives the tool: a supervisor
//! process between the tool and every child.
//!
//! The tool forks a supervisor, which forks the job (in a process group of
//! its own) and execs it. The supervisor holds the read end of a pipe whose
//! only write end is the tool's: when the tool goes away for any reason
//! (`kill -9` included) or closes it on purpose (timeout, Ctrl-C), the pipe
//! reads end-of-file and the supervisor kills the job's group and every
//! process left under it, then exits. The supervisor is a child subreaper,
//! so a grandchild that leaves the group (a daemonising helper) is
//! reparented to it and killed too. `PR_SET_PDEATHSIG` alone would not do:
//! it reaches only the direct child, not ninja's compilers or python's
//! `iree-compile`.
//!
//! Why fork without exec instead of a helper binary: the tool is also a
//! library under test, where no helper binary is at hand. The price is that
//! the supervisor may only make async-signal-safe calls (the tool is
//! multi-threaded): everything it needs (paths, argv, the environment) is
//! prepared before the fork, and it never allocates.

use crate::infra::overlay::Mount;
use anyhow::{bail, Context, Result};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the supervisor waits between looks at the pipe and the job,
/// once the job has run a while: the first looks come after 1 ms, then
/// twice as long each time up to this, so a short job's end is seen soon.
const POLL_MS: i32 = 20;

/// How long the supervisor keeps killing stragglers before it gives up.
const KILL_ROUNDS: usize = 200;

/// Exit code of a supervisor that killed its job because the tool let go.
pub(crate) const KILLED_BY_SUPERVISOR: i32 = 125;

/// Exit code of a job that could not be started (as a shell says it).
pub(crate) const CANNOT_EXEC: i32 = 127;

/// Exit code of a job whose overlay mounts could not be made (it wrote why
/// to its stderr, the log).
pub(crate) const CANNOT_ISOLATE: i32 = 123;

/// How the line a job that could not be isolated writes to its stderr
/// begins; the rest says why.
pub(crate) const ISOLATION_FAILURE: &str = "xtask: cannot isolate the job: ";

/// A running, supervised child.
pub(crate) struct Supervised {
    pid: libc::pid_t,
    /// The tool's end of the lifeline; dropping it kills the child.
    lifeline: Option<OwnedFd>,
}

/// How a supervised child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Exited(i32),
    Signalled(i32),
}

impl Supervised {
    /// Whether it ended, without waiting.
    pub(crate) fn try_wait(&mut self) -> Result<Option<Status>> {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid out-parameter.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match r {
            0 => Ok(None),
            r if r == self.pid => Ok(Some(decode(status))),
            _ => Err(std::io::Error::last_os_error()).context("cannot wait for a supervised child"),
        }
    }

    /// Kills the job and everything under it, and waits for the supervisor.
    pub(crate) fn kill(&mut self) -> Result<Status> {
        self.lifeline = None;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // A job whose owner goes away (an error, a panic) is killed.
        if self.lifeline.take().is_some() {
            let _ = self.kill();
        }
    }
}

fn decode(status: libc::c_int) -> Status {
    if libc::WIFSIGNALED(status) {
        Status::Signalled(libc::WTERMSIG(status))
    } else {
        Status::Exited(libc::WEXITSTATUS(status))
    }
}

/// Everything the job's exec needs, made before the fork.
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    isolation: Option<PreparedIsolation>,
}

/// A private mount namespace's setup, as bytes the child writes and paths
/// it mounts (see [`isolate`]).
struct PreparedIsolation {
    /// `/proc/self/uid_map` and `gid_map`: the user's own ids, mapped to
    /// themselves, so the job runs as the user and the user's files keep
    /// their owner. Only these: the child writes its own maps, and after
    /// `unshare` it holds no capability in the parent namespace, not even
    /// as root, so it may map nothing else (and must deny `setgroups`).
    uid_map: CString,
    gid_map: CString,
    /// Per mount: its target (the lower directory itself) and options.
    mounts: Vec<(CString, CString)>,
}

fn prepare_isolation(mounts: &[Mount]) -> Result<PreparedIsolation> {
    // SAFETY: geteuid and getegid cannot fail. The kernel checks the maps
    // against the effective ids, so those are the ones mapped.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let map = |id: u32| format!("{id} {id} 1\n");
    let mut prepared = Vec::new();
    for m in mounts {
        prepared.push((cstring(m.lower.as_os_str())?, cstring(OsStr::new(&m.options()))?));
    }
    Ok(PreparedIsolation {
        uid_map: cstring(OsStr::new(&map(uid)))?,
        gid_map: cstring(OsStr::new(&map(gid)))?,
        mounts: prepared,
    })
}

fn cstring(s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes()).with_context(|| format!("`{}` holds a NUL byte", s.to_string_lossy()))
}

/// `program` as exec finds it: a path as given, else the first match on the
/// child's `PATH`.
fn resolve(program: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = path.map(OsStr::to_os_string).or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The child's environment: the tool's, minus `remove`, plus `set`.
fn environment(set: &[(String, OsString)], remove: &[String]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> =
        std::env::vars_os().filter(|(k, _)| !remove.iter().any(|r| OsStr::new(r) == k)).collect();
    for (k, v) in set {
        env.retain(|(name, _)| name != OsStr::new(k));
        env.push((k.into(), v.clone()));
    }
    env
}

/// What to start.
pub(crate) struct Spec<'a> {
    pub(crate) program: &'a OsStr,
    pub(crate) args: &'a [OsString],
    pub(crate) cwd: &'a Path,
    pub(crate) env: &'a [(String, OsString)],
    pub(crate) env_remove: &'a [String],
    /// Overlays the job sees instead of their lower directories (empty: the
    /// job shares the tool's view of the file system).
    pub(crate) overlays: &'a [Mount],
}

fn prepare(spec: &Spec) -> Result<Prepared> {
    let env = environment(spec.env, spec.env_remove);
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str());
    let program = resolve(spec.program, path).with_context(|| {
        format!("cannot find `{}` on the PATH; install it or fix PATH", spec.program.to_string_lossy())
    })?;
    let mut argv = vec![cstring(spec.program)?];
    for a in spec.args {
        argv.push(cstring(a)?);
    }
    let mut envp = Vec::with_capacity(env.len());
    for (k, v) in &env {
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        envp.push(cstring(&kv)?);
    }
    let isolation = if spec.overlays.is_empty() { None } else { Some(prepare_isolation(spec.overlays)?) };
    Ok(Prepared { program: cstring(program.as_os_str())?, argv, envp, cwd: cstring(spec.cwd.as_os_str())?, isolation })
}

/// Starts `spec` under a supervisor, with stdin from /dev/null and stdout
/// and stderr to the given files.
pub(crate) fn spawn(spec: &Spec, stdout: &std::fs::File, stderr: &std::fs::File) -> Result<Supervised> {
    if spec.overlays.is_empty() && !spec.cwd.is_dir() {
        bail!("cannot start `{}`: `{}` is not a directory", spec.program.to_string_lossy(), spec.cwd.display());
    }
    let p = prepare(spec)?;
    let argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
    let envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
    let devnull = std::fs::File::open("/dev/null").context("cannot open /dev/null")?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 with a valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot create a pipe");
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let io = [devnull.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
    let mounts: Vec<[*const libc::c_char; 2]> = p
        .isolation
        .iter()
        .flat_map(|i| i.mounts.iter().map(|(target, options)| [target.as_ptr(), options.as_ptr()]))
        .collect();
    let isolation = p.isolation.as_ref().map(|i| Isolation {
        uid_map: i.uid_map.as_bytes(),
        gid_map: i.gid_map.as_bytes(),
        mounts: &mounts,
    });
    let exec = Exec {
        program: p.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: p.cwd.as_ptr(),
        io,
        isolation: isolation.as_ref(),
    };
    // SAFETY: the child runs only `supervise`, which makes async-signal-safe
    // calls on memory prepared above and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("cannot fork a supervisor");
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { supervise(read_end.as_raw_fd(), write_end.as_raw_fd(), &exec) }
    }
    drop(read_end);
    Ok(Supervised { pid, lifeline: Some(write_end) })
}

/// Raw pointers into [`Prepared`], for the child.
struct Exec<'p> {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    /// stdin, stdout, stderr.
    io: [RawFd; 3],
    isolation: Option<&'p Isolation<'p>>,
}

/// [`PreparedIsolation`] borrowed for the child.
struct Isolation<'p> {
    uid_map: &'p [u8],
    gid_map: &'p [u8],
    /// Target and options of each mount, in order.
    mounts: &'p [[*const libc::c_char; 2]],
}

/// The supervisor: starts the job, then waits for it or for the lifeline to
/// break, and leaves nothing behind either way. Never returns.
///
/// # Safety
/// Only in a freshly forked child; `exec`'s pointers must be valid.
unsafe fn supervise(lifeline: RawFd, tool_end: RawFd, exec: &Exec) -> ! {
    libc::close(tool_end);
    // Out of the tool's process group (a Ctrl-C is the tool's to handle),
    // deaf to the terminal's signals, and the parent of every orphan below.
    libc::setpgid(0, 0);
    for s in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGHUP, libc::SIGTERM] {
        libc::signal(s, libc::SIG_IGN);
    }
    libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    // The tool may have died before the lifeline was ours.
    let mut probe = libc::pollfd { fd: lifeline, events: libc::POLLIN, revents: 0 };
    if libc::poll(&mut probe, 1, 0) > 0 {
        libc::_exit(KILLED_BY_SUPERVISOR);
    }
    let supervisor = libc::getpid();
    let job = libc::fork();
    if job == 0 {
        start_job(supervisor, exec);
    }
    if job < 0 {
        libc::_exit(CANNOT_EXEC);
    }
    // The job's group is the job's pid (it calls setpgid(0, 0) itself; do it
    // here too, so that a kill before it ran still reaches the group).
    libc::setpgid(job, job);
    // Keep nothing of the tool's but the lifeline: another job's lifeline
    // held here would keep that job alive after the tool died.
    if lifeline > 3 {
        libc::syscall(libc::SYS_close_range, 3u32, (lifeline - 1) as u32, 0u32);
    }
    libc::syscall(libc::SYS_close_range, (lifeline + 1) as u32, u32::MAX, 0u32);
    let mut wait = 1;
    loop {
        let mut pfd = libc::pollfd { fd: lifeline, events: libc::POLLIN, revents: 0 };
        if libc::poll(&mut pfd, 1, wait) > 0 {
            // End of file (or anything at all): the tool let go.
            kill_everything(job);
            libc::_exit(KILLED_BY_SUPERVISOR);
        }
        let mut status = 0;
        if libc::waitpid(job, &mut status, libc::WNOHANG) == job {
            // The job ended; whatever it left running goes too.
            kill_everything(job);
            if libc::WIFSIGNALED(status) {
                let s = libc::WTERMSIG(status);
                libc::signal(s, libc::SIG_DFL);
                libc::kill(supervisor, s);
                libc::_exit(128 + s);
            }
            libc::_exit(libc::WEXITSTATUS(status));
        }
        wait = (wait * 2).min(POLL_MS);
    }
}

/// The job's side of the fork: its own group, its descriptors, exec.
///
/// # Safety
/// Only in a freshly forked child.
unsafe fn start_job(supervisor: libc::pid_t, exec: &Exec) -> ! {
    libc::setpgid(0, 0);
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::getppid() != supervisor {
        libc::_exit(CANNOT_EXEC);
    }
    // Ignored signals stay ignored across exec: give the job the defaults.
    for s in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGHUP, libc::SIGTERM, libc::SIGPIPE] {
        libc::signal(s, libc::SIG_DFL);
    }
    for (target, fd) in exec.io.iter().enumerate() {
        libc::dup2(*fd, target as RawFd);
    }
    // Nothing else of the tool's leaks into the job.
    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    if let Some(isolation) = exec.isolation {
        isolate(isolation);
    }
    // After the mounts, so a working directory under one is the overlay's.
    if libc::chdir(exec.cwd) != 0 {
        libc::_exit(CANNOT_EXEC);
    }
    libc::execve(exec.program, exec.argv, exec.envp);
    libc::_exit(CANNOT_EXEC);
}

/// Puts the job in a user and mount namespace of its own whose overlays
/// stand over their lower directories, or exits with [`CANNOT_ISOLATE`]
/// after saying why on its stderr. Nothing outside the job sees the mounts,
/// and they vanish with it.
///
/// # Safety
/// Only in a freshly forked, single-threaded child.
unsafe fn isolate(isolation: &Isolation) {
    unsafe fn fail(what: &[u8]) -> ! {
        let errno = *libc::__errno_location();
        let prefix = ISOLATION_FAILURE.as_bytes();
        libc::write(2, prefix.as_ptr().cast(), prefix.len());
        libc::write(2, what.as_ptr().cast(), what.len());
        // ` (errno N)` without allocating.
        let mut digits = [0u8; 24];
        let mut at = digits.len();
        digits[at - 1] = b'\n';
        digits[at - 2] = b')';
        at -= 2;
        let mut n = errno.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let label = b" (errno ";
        libc::write(2, label.as_ptr().cast(), label.len());
        libc::write(2, digits[at..].as_ptr().cast(), digits.len() - at);
        libc::_exit(CANNOT_ISOLATE);
    }
    unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> bool {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
        if fd < 0 {
            return false;
        }
        let ok = libc::write(fd, bytes.as_ptr().cast(), bytes.len()) == bytes.len() as isize;
        libc::close(fd);
        ok
    }
    if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
        fail(b"unshare(CLONE_NEWUSER | CLONE_NEWNS) failed (user namespaces disabled?)");
    }
    if !write_file(c"/proc/self/uid_map", isolation.uid_map)
        || !write_file(c"/proc/self/setgroups", b"deny")
        || !write_file(c"/proc/self/gid_map", isolation.gid_map)
    {
        fail(b"cannot map the user's ids into the new user namespace");
    }
    // Nothing mounted here propagates back to the tool's namespace.
    if libc::mount(c"none".as_ptr(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null())
        != 0
    {
        fail(b"cannot make the mount namespace private");
    }
    for [target, options] in isolation.mounts {
        if libc::mount(c"overlay".as_ptr(), *target, c"overlay".as_ptr(), 0, options.cast()) != 0 {
            fail(b"mount -t overlay failed (overlayfs in user namespaces needs Linux 5.11)");
        }
    }
}

/// Kills the job's group and every process reparented to the supervisor,
/// until none is left (or [`KILL_ROUNDS`] passes).
///
/// # Safety
/// Only in the supervisor.
unsafe fn kill_everything(job: libc::pid_t) {
    libc::kill(-job, libc::SIGKILL);
    let mut buf = [0u8; 4096];
    for _ in 0..KILL_ROUNDS {
        // Reap what has ended; stop when no child is left.
        loop {
            let r = libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG);
            if r == 0 {
                break;
            }
            if r < 0 {
                return;
            }
        }
        // Kill every child still there (orphans reparented to us).
        let fd = libc::open(c"/proc/thread-self/children".as_ptr(), libc::O_RDONLY);
        if fd >= 0 {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            let mut pid: libc::pid_t = 0;
            for &b in buf.iter().take(n.max(0) as usize) {
                if b.is_ascii_digit() {
                    pid = pid * 10 + (b - b'0') as libc::pid_t;
                } else {
                    if pid > 0 {
                        libc::kill(-pid, libc::SIGKILL);
                        libc::kill(pid, libc::SIGKILL);
                    }
                    pid = 0;
                }
            }
            if pid > 0 {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let pause = libc::timespec { tv_sec: 0, tv_nsec: 10_000_000 };
        libc::nanosleep(&pause, std::ptr::null_mut());
    }
}
