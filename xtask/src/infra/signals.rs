//! Ctrl-C and SIGTERM: the first one asks the tool to stop cleanly (kill
//! its children, keep what finished, say how to resume); a second one ends
//! it at once. The waits in [`crate::infra::proc`] and the commands' loops
//! check [`check`]. signal-hook does the handler (async-signal-safe flag
//! setting), not hand-written code.

use anyhow::Result;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The tool was asked to stop by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interrupted {
    pub(crate) signal: i32,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.signal == libc::SIGINT { "Ctrl-C (SIGINT)" } else { "SIGTERM" };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

impl Interrupted {
    /// The exit code a shell expects: 128 + the signal.
    pub(crate) fn exit_code(self) -> i32 {
        128 + self.signal
    }
}

fn received() -> &'static Arc<AtomicUsize> {
    static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Installs the handlers (once per process).
pub(crate) fn install() -> Result<()> {
    static ARMED: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if ARMED.get().is_some() {
        return Ok(());
    }
    let armed = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the tool at once; the first only arms that.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&armed))?;
        signal_hook::flag::register(signal, Arc::clone(&armed))?;
        signal_hook::flag::register_usize(signal, Arc::clone(received()), signal as usize)?;
    }
    let _ = ARMED.set(armed);
    Ok(())
}

/// Fails with [`Interrupted`] once a signal arrived.
pub(crate) fn check() -> Result<(), Interrupted> {
    match received().load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Interrupted { signal: signal as i32 }),
    }
}
