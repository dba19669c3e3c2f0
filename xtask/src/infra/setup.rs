//! Installing what the fixture and the tests need beyond Rust, so that the
//! README's two commands work on a fresh Debian or Ubuntu machine: each
//! missing tool's package is installed with apt-get (as root, or with a
//! sudo that asks no password), saying what and why; where that cannot be
//! done, the error is the one command that does it.

use crate::infra::proc::{self, Job};
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Duration;

/// A tool, and the Debian package that provides it.
pub(crate) struct Need {
    pub(crate) tool: &'static str,
    pub(crate) package: &'static str,
}

/// What building and benchmarking the fixture needs.
pub(crate) const FIXTURE: &[Need] = &[
    Need { tool: "cmake", package: "cmake" },
    Need { tool: "ninja", package: "ninja-build" },
    Need { tool: "c++", package: "g++" },
    Need { tool: "python3", package: "python3" },
    Need { tool: "git", package: "git" },
    // Points a kept build's RPATHs at its own libraries (validate).
    Need { tool: "patchelf", package: "patchelf" },
    // Not strictly needed, but it makes every slot's first build and the
    // tests' fixture builds cheap.
    Need { tool: "ccache", package: "ccache" },
];

/// What the tests need beyond the fixture: a browser for report.html,
/// clang-format for the generated C++, venv for the PyPI compiler.
pub(crate) const TESTS: &[Need] = &[
    Need { tool: "chromium", package: "chromium" },
    Need { tool: "clang-format", package: "clang-format" },
    // Debian's python3 has the venv module but not ensurepip, without which
    // `python3 -m venv` makes an environment with no pip in it.
    Need { tool: "python3 -m ensurepip", package: "python3-venv" },
];

/// How long an install may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);

fn present(need: &Need) -> bool {
    match need.tool.split_once(' ') {
        // A module of a tool: ask the tool.
        Some((program, rest)) => {
            let mut args: Vec<&str> = rest.split_whitespace().collect();
            args.push("--help");
            let job = Job::new(program, Path::new("/"), Path::new("/dev/null"), proc::QUERY_TIMEOUT).args(args);
            proc::capture(&job).is_ok_and(|c| c.success())
        }
        None => proc::which(need.tool).is_some(),
    }
}

/// Installs the packages of the tools in `needs` that are missing, for
/// `why`; `log` gets apt-get's output.
pub(crate) fn ensure(needs: &[Need], why: &str, log: &Path) -> Result<()> {
    let missing: Vec<&Need> = needs.iter().filter(|n| !present(n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    let root = unsafe { libc::geteuid() } == 0;
    let sudo = !root && proc::which("sudo").is_some() && quiet_ok("sudo", &["-n", "true"]);
    let command = format!(
        "{}apt-get update && {}apt-get install -y --no-install-recommends {}",
        if root { "" } else { "sudo " },
        if root { "" } else { "sudo " },
        packages.join(" ")
    );
    if proc::which("apt-get").is_none() || !(root || sudo) {
        bail!(
            "{} {} missing ({why}); install {}, e.g. `{command}`",
            missing.iter().map(|n| format!("`{}`", n.tool)).collect::<Vec<_>>().join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            if missing.len() == 1 { "it" } else { "them" }
        );
    }
    eprintln!("installing {} with apt-get ({why}); log: `{}`", packages.join(", "), log.display());
    let prefix: Vec<&str> = if root { vec![] } else { vec!["sudo", "-n"] };
    let apt = |args: &[&str]| -> Result<bool> {
        let argv: Vec<&str> = prefix.iter().copied().chain(["apt-get"]).chain(args.iter().copied()).collect();
        let job = Job::new(argv[0], Path::new("/"), log, INSTALL_TIMEOUT)
            .args(argv[1..].iter().copied())
            .env("DEBIAN_FRONTEND", "noninteractive");
        Ok(proc::run(&job)?.success())
    };
    let installed = apt(&["update", "-qq"])?
        && apt(&["install", "-y", "-qq", "--no-install-recommends"]
            .iter()
            .copied()
            .chain(packages.iter().copied())
            .collect::<Vec<_>>())?;
    let still: Vec<&str> = missing.iter().filter(|n| !present(n)).map(|n| n.tool).collect();
    if !installed || !still.is_empty() {
        bail!(
            "apt-get could not install {} (see `{}`); run `{command}` yourself and rerun",
            packages.join(", "),
            log.display()
        );
    }
    Ok(())
}

fn quiet_ok(program: &str, args: &[&str]) -> bool {
    let job = Job::new(program, Path::new("/"), Path::new("/dev/null"), proc::QUERY_TIMEOUT).args(args.iter().copied());
    proc::capture(&job).is_ok_and(|c| c.success())
}
