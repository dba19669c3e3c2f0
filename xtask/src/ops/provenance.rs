//! Gathering a run's provenance at the start of a sweep: the GPU and its
//! driver (asking `amd-smi`, `rocm-smi` or `nvidia-smi`, whichever is on
//! `PATH`), iree-turbine's version in the benchmark's interpreter, the
//! user's build type and key options, this tool's version, commit and
//! public repository, and how the sweep was invoked. A fact nothing can
//! tell is recorded as `unknown`, never guessed, and never stops the
//! sweep. Reading the tools' output is [`crate::core::provenance`]'s.

use super::context::{workspace, Ctx};
use crate::config::Config;
use crate::core::provenance as parse;
use crate::core::results::{Gpu, Invocation, Provenance, Tool, UNKNOWN};
use crate::core::TOOL_VERSION;
use crate::infra::build;
use crate::infra::proc::{self, Job};
use std::path::Path;
use std::time::Duration;

/// How long a vendor tool or an interpreter may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The provenance of a sweep about to start with `invocation`.
pub(crate) fn collect(ctx: &Ctx, invocation: Invocation) -> Provenance {
    let config = &ctx.config;
    let (build_type, build_options) = match build::user_cache(config) {
        Ok(Some(cache)) => parse::build_options(&cache),
        _ => (UNKNOWN.to_string(), Default::default()),
    };
    Provenance {
        gpu: gpu(&config.bench.devices[0]),
        turbine_version: turbine_version(config),
        build_type,
        build_options,
        tool: tool(&workspace()),
        invocation,
    }
}

/// Runs a probe; its stdout when it succeeded.
fn probe(program: &str, args: &[&str], env: &[(&str, String)]) -> Option<String> {
    let mut job = Job::new(program, &std::env::temp_dir(), Path::new("/dev/null"), PROBE_TIMEOUT).args(args);
    for (k, v) in env {
        job = job.env(k, v);
    }
    let out = proc::capture(&job).ok()?;
    out.success().then_some(out.stdout)
}

/// The GPU of `device` as the first vendor tool on `PATH` reports it.
fn gpu(device: &str) -> Gpu {
    type Reader = fn(&str, &str) -> (Option<String>, Option<String>);
    let tools: [(&str, &[&str], Reader); 3] = [
        ("amd-smi", &["static", "--asic", "--driver"], parse::amd_smi),
        ("rocm-smi", &["--showproductname", "--showdriverversion"], parse::rocm_smi),
        ("nvidia-smi", &["--query-gpu=name,driver_version", "--format=csv,noheader"], parse::nvidia_smi),
    ];
    for (tool, args, read) in tools {
        if proc::which(tool).is_none() {
            continue;
        }
        let (model, driver) = probe(tool, args, &[]).map(|out| read(&out, device)).unwrap_or((None, None));
        return Gpu {
            model: model.unwrap_or_else(|| UNKNOWN.into()),
            driver: driver.unwrap_or_else(|| UNKNOWN.into()),
            source: tool.to_string(),
        };
    }
    Gpu {
        model: UNKNOWN.into(),
        driver: UNKNOWN.into(),
        source: "none of amd-smi, rocm-smi, nvidia-smi is on PATH".into(),
    }
}

/// iree-turbine's version as the benchmark's interpreter sees it (its
/// package metadata, else the module's `__version__`).
fn turbine_version(config: &Config) -> String {
    const SCRIPT: &str = "import importlib.metadata as m\ntry:\n    print(m.version('iree-turbine'))\nexcept \
                          Exception:\n    import iree.turbine as t\n    print(getattr(t, '__version__', 'unknown'))\n";
    let mut path: Vec<String> = config.bench.pythonpath.clone();
    path.extend(std::env::var("PYTHONPATH").ok().filter(|p| !p.is_empty()));
    let env = [("PYTHONPATH", path.join(":"))];
    probe(&config.bench.python, &["-c", SCRIPT], &env)
        .map(|out| out.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| UNKNOWN.into())
}

/// This tool: its version, its commit (`-dirty` with local changes to
/// tracked files) and its public repository.
fn tool(workspace: &Path) -> Tool {
    let dir = workspace.to_string_lossy().into_owned();
    let git = |args: &[&str]| {
        let mut all = vec!["-C", dir.as_str()];
        all.extend(args);
        probe("git", &all, &[]).map(|o| o.trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).map(|c| {
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        if dirty {
            format!("{c}-dirty")
        } else {
            c
        }
    });
    Tool {
        version: TOOL_VERSION.to_string(),
        commit: commit.unwrap_or_else(|| UNKNOWN.into()),
        origin: git(&["remote", "get-url", "origin"]).and_then(|u| parse::public_url(&u)),
    }
}
