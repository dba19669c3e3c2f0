//! Progress display for long work: a bar with an ETA on a terminal, plain
//! lines otherwise (CI logs, tests), both through the same calls. Builds
//! report their progress from ninja's `[n/N]` lines in their log
//! ([`BuildSteps`]), so a cold build of hours says how far it is.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Without a terminal, a build's progress is printed as a line at most this
/// often: enough to show that a long build moves, few enough for a log.
const PLAIN_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct Progress {
    bar: ProgressBar,
    tty: bool,
    /// A bar of its own for one build ([`Progress::for_build`]): its length
    /// is the build's steps.
    of_build: bool,
    /// When the last plain progress line was printed (without a terminal).
    printed: Mutex<Option<Instant>>,
    /// Put before every logged line (which of several interleaved runs).
    prefix: String,
}

impl Progress {
    pub(crate) fn new(total: u64, what: &str) -> Progress {
        Progress::styled(
            total,
            &format!("{what} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} ETA {{eta}} {{msg}}"),
            false,
        )
    }

    /// A bar for one build, which counts ninja's steps.
    pub(crate) fn for_build(what: &str) -> Progress {
        Progress::styled(
            0,
            &format!("{what} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} build steps, ETA {{eta}}"),
            true,
        )
    }

    fn styled(total: u64, template: &str, of_build: bool) -> Progress {
        let bar = ProgressBar::new(total);
        let tty = std::io::stderr().is_terminal();
        if tty {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar, tty, of_build, printed: Mutex::new(None), prefix: String::new() }
    }

    /// Another handle on this bar, `more` steps longer: interleaved work
    /// (the targets of one sweep) shows as one bar, each part logging with
    /// its own prefix.
    pub(crate) fn sharing(&self, more: u64) -> Progress {
        self.bar.inc_length(more);
        Progress {
            bar: self.bar.clone(),
            tty: self.tty,
            of_build: self.of_build,
            printed: Mutex::new(None),
            prefix: String::new(),
        }
    }

    /// Puts `prefix` before every line this progress logs.
    pub(crate) fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    /// Prints a line above the bar (or plainly when there is no bar).
    pub(crate) fn log(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{}{line}", self.prefix));
    }

    pub(crate) fn message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    pub(crate) fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Shows how far the build `what` is: on a terminal in this bar (its
    /// position, or its message when it counts something else), else as a
    /// plain line every [`PLAIN_EVERY`].
    pub(crate) fn build_steps(&self, what: &str, steps: &BuildSteps) {
        let Some(line) = steps.line(what) else { return };
        if self.tty && self.of_build {
            self.bar.set_length(steps.total);
            self.bar.set_position(steps.done);
            return;
        }
        if self.tty {
            self.message(&line);
            return;
        }
        // A poisoned lock only means a thread panicked while printing.
        let mut printed = self.printed.lock().unwrap_or_else(|e| e.into_inner());
        if printed.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) && steps.started.elapsed() >= PLAIN_EVERY {
            eprintln!("{line}");
            *printed = Some(Instant::now());
        }
    }
}

/// How far a ninja build is, read from the `[n/N]` lines it appends to its
/// log (CMake's `--build` passes them through).
pub(crate) struct BuildSteps {
    log: PathBuf,
    offset: u64,
    /// The last line read, when it had no newline yet.
    partial: String,
    started: Instant,
    pub(crate) done: u64,
    pub(crate) total: u64,
}

impl BuildSteps {
    /// Follows `log` from its current end: what an earlier job wrote there
    /// is not this build's.
    pub(crate) fn follow(log: &Path) -> BuildSteps {
        let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        BuildSteps {
            log: log.to_path_buf(),
            offset,
            partial: String::new(),
            started: Instant::now(),
            done: 0,
            total: 0,
        }
    }

    /// Reads what the build wrote since the last call. A log that cannot be
    /// read only means no progress is shown.
    pub(crate) fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.log) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut bytes = Vec::new();
        let Ok(n) = f.read_to_end(&mut bytes) else { return };
        self.offset += n as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let complete = self.partial.rfind('\n').map_or(0, |i| i + 1);
        if let Some((done, total)) = last_step(&self.partial[..complete]) {
            (self.done, self.total) = (done, total);
        }
        self.partial.drain(..complete);
    }

    /// "what: 120/480 build steps, 1m 02s elapsed, ETA 4m 08s", or nothing
    /// before ninja's first step.
    pub(crate) fn line(&self, what: &str) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let elapsed = self.started.elapsed();
        let eta = match self.done {
            0 => "unknown".to_string(),
            d => clock(elapsed.mul_f64((self.total.saturating_sub(d)) as f64 / d as f64)),
        };
        Some(format!("{what}: {}/{} build steps, {} elapsed, ETA {eta}", self.done, self.total, clock(elapsed)))
    }
}

/// The last ninja status (`[n/N] ...` at a line's start) in `text`.
fn last_step(text: &str) -> Option<(u64, u64)> {
    text.lines().rev().find_map(|l| {
        let (n, rest) = l.strip_prefix('[')?.split_once('/')?;
        let (total, _) = rest.split_once(']')?;
        Some((n.parse().ok()?, total.parse().ok()?))
    })
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninja_status_lines_give_the_steps() {
        let log = "$ cmake --build b\n[1/480] Building CXX object a.o\nwarning: [-Wfoo] x\n[12/480] Linking CXX executable tools/iree-opt\nlast\n";
        assert_eq!(last_step(log), Some((12, 480)));
        assert_eq!(last_step("ninja: no work to do.\n"), None);
        assert_eq!(last_step("[x/3] no\n"), None);
    }

    #[test]
    fn a_followed_log_reads_only_what_comes_after_and_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        std::fs::write(&log, "[9/9] an earlier build\n").unwrap();
        let mut steps = BuildSteps::follow(&log);
        steps.poll();
        assert_eq!(steps.line("x"), None, "the earlier build's steps are not this one's");
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        write!(f, "[3/40] a\n[4/4").unwrap();
        steps.poll();
        assert_eq!((steps.done, steps.total), (3, 40));
        writeln!(f, "0] b").unwrap();
        steps.poll();
        assert_eq!((steps.done, steps.total), (4, 40));
        assert!(steps.line("fixture").unwrap().starts_with("fixture: 4/40 build steps, "));
    }

    #[test]
    fn clocks_read_like_a_person_wrote_them() {
        assert_eq!(clock(Duration::from_secs(42)), "42s");
        assert_eq!(clock(Duration::from_secs(62)), "1m 02s");
        assert_eq!(clock(Duration::from_secs(7500)), "2h 05m");
    }
}
