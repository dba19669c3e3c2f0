//! Where a run's numbers come from, as the report, the patch message and
//! the PR description say it: the GPU and its driver, iree-turbine, the
//! build, this tool, and the commands files by name and hash (never a
//! local path); and the command sequence that reproduces the run from a
//! fresh clone of the tool with the flags that were used.

use crate::core::numfmt::short;
use crate::core::results::{Provenance, Results, UNKNOWN};
use crate::core::validation::Validation;

/// Lines like `GPU: ... (driver ..., from amd-smi)`, one fact each; runs of
/// earlier versions, which recorded none, say so.
pub(crate) fn facts(results: &Results) -> Vec<String> {
    let files: Vec<String> =
        results.files().iter().map(|f| format!("{} (sha256 {})", f.name, short(&f.sha256, 16))).collect();
    let commands = format!("Commands files: {}", files.join(", "));
    let Some(p) = &results.provenance else {
        return vec![format!("Device: {} (this run predates provenance records)", results.bench.device), commands];
    };
    let options: Vec<String> = p.build_options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let options = if options.is_empty() { String::new() } else { format!(", {}", options.join(", ")) };
    vec![
        format!(
            "GPU: {} (driver {}; device {}; from {})",
            p.gpu.model, p.gpu.driver, results.bench.device, p.gpu.source
        ),
        format!("iree-turbine: {}", p.turbine_version),
        format!("Build: CMAKE_BUILD_TYPE={}{options}", p.build_type),
        format!("Tool: split-reduction-tuner {} ({})", p.tool.version, tool_commit(p)),
        commands,
    ]
}

fn tool_commit(p: &Provenance) -> String {
    match p.tool.commit.as_str() {
        UNKNOWN => "commit unknown".into(),
        c => format!("commit {}", short(c, 12)),
    }
}

/// The facts as a Markdown list.
pub(crate) fn list(results: &Results) -> String {
    facts(results).iter().map(|f| format!("- {f}\n")).collect()
}

/// The command sequence that reproduces the run: a fresh clone of the
/// tool at its commit, then sweep, analyze and validate with the flags the
/// run used, at the tuned commit of the user's checkout.
pub(crate) fn reproduce(results: &Results, v: Option<&Validation>) -> String {
    let p = results.provenance.clone().unwrap_or_default();
    let inv = &p.invocation;
    let mut out = String::from("```sh\n");
    let origin = p.tool.origin.as_deref().unwrap_or("<split-reduction-tuner repository>");
    out.push_str(&format!("git clone {origin} split-reduction-tuner && cd split-reduction-tuner\n"));
    if !matches!(p.tool.commit.as_str(), "" | UNKNOWN) {
        out.push_str(&format!("git checkout {}\n", p.tool.commit.trim_end_matches("-dirty")));
    }
    let mut global = Vec::new();
    if inv.fixture {
        global.push("--fixture".to_string());
    } else {
        let config = inv.config.as_deref().unwrap_or("tuner.toml");
        out.push_str(&format!("# {config}: `target.iree` = your IREE checkout, `build.dir` = its build\n"));
        if inv.config.is_some() {
            global.push(format!("--config {config}"));
        }
    }
    global.push(format!("--rev {}", short(&results.target.commit, 12)));
    if !inv.heuristics.is_empty() {
        let hs: Vec<String> = inv.heuristics.iter().map(ToString::to_string).collect();
        global.push(format!("--heuristics {}", hs.join(",")));
    }
    if inv.repeats > 0 {
        global.push(format!("--repeats {}", inv.repeats));
    }
    let files: Vec<String> =
        results.files().iter().map(|f| f.bundled.clone().unwrap_or_else(|| f.name.clone())).collect();
    let limits: Vec<String> = results.candidates.iter().filter_map(|c| c.limit).map(|l| l.to_string()).collect();
    let run = &results.run;
    let g = global.join(" ");
    let skip = if inv.skip_bad_lines { " --skip-bad-lines" } else { "" };
    let remeasure = if inv.remeasure_repeats == Some(0) { " --no-remeasure" } else { "" };
    out.push_str(&format!(
        "cargo xtask {g} sweep {} --limits {} --name {run}{skip}{remeasure}\n",
        files.join(" "),
        limits.join(",")
    ));
    out.push_str(&format!("cargo xtask {g} analyze {run}\n"));
    if let Some(v) = v {
        let update = v.tests.as_ref().is_some_and(|t| !t.updated.is_empty());
        let update = if update { " --update-tests" } else { "" };
        let rounds = v.rounds.last().map_or(0, |r| r.summary.rounds);
        out.push_str(&format!("cargo xtask {g} validate {run} --rounds {rounds}{update}\n"));
    }
    out.push_str("```\n");
    if inv.low_parallelism {
        out.push_str("\nWith `heuristics.low_parallelism = true` in the configuration.\n");
    }
    match inv.remeasure_repeats {
        Some(n) if n > 0 && n != crate::core::remeasure::REMEASURE_REPEATS => {
            out.push_str(&format!("\nWith `sweep.remeasure_repeats = {n}` in the configuration.\n"));
        }
        _ => {}
    }
    let own: Vec<String> = results.files().into_iter().filter(|f| f.bundled.is_none()).map(|f| f.name).collect();
    if !own.is_empty() {
        out.push_str(&format!(
            "\n{} {} not bundled with the tool: use the same commands (sha256 above).\n",
            own.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            if own.len() == 1 { "is" } else { "are" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::core::testdata::{synthetic, CURRENT, FULL};

    #[test]
    fn the_reproduction_repeats_how_ambiguous_pairs_were_measured() {
        let mut results = synthetic(CURRENT, &FULL);
        let sweep_line = |r: &crate::core::results::Results| {
            super::reproduce(r, None).lines().find(|l| l.contains(" sweep ")).unwrap_or_default().to_string()
        };
        assert!(!sweep_line(&results).contains("remeasure"));
        let inv = &mut results.provenance.as_mut().expect("synthetic provenance").invocation;
        inv.remeasure_repeats = Some(0);
        assert!(sweep_line(&results).ends_with(" --no-remeasure"), "{}", sweep_line(&results));
        let inv = &mut results.provenance.as_mut().expect("synthetic provenance").invocation;
        inv.remeasure_repeats = Some(3);
        assert!(super::reproduce(&results, None).contains("`sweep.remeasure_repeats = 3`"));
    }
}
