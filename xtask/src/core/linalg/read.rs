//! Reading ops back from MLIR text: the functions of a test file such as
//! IREE's `set_split_reduction_sizes_*.mlir` (`#map` aliases per
//! `// -----` split, `linalg.generic`, and the named `linalg.matmul` and
//! `linalg.batch_matmul`): the behaviour audit evaluates a patch on the
//! target revision's lit cases, and tests run the model on them.

use super::{Iter, LinalgOp, Loop, MapResult, Operand, DYNAMIC};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One function of a test file: its name and its op (or why it was not
/// read).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) op: Result<LinalgOp, String>,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a valid pattern"))
}

/// Reads every `func @name` of `text` (a whole file; `// -----` splits
/// are allowed, aliases are per split as `--split-input-file` makes them).
pub(crate) fn read_cases(text: &str) -> Vec<Case> {
    static FUNC: OnceLock<Regex> = OnceLock::new();
    static ALIAS: OnceLock<Regex> = OnceLock::new();
    let func = re(&FUNC, r"func(?:\.func)?\s+(?:(?:public|private)\s+)?@([\w.$-]+)");
    let alias = re(&ALIAS, r"(?m)^\s*(#[\w$.-]+)\s*=\s*(affine_map<[^\n]*>)\s*$");
    let mut cases = Vec::new();
    for split in text.split("// -----") {
        let aliases: BTreeMap<String, String> =
            alias.captures_iter(split).map(|c| (c[1].to_string(), c[2].to_string())).collect();
        let starts: Vec<(usize, String)> =
            func.captures_iter(split).map(|c| (c.get(0).unwrap().start(), c[1].to_string())).collect();
        for (i, (start, name)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map(|s| s.0).unwrap_or(split.len());
            let body = &split[*start..end];
            cases.push(Case { name: name.clone(), op: read_op(body, &aliases) });
        }
    }
    cases
}

/// The first linalg op of a function body.
fn read_op(body: &str, aliases: &BTreeMap<String, String>) -> Result<LinalgOp, String> {
    static OP: OnceLock<Regex> = OnceLock::new();
    static OPERANDS: OnceLock<Regex> = OnceLock::new();
    let op = re(&OP, r"linalg\.(generic|matmul|batch_matmul|[a-z_0-9]+)\b");
    let operands = re(&OPERANDS, r"ins\([^:]*:\s*([^)]*)\)\s*outs\([^:]*:\s*([^)]*)\)");
    let found =
        op.captures_iter(body).find(|c| &c[1] != "fill" && &c[1] != "yield").ok_or("no linalg op in the function")?;
    let kind = found[1].to_string();
    let rest = &body[found.get(0).unwrap().start()..];
    let types = operands.captures(rest).ok_or("cannot read the op's ins/outs")?;
    let ins: Vec<&str> = split_types(&types[1]);
    let outs: Vec<&str> = split_types(&types[2]);
    if ins.len() != 2 || outs.len() != 1 {
        return Err(format!("`linalg.{kind}` has {} inputs and {} outputs, not 2 and 1", ins.len(), outs.len()));
    }
    let (s0, element) = tensor_shape(ins[0])?;
    let shapes = [s0, tensor_shape(ins[1])?.0, tensor_shape(outs[0])?.0];
    let (maps, iters): Maps = match kind.as_str() {
        "generic" => generic_maps(rest, aliases)?,
        "matmul" | "batch_matmul" => named_maps(&kind, rest, aliases)?,
        other => return Err(format!("`linalg.{other}` is not a form the tuner reads")),
    };
    assemble((maps, iters), shapes, element)
}

/// Splits at the commas outside brackets (`->` is not a closing bracket).
fn split_types(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut prev) = (0i32, 0, ' ');
    for (i, ch) in text.char_indices() {
        match ch {
            '<' | '(' | '[' => depth += 1,
            '>' if prev == '-' => {}
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        prev = ch;
    }
    if !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

fn tensor_shape(ty: &str) -> Result<(Vec<i64>, String), String> {
    let inner = ty
        .trim()
        .strip_prefix("tensor<")
        .and_then(|t| t.strip_suffix('>'))
        .ok_or_else(|| format!("`{ty}` is not a ranked tensor type"))?;
    let mut parts: Vec<&str> = inner.split('x').collect();
    let element = parts.pop().unwrap_or_default().to_string();
    let shape = parts
        .iter()
        .map(|p| if *p == "?" { Ok(DYNAMIC) } else { p.parse::<i64>().map_err(|_| format!("bad dim `{p}` in `{ty}`")) })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((shape, element))
}

/// An affine map: its dim names and its results.
type Map = (Vec<String>, Vec<MapResult>);
type Maps = (Vec<Map>, Vec<Iter>);

/// The `indexing_maps = [...]` of an op's text.
fn indexing_maps(text: &str, aliases: &BTreeMap<String, String>) -> Result<Vec<Map>, String> {
    static MAPS: OnceLock<Regex> = OnceLock::new();
    let maps_re = re(&MAPS, r"indexing_maps\s*=\s*\[((?:[^\[\]]|\[[^\]]*\])*)\]");
    let maps = maps_re.captures(text).ok_or("no indexing_maps")?;
    split_types(&maps[1]).iter().map(|m| affine_map(m, aliases)).collect()
}

fn iterators(spec: &str) -> Vec<Iter> {
    spec.split(' ').map(|c| if c == "p" { Iter::Parallel } else { Iter::Reduction }).collect()
}

fn generic_maps(text: &str, aliases: &BTreeMap<String, String>) -> Result<Maps, String> {
    static ITERS: OnceLock<Regex> = OnceLock::new();
    let iters_re = re(&ITERS, r"iterator_types\s*=\s*\[([^\]]*)\]");
    let iters = iters_re.captures(text).ok_or("no iterator_types")?;
    let iters = iters[1]
        .split(',')
        .map(|s| match s.trim().trim_matches('"').trim_start_matches("#linalg.iterator_type<").trim_end_matches('>') {
            "parallel" => Ok(Iter::Parallel),
            "reduction" => Ok(Iter::Reduction),
            other => Err(format!("iterator `{other}`")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((indexing_maps(text, aliases)?, iters))
}

/// `linalg.matmul` (loops m, n, k) and `linalg.batch_matmul` (b, m, n, k),
/// with their default maps or the ones written on the op.
fn named_maps(kind: &str, text: &str, aliases: &BTreeMap<String, String>) -> Result<Maps, String> {
    let head = text.split("ins(").next().unwrap_or("");
    let (defaults, iters) = if kind == "matmul" {
        (["(m, n, k) -> (m, k)", "(m, n, k) -> (k, n)", "(m, n, k) -> (m, n)"], "p p r")
    } else {
        (["(b, m, n, k) -> (b, m, k)", "(b, m, n, k) -> (b, k, n)", "(b, m, n, k) -> (b, m, n)"], "p p p r")
    };
    let maps = if head.contains("indexing_maps") {
        indexing_maps(head, aliases)?
    } else {
        defaults.iter().map(|m| affine_map(&format!("affine_map<{m}>"), aliases)).collect::<Result<Vec<_>, _>>()?
    };
    Ok((maps, iterators(iters)))
}

/// Reads `affine_map<(d0, d1) -> (d0 + d1 * 2, d1)>` (or an alias of one):
/// its dim names and, per result, `(dim, coefficient)` terms.
fn affine_map(text: &str, aliases: &BTreeMap<String, String>) -> Result<Map, String> {
    let text = text.trim();
    let text = aliases.get(text).map(String::as_str).unwrap_or(text);
    let inner = text
        .strip_prefix("affine_map<")
        .and_then(|t| t.strip_suffix('>'))
        .ok_or_else(|| format!("`{text}` is not an affine map"))?;
    let (dims, results) = inner.split_once("->").ok_or_else(|| format!("`{text}` has no `->`"))?;
    let list = |s: &str| -> Vec<String> {
        let s = s.trim().trim_start_matches('(').trim_end_matches(')');
        s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
    };
    let dims = list(dims);
    let results = list(results)
        .iter()
        .map(|r| map_result(r, &dims).ok_or_else(|| format!("cannot read `{r}` in `{text}`")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dims, results))
}

fn map_result(text: &str, dims: &[String]) -> Option<MapResult> {
    text.split('+')
        .map(|term| {
            let factors: Vec<&str> = term.split('*').map(str::trim).collect();
            let mut loop_index = None;
            let mut coefficient = 1i64;
            for f in factors {
                match dims.iter().position(|d| d == f) {
                    Some(i) if loop_index.is_none() => loop_index = Some(i),
                    Some(_) => return None,
                    None => coefficient = coefficient.checked_mul(f.parse().ok()?)?,
                }
            }
            Some((loop_index?, coefficient))
        })
        .collect()
}

/// Loops and their extents from the maps and shapes: a loop's extent is
/// that of the first operand dim that reads it bare (MLIR's
/// `getStaticLoopRanges`).
fn assemble(maps: Maps, shapes: [Vec<i64>; 3], element: String) -> Result<LinalgOp, String> {
    let (maps, iters) = maps;
    if maps.len() != 3 {
        return Err(format!("{} indexing maps, not 3", maps.len()));
    }
    let names = maps[0].0.clone();
    if maps.iter().any(|(d, _)| d.len() != names.len()) || iters.len() != names.len() {
        return Err("the maps and iterator types disagree on the number of loops".into());
    }
    let operands: Vec<Operand> = maps.into_iter().zip(shapes).map(|((_, map), shape)| Operand { shape, map }).collect();
    if operands.iter().any(|o| o.map.len() != o.shape.len()) {
        return Err("a map's results do not match its operand's rank".into());
    }
    let mut loops = Vec::new();
    for (l, (name, iter)) in names.iter().zip(&iters).enumerate() {
        let extent = operands
            .iter()
            .find_map(|o| o.position_of(l).map(|p| o.shape[p]))
            .ok_or_else(|| format!("loop `{name}` is read bare by no operand"))?;
        loops.push(Loop { name: name.clone(), extent, iter: *iter });
    }
    let [a, b, c]: [Operand; 3] = operands.try_into().map_err(|_| "three operands".to_string())?;
    Ok(LinalgOp { loops, inputs: [a, b], output: c, element })
}
