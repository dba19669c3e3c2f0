//! Progress display for long work: a bar with an ETA on a terminal, plain
//! lines otherwise (CI logs, tests), both through the same calls.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub(crate) fn new(total: u64, what: &str) -> Progress {
        let bar = ProgressBar::new(total);
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{what} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} ETA {{eta}} {{msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar }
    }

    /// Prints a line above the bar (or plainly when there is no bar).
    pub(crate) fn log(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
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
}
