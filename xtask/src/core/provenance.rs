//! Provenance, read from what the vendor tools and the build say: the GPU's
//! model and driver from `amd-smi`, `rocm-smi` or `nvidia-smi` output, the
//! build's type and key options from its CMake cache, and the tool's own
//! repository as a URL a reviewer can clone (never a local path, never
//! credentials). Pure: text in, facts out; running the tools is
//! `ops::provenance`'s, and what the facts look like in a document is
//! `report`'s.

use crate::core::cmake::Cache;
use std::collections::BTreeMap;

/// The GPU model and driver version `nvidia-smi --query-gpu=name,driver_version
/// --format=csv,noheader` printed, for device `device` (its line, in
/// index order) or else the first.
pub(crate) fn nvidia_smi(stdout: &str, device: &str) -> (Option<String>, Option<String>) {
    let lines: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let index = device.parse::<usize>().ok().filter(|&i| i < lines.len()).unwrap_or(0);
    let Some(line) = lines.get(index) else { return (None, None) };
    match line.rsplit_once(',') {
        Some((name, driver)) => (nonempty(name), nonempty(driver)),
        None => (nonempty(line), None),
    }
}

/// The card series and driver version `rocm-smi --showproductname
/// --showdriverversion` printed (`GPU[0] : Card Series: AMD Instinct
/// MI300X`, `Driver version: 6.7.0`), preferring device `device`'s lines.
pub(crate) fn rocm_smi(stdout: &str, device: &str) -> (Option<String>, Option<String>) {
    let value = |line: &str, key: &str| -> Option<String> {
        let lower = line.to_ascii_lowercase();
        let at = lower.find(&key.to_ascii_lowercase())?;
        nonempty(&line[at + key.len()..])
    };
    let mine = format!("GPU[{device}]");
    let series = |only_mine: bool| {
        stdout.lines().filter(|l| !only_mine || l.contains(&mine)).find_map(|l| value(l, "Card Series:"))
    };
    let model = series(true).or_else(|| series(false));
    let driver = stdout.lines().find_map(|l| value(l, "Driver version:"));
    (model, driver)
}

/// `MARKET_NAME` and the driver's `VERSION` of device `device` from `amd-smi
/// static --asic --driver` (YAML-like: `GPU: 0`, then indented sections
/// `ASIC:` and `DRIVER:`), else of the first device.
pub(crate) fn amd_smi(stdout: &str, device: &str) -> (Option<String>, Option<String>) {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in stdout.lines() {
        match line.trim().strip_prefix("GPU:") {
            Some(id) if !line.starts_with(' ') => sections.push((id.trim().to_string(), Vec::new())),
            _ => match sections.last_mut() {
                Some((_, lines)) => lines.push(line),
                None => sections.push((String::new(), vec![line])),
            },
        }
    }
    let Some((_, lines)) = sections.iter().find(|(id, _)| id == device).or(sections.first()) else {
        return (None, None);
    };
    let field = |l: &str, key: &str| l.trim().strip_prefix(key).and_then(nonempty);
    let model = lines.iter().find_map(|l| field(l, "MARKET_NAME:"));
    let mut in_driver = false;
    let mut driver = None;
    for l in lines {
        let t = l.trim();
        if t.ends_with(':') && !t.contains(' ') {
            in_driver = t == "DRIVER:";
        } else if in_driver && driver.is_none() {
            driver = field(l, "VERSION:");
        }
    }
    (model, driver)
}

fn nonempty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "N/A").then(|| t.to_string())
}

/// Options that change what the compiler does or how fast it builds, named
/// exactly: any value they have is shown.
const KEY_OPTIONS: [&str; 5] = [
    "IREE_ENABLE_ASSERTIONS",
    "IREE_BUILD_PYTHON_BINDINGS",
    "IREE_COMPILER_BUILD_SHARED_LIBS",
    "LLVM_ENABLE_ASSERTIONS",
    "IREE_ENABLE_RUNTIME_TRACING",
];

/// Families of options of which only the enabled ones are shown: a real
/// IREE cache lists every backend and driver, mostly off.
const KEY_FAMILIES: [&str; 2] = ["IREE_TARGET_BACKEND_", "IREE_HAL_DRIVER_"];

/// The build type and the key options of a build, from its cache. Values
/// that are paths are left out (they name the user's machine), except the
/// compiler launcher, shown by its program name.
pub(crate) fn build_options(cache: &Cache) -> (String, BTreeMap<String, String>) {
    let mut out = BTreeMap::new();
    for (name, entry) in &cache.entries {
        let on = matches!(entry.value.to_ascii_uppercase().as_str(), "ON" | "TRUE" | "1" | "YES");
        let wanted = KEY_OPTIONS.contains(&name.as_str()) || KEY_FAMILIES.iter().any(|f| name.starts_with(f) && on);
        if wanted && !entry.value.contains('/') {
            out.insert(name.clone(), entry.value.clone());
        }
    }
    if let Some(launcher) = cache.launcher() {
        let program = launcher.rsplit('/').next().unwrap_or(launcher);
        out.insert("CMAKE_CXX_COMPILER_LAUNCHER".into(), program.to_string());
    }
    let build_type = cache.get("CMAKE_BUILD_TYPE").filter(|t| !t.is_empty()).unwrap_or("unset").to_string();
    (build_type, out)
}

/// A git remote as a reviewer may see it: URLs only (a local path names the
/// user's machine), with any credentials taken out.
pub(crate) fn public_url(remote: &str) -> Option<String> {
    let remote = remote.trim();
    if let Some((scheme, rest)) = remote.split_once("://") {
        if scheme == "file" || rest.is_empty() {
            return None;
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
        return Some(format!("{scheme}://{host}/{path}"));
    }
    // scp-like `git@host:owner/repo.git`.
    let (user_host, path) = remote.split_once(':')?;
    (user_host.contains('@') && !user_host.contains('/') && !path.is_empty()).then(|| remote.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_tools_outputs() {
        let nv = "NVIDIA H100 80GB HBM3, 550.54.15\nNVIDIA H100 80GB HBM3, 550.54.15\n";
        assert_eq!(nvidia_smi(nv, "1"), (Some("NVIDIA H100 80GB HBM3".into()), Some("550.54.15".into())));
        let rocm = "===== Product Info =====\nGPU[0]\t\t: Card Series: \t\tAMD Instinct MI300X VF\n\
                    GPU[1]\t\t: Card Series: \t\tAMD Instinct MI300X\nGPU[0]\t\t: Card Model: 0x74b5\n\
                    ===== Version Info =====\nDriver version: 6.7.0\n";
        assert_eq!(rocm_smi(rocm, "1"), (Some("AMD Instinct MI300X".into()), Some("6.7.0".into())));
        assert_eq!(rocm_smi(rocm, "7").0.as_deref(), Some("AMD Instinct MI300X VF"));
        let amd = "GPU: 0\n    ASIC:\n        MARKET_NAME: AMD Instinct MI300X\n        VENDOR_ID: 0x1002\n    \
                   DRIVER:\n        NAME: amdgpu\n        VERSION: 6.8.5\n\nGPU: 1\n    ASIC:\n        \
                   MARKET_NAME: AMD Instinct MI325X\n    DRIVER:\n        NAME: amdgpu\n        VERSION: 6.8.6\n";
        assert_eq!(amd_smi(amd, "1"), (Some("AMD Instinct MI325X".into()), Some("6.8.6".into())));
        assert_eq!(amd_smi(amd, "0"), (Some("AMD Instinct MI300X".into()), Some("6.8.5".into())));
        assert_eq!(amd_smi("", "0"), (None, None));
    }

    #[test]
    fn build_options_leave_out_paths_and_disabled_backends() {
        let cache = Cache::parse(
            "CMAKE_BUILD_TYPE:STRING=RelWithDebInfo\nIREE_ENABLE_ASSERTIONS:BOOL=ON\n\
             IREE_TARGET_BACKEND_ROCM:BOOL=ON\nIREE_TARGET_BACKEND_CUDA:BOOL=OFF\n\
             IREE_BUILD_PYTHON_BINDINGS:BOOL=ON\nIREE_HAL_DRIVER_HIP:BOOL=ON\n\
             CMAKE_CXX_COMPILER_LAUNCHER:FILEPATH=/usr/bin/ccache\nPython3_EXECUTABLE:FILEPATH=/home/me/venv/bin/python\n",
        );
        let (ty, opts) = build_options(&cache);
        assert_eq!(ty, "RelWithDebInfo");
        let listed: Vec<String> = opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            listed,
            [
                "CMAKE_CXX_COMPILER_LAUNCHER=ccache",
                "IREE_BUILD_PYTHON_BINDINGS=ON",
                "IREE_ENABLE_ASSERTIONS=ON",
                "IREE_HAL_DRIVER_HIP=ON",
                "IREE_TARGET_BACKEND_ROCM=ON"
            ]
        );
    }

    #[test]
    fn remotes_become_urls_without_credentials_or_local_paths() {
        assert_eq!(
            public_url("https://user:token@github.com/me/split-reduction-tuner.git").as_deref(),
            Some("https://github.com/me/split-reduction-tuner.git")
        );
        assert_eq!(public_url("git@github.com:me/tuner.git").as_deref(), Some("git@github.com:me/tuner.git"));
        assert_eq!(public_url("/home/me/src/tuner"), None);
        assert_eq!(public_url("file:///home/me/src/tuner"), None);
        assert_eq!(public_url("../tuner"), None);
    }
}
