//! The architecture's rules, checked on the source (ARCHITECTURE.md,
//! "Invariants"): the core imports nothing from infra, ops, config or the
//! commands; commands do not import each other; only `infra::proc` uses
//! `std::process::Command`; no function outside tests is over 100 lines.
//! Each rule is a function over one file's text, so the self-tests at the
//! end can show it fails on a sample that breaks it.

use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::visit::Visit;

/// Longest function body allowed outside tests, in lines.
const MAX_FN_LINES: usize = 100;

/// Layers the core must not reach.
const ABOVE_CORE: [&str; 4] = ["infra", "ops", "config", "commands"];

/// A source file of the crate and its module path (`["core", "fit", "dp"]`).
struct Source {
    path: PathBuf,
    module: Vec<String>,
    text: String,
}

/// Modules declared `#[cfg(test)] mod name;` in `text`: their files are
/// tests as a whole.
fn test_modules(module: &[String], text: &str) -> Vec<Vec<String>> {
    let file = syn::parse_file(text).expect("the crate's sources parse");
    file.items
        .iter()
        .filter_map(|i| match i {
            syn::Item::Mod(m) if m.content.is_none() && is_test(&m.attrs) => {
                Some(module.iter().cloned().chain(std::iter::once(m.ident.to_string())).collect())
            }
            _ => None,
        })
        .collect()
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap().with_extension("");
                let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                if module.last().is_some_and(|m| m == "mod" || m == "lib" || m == "main") {
                    module.pop();
                }
                out.push(Source { text: std::fs::read_to_string(&p).unwrap(), path: p, module });
            }
        }
    }
    out
}

/// Whether attributes mark test-only code (`#[test]`, `#[cfg(test)]`).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.meta.require_list().is_ok_and(|l| l.tokens.to_string() == "test"))
    })
}

/// A path as resolved: in this crate (module path from the crate root), or
/// elsewhere (`std::...`, another crate, a local name).
#[derive(Clone, Debug, PartialEq)]
enum Resolved {
    Crate(Vec<String>),
    Other(Vec<String>),
}

/// Every path the non-test code of a file names (in `use` trees, types and
/// expressions), resolved through the file's own `use` items.
struct Paths {
    module: Vec<String>,
    /// Names a `use` brought into scope, and what they stand for.
    imports: Vec<(String, Resolved)>,
    found: Vec<(Resolved, usize)>,
}

impl Paths {
    fn resolve(&self, segments: &[String]) -> Resolved {
        let Some(first) = segments.first() else { return Resolved::Other(vec![]) };
        match first.as_str() {
            "crate" => Resolved::Crate(segments[1..].to_vec()),
            "self" | "super" => {
                let mut base = self.module.clone();
                let mut rest = segments;
                if rest[0] == "self" {
                    rest = &rest[1..];
                }
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                Resolved::Crate(base)
            }
            _ => match self.imports.iter().find(|(name, _)| name == first) {
                Some((_, Resolved::Crate(p))) => Resolved::Crate(p.iter().chain(&segments[1..]).cloned().collect()),
                Some((_, Resolved::Other(p))) => Resolved::Other(p.iter().chain(&segments[1..]).cloned().collect()),
                None => Resolved::Other(segments.to_vec()),
            },
        }
    }

    fn use_tree(&mut self, prefix: Vec<String>, tree: &syn::UseTree, line: usize) {
        let add = |this: &mut Paths, full: Vec<String>, name: String| {
            let r = this.resolve(&full);
            this.imports.push((name, r.clone()));
            this.found.push((r, line));
        };
        match tree {
            syn::UseTree::Path(p) => {
                let mut next = prefix;
                next.push(p.ident.to_string());
                self.use_tree(next, &p.tree, line);
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix;
                let name = n.ident.to_string();
                if name != "self" {
                    full.push(name.clone());
                }
                let local = full.last().cloned().unwrap_or(name);
                add(self, full, local);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix;
                full.push(r.ident.to_string());
                add(self, full, r.rename.to_string());
            }
            syn::UseTree::Glob(_) => {
                let r = self.resolve(&prefix);
                self.found.push((r, line));
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix.clone(), t, line);
                }
            }
        }
    }
}

/// First pass: the `use` items (anywhere outside tests).
struct Uses<'a>(&'a mut Paths);

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test(&u.attrs) {
            self.0.use_tree(Vec::new(), &u.tree, u.span().start().line);
        }
    }
}

/// Second pass: every other path.
impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}
    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let r = self.resolve(&segments);
        self.found.push((r, p.span().start().line));
        syn::visit::visit_path(self, p);
    }
}

fn paths(module: &[String], text: &str) -> Vec<(Resolved, usize)> {
    let file = syn::parse_file(text).expect("the crate's sources parse");
    let mut v = Paths { module: module.to_vec(), imports: Vec::new(), found: Vec::new() };
    Uses(&mut v).visit_file(&file);
    v.visit_file(&file);
    v.found
}

/// The paths into this crate a file names.
fn crate_paths(module: &[String], text: &str) -> Vec<(Vec<String>, usize)> {
    paths(module, text)
        .into_iter()
        .filter_map(|(r, line)| match r {
            Resolved::Crate(p) => Some((p, line)),
            Resolved::Other(_) => None,
        })
        .collect()
}

/// Rule 1: a file of the core names nothing above it.
fn core_purity(module: &[String], text: &str) -> Vec<String> {
    if module.first().map(String::as_str) != Some("core") {
        return vec![];
    }
    crate_paths(module, text)
        .into_iter()
        .filter(|(p, _)| p.first().is_some_and(|s| ABOVE_CORE.contains(&s.as_str())))
        .map(|(p, line)| format!("line {line}: the core uses `{}`", p.join("::")))
        .collect()
}

/// Rule 2: a command names no other command.
fn commands_apart(module: &[String], text: &str) -> Vec<String> {
    if module.len() != 2 || module[0] != "commands" {
        return vec![];
    }
    crate_paths(module, text)
        .into_iter()
        .filter(|(p, _)| p.len() >= 2 && p[0] == "commands" && p[1] != module[1])
        .map(|(p, line)| format!("line {line}: command `{}` uses `{}`", module[1], p.join("::")))
        .collect()
}

/// Rule 3: `std::process::Command` only in `infra::proc`.
fn one_process_runner(module: &[String], text: &str) -> Vec<String> {
    if module == ["infra", "proc"] {
        return vec![];
    }
    paths(module, text)
        .into_iter()
        .filter(|(r, _)| matches!(r, Resolved::Other(p) if p.len() >= 3 && p[0] == "std" && p[1] == "process" && p[2] == "Command"))
        .map(|(_, line)| format!("line {line}: `std::process::Command` outside `infra::proc`"))
        .collect()
}

/// Function lengths outside tests.
struct Lengths(Vec<(String, usize, usize)>);

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            let (a, b) = (f.span().start().line, f.span().end().line);
            self.0.push((f.sig.ident.to_string(), a, b - a + 1));
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test(&f.attrs) {
            let (a, b) = (f.span().start().line, f.span().end().line);
            self.0.push((f.sig.ident.to_string(), a, b - a + 1));
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
}

/// Rule 4: no function over [`MAX_FN_LINES`] lines outside tests.
fn short_functions(_module: &[String], text: &str) -> Vec<String> {
    let file = syn::parse_file(text).expect("the crate's sources parse");
    let mut v = Lengths(Vec::new());
    v.visit_file(&file);
    v.0.into_iter()
        .filter(|(_, _, n)| *n > MAX_FN_LINES)
        .map(|(name, line, n)| format!("line {line}: `{name}` is {n} lines (at most {MAX_FN_LINES})"))
        .collect()
}

type Rule = fn(&[String], &str) -> Vec<String>;

const RULES: [(&str, Rule); 4] = [
    ("the core is pure", core_purity),
    ("commands do not call each other", commands_apart),
    ("one process runner", one_process_runner),
    ("short functions", short_functions),
];

#[test]
fn the_architecture_holds() {
    let mut failures = Vec::new();
    let files = sources();
    assert!(files.len() > 30, "found only {} source files", files.len());
    let tests: Vec<Vec<String>> = files.iter().flat_map(|s| test_modules(&s.module, &s.text)).collect();
    for s in files.iter().filter(|s| !tests.iter().any(|t| s.module.starts_with(t))) {
        for (rule, check) in RULES {
            for v in check(&s.module, &s.text) {
                failures.push(format!("{}: {rule}: {v}", s.path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "ARCHITECTURE.md's rules are broken:\n{}", failures.join("\n"));
}

fn module(path: &str) -> Vec<String> {
    path.split("::").map(str::to_string).collect()
}

#[test]
fn each_rule_fails_on_a_sample_that_breaks_it() {
    // The core reaching up, directly and through `super`.
    let bad = "use crate::infra::git;\nfn f() { super::super::super::ops::context::load(); }\n";
    assert_eq!(core_purity(&module("core::fit::dp"), bad).len(), 2, "{:?}", core_purity(&module("core::fit::dp"), bad));
    assert!(core_purity(&module("core::fit::dp"), "use crate::core::stats;\nuse super::Row;\n").is_empty());
    // A local variable that happens to be called `config` is not the module.
    assert!(core_purity(&module("core::x"), "fn f(config: &u8) -> u8 { *config }\n").is_empty());
    // Test code may do what it likes.
    assert!(core_purity(&module("core::x"), "#[cfg(test)]\nmod tests { use crate::infra::git; }\n").is_empty());

    // A command calling another.
    let bad = "use crate::commands::analyze;\nfn f() { super::sweep::run(); }\n";
    assert_eq!(commands_apart(&module("commands::validate"), bad).len(), 2);
    assert!(commands_apart(&module("commands::validate"), "use crate::ops::station::Station;\n").is_empty());

    // A raw process, however it is named.
    let bad = "use std::process::Command;\nfn f() { std::process::Command::new(\"sh\"); }\n";
    assert_eq!(one_process_runner(&module("commands::doctor"), bad).len(), 2);
    let bad = "use std::process;\nfn f() { process::Command::new(\"sh\"); }\n";
    assert_eq!(one_process_runner(&module("commands::doctor"), bad).len(), 1);
    assert!(one_process_runner(&module("main"), "fn f() { std::process::exit(1); }\n").is_empty());
    assert!(one_process_runner(&module("infra::proc"), bad).is_empty());

    // A long function, and the same in a test.
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let long = format!("fn long() {{\n{body}}}\n");
    assert_eq!(short_functions(&module("ops::x"), &long).len(), 1);
    assert!(short_functions(&module("ops::x"), &format!("#[test]\n{long}")).is_empty());
    assert!(
        short_functions(&module("ops::x"), &format!("fn short() {{\n{}}}\n", "    let x = 1;\n".repeat(90))).is_empty()
    );
}
