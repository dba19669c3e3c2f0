//! Reading a user's `CMakeCache.txt` and deriving the configure command of a
//! sibling build that reproduces it.
//!
//! Sibling builds must be configured like the user's own (same generator,
//! compilers, launcher, build type, IREE options), or the numbers measured
//! with them would not be numbers of the user's compiler. This module owns
//! which cache entries carry over and how paths into the user's trees are
//! remapped to the slot's; running CMake is the caller's business.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) ty: String,
    pub(crate) value: String,
    /// The `//` help line above the entry.
    pub(crate) help: String,
}

/// Parsed cache: entries by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cache {
    pub(crate) entries: BTreeMap<String, Entry>,
}

/// CMake's help text for a `-D` whose variable the project never declared.
const FROM_COMMAND_LINE: &str = "No help, variable specified on the command line.";

impl Cache {
    pub(crate) fn parse(text: &str) -> Cache {
        let mut entries = BTreeMap::new();
        let mut help = String::new();
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("//") {
                if !help.is_empty() {
                    help.push(' ');
                }
                help.push_str(h.trim());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                help.clear();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            let (name, ty) = match key.rsplit_once(':') {
                Some((n, t)) => (n.trim_matches('"'), t),
                None => (key, "UNINITIALIZED"),
            };
            entries.insert(
                name.to_string(),
                Entry {
                    name: name.to_string(),
                    ty: ty.to_string(),
                    value: value.to_string(),
                    help: std::mem::take(&mut help),
                },
            );
        }
        Cache { entries }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.value.as_str())
    }

    pub(crate) fn generator(&self) -> Option<&str> {
        self.get("CMAKE_GENERATOR")
    }

    pub(crate) fn source_dir(&self) -> Option<&str> {
        self.get("CMAKE_HOME_DIRECTORY")
    }

    /// The compiler launcher, when one is set for C++ (or C).
    pub(crate) fn launcher(&self) -> Option<&str> {
        self.get("CMAKE_CXX_COMPILER_LAUNCHER")
            .or_else(|| self.get("CMAKE_C_COMPILER_LAUNCHER"))
            .filter(|v| !v.is_empty())
    }

    /// The `-D` arguments a sibling build needs to match this one: entries
    /// whose name starts with one of `prefixes`, and every variable the user
    /// set on the command line. Paths into the user's source or build tree
    /// are rewritten to the sibling's.
    pub(crate) fn inherited_args(
        &self,
        prefixes: &[String],
        user_src: &Path,
        user_build: &Path,
        slot_src: &Path,
        slot_build: &Path,
    ) -> Vec<String> {
        let under = |v: &str, root: &Path| -> Option<usize> {
            let r = root.to_string_lossy();
            let inside =
                !r.is_empty() && v.starts_with(r.as_ref()) && (v.len() == r.len() || v[r.len()..].starts_with('/'));
            inside.then_some(r.len())
        };
        let remap = |v: &str| -> String {
            // The build dir may sit inside the source dir: remap it first.
            if let Some(n) = under(v, user_build) {
                return format!("{}{}", slot_build.display(), &v[n..]);
            }
            if let Some(n) = under(v, user_src) {
                return format!("{}{}", slot_src.display(), &v[n..]);
            }
            v.to_string()
        };
        self.entries
            .values()
            .filter(|e| !matches!(e.ty.as_str(), "INTERNAL" | "STATIC"))
            .filter(|e| e.help == FROM_COMMAND_LINE || prefixes.iter().any(|p| e.name.starts_with(p.as_str())))
            .map(|e| {
                if e.ty == "UNINITIALIZED" {
                    format!("-D{}={}", e.name, remap(&e.value))
                } else {
                    format!("-D{}:{}={}", e.name, e.ty, remap(&e.value))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CACHE: &str = "\
# This is the CMakeCache file.
//Choose the type of build.
CMAKE_BUILD_TYPE:STRING=RelWithDebInfo
//CXX compiler
CMAKE_CXX_COMPILER:FILEPATH=/usr/bin/c++
//No help, variable specified on the command line.
CMAKE_CXX_COMPILER_LAUNCHER:UNINITIALIZED=ccache
//Build Python bindings
IREE_BUILD_PYTHON_BINDINGS:BOOL=ON
//Path to a file.
IREE_SOME_FILE:FILEPATH=/home/u/iree/third_party/x.txt
//No help, variable specified on the command line.
MY_FLAG:STRING=7
//Some project-internal thing
OTHER_OPTION:BOOL=OFF
//Name of generator.
CMAKE_GENERATOR:INTERNAL=Ninja
CMAKE_HOME_DIRECTORY:INTERNAL=/home/u/iree
";

    #[test]
    fn carries_user_options_and_remaps_paths() {
        let c = Cache::parse(CACHE);
        assert_eq!(c.generator(), Some("Ninja"));
        assert_eq!(c.launcher(), Some("ccache"));
        let prefixes = vec!["IREE_".to_string(), "CMAKE_BUILD_TYPE".to_string(), "CMAKE_CXX_COMPILER".to_string()];
        let args = c.inherited_args(
            &prefixes,
            Path::new("/home/u/iree"),
            Path::new("/home/u/iree-build"),
            Path::new("/w/slot-0/iree"),
            Path::new("/w/slot-0/iree-build"),
        );
        assert_eq!(
            args,
            vec![
                "-DCMAKE_BUILD_TYPE:STRING=RelWithDebInfo",
                "-DCMAKE_CXX_COMPILER:FILEPATH=/usr/bin/c++",
                "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
                "-DIREE_BUILD_PYTHON_BINDINGS:BOOL=ON",
                "-DIREE_SOME_FILE:FILEPATH=/w/slot-0/iree/third_party/x.txt",
                "-DMY_FLAG:STRING=7",
            ]
        );
    }
}
