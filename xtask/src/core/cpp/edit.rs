//! A retune as the smallest edit of the ladder in the file's own words.
//!
//! The decision wanted is the fitted ladder for the target swept, between
//! the edges of what was measured, and the old code everywhere else (the
//! other target, outputs beyond the measured ones, frozen rungs). Along
//! `outputSize` the old skeleton and the wanted one are cut into pieces,
//! each with a body (reduction guards, a value per target); equal
//! neighbours merge; the new rungs are then aligned with the old ones
//! (an edit distance over rungs), so a rung that keeps its threshold keeps
//! its line, a value change is one line, a moved threshold is one constant,
//! and only what is new is inserted. Values of the target not swept are
//! kept with the file's `lowParallelism ? a : b`. The result is checked by
//! the caller (read back, evaluated, audited).

use super::chain::{Body, Chain, Cond, Item, Leaf, Val};
use super::emit::format_number;
use super::patch::Edit;
use crate::core::rule::{Ladder, LimitSpec, Rung};

/// What to write.
pub(crate) struct Retune<'a> {
    pub(crate) src: &'a str,
    pub(crate) chain: &'a Chain,
    pub(crate) ladder: &'a Ladder,
    /// The swept target: low-parallelism (else default).
    pub(crate) low: bool,
    /// The ladder applies for `outputSize` in `[lo, hi)`.
    pub(crate) output: (i64, i64),
    /// Its reduction buckets apply for `reductionSize` in `[lo, hi)`.
    pub(crate) reduction: (i64, i64),
    /// Whether some audited op with `outputSize` in the first range and
    /// `reductionSize` in the second reaches the ladder: an edge no op
    /// crosses needs no guard of its own.
    pub(crate) reach: &'a dyn Fn((i64, i64), (i64, i64)) -> bool,
}

/// A body by meaning: `reductionSize < t` cuts, ascending, each with the
/// leaf below it, then the leaf for the rest.
#[derive(Clone, Debug, PartialEq)]
struct Canon {
    cuts: Vec<(i64, Leaf)>,
    rest: Leaf,
}

impl Canon {
    fn leaf(&self, r: i64) -> Leaf {
        self.cuts.iter().find(|(t, _)| r < *t).map(|(_, l)| *l).unwrap_or(self.rest)
    }

    /// Merges neighbours with equal leaves.
    fn merged(mut self) -> Canon {
        let mut cuts: Vec<(i64, Leaf)> = Vec::new();
        for (t, l) in self.cuts.drain(..) {
            match cuts.last_mut() {
                Some(last) if last.1 == l => last.0 = t,
                _ => cuts.push((t, l)),
            }
        }
        while cuts.last().is_some_and(|c| c.1 == self.rest) {
            cuts.pop();
        }
        Canon { cuts, rest: self.rest }
    }

    /// A body given by its value on `[0, t)` pieces at `points`.
    fn sampled(points: &[i64], at: impl Fn(i64) -> Leaf) -> Canon {
        let mut cuts = Vec::new();
        let mut from = 0;
        for &t in points {
            cuts.push((t, at(from)));
            from = t;
        }
        Canon { cuts, rest: at(from) }.merged()
    }
}

/// Exclusive bounds of a written body's guards.
fn guard_points(body: &Body) -> Vec<i64> {
    let Body::Leaves { guarded, .. } = body else { return vec![] };
    let mut v: Vec<i64> = guarded
        .iter()
        .map(|(g, _)| match g.op {
            crate::core::cpp::rules::BinOp::Le | crate::core::cpp::rules::BinOp::Gt => g.t + 1,
            _ => g.t,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn canon(body: &Body) -> Canon {
    Canon::sampled(&guard_points(body), |r| body.leaf(r).expect("a readable body"))
}

fn val(l: LimitSpec) -> Val {
    match l {
        LimitSpec::Fixed(1) => Val::NoSplit,
        LimitSpec::Fixed(v) => Val::Fixed(v),
        LimitSpec::Clamp(c) => Val::Clamp(c),
    }
}

/// The fitted rung covering `output`.
fn rung_at(ladder: &Ladder, output: i64) -> &Rung {
    ladder.rungs.iter().find(|r| r.upper.is_none_or(|u| output < u)).unwrap_or_else(|| ladder.rungs.last().unwrap())
}

/// The wanted body on the `outputSize` piece `piece` inside the edges: the
/// old one with the swept target's values from `rung`; outside the
/// reduction edges the old value stays when the body tests
/// `reductionSize` at all (and some op lies there).
fn wanted(old: &Canon, rung: &Rung, r: &Retune, piece: (i64, i64)) -> Canon {
    let mut points: Vec<i64> = old.cuts.iter().map(|c| c.0).chain(rung.splits.iter().map(|s| s.threshold)).collect();
    points.sort();
    points.dedup();
    let new_at = |x: i64| old.leaf(x).with(r.low, val(rung.limit_for(x)));
    let plain = Canon::sampled(&points, new_at);
    if plain.cuts.is_empty() {
        return plain;
    }
    let lo = if (r.reach)(piece, (i64::MIN, r.reduction.0)) { r.reduction.0 } else { i64::MIN };
    let hi = if (r.reach)(piece, (r.reduction.1, i64::MAX)) { r.reduction.1 } else { i64::MAX };
    points.extend([lo, hi].into_iter().filter(|&p| p != i64::MIN && p != i64::MAX));
    points.sort();
    points.dedup();
    let inside = |x: i64| lo <= x && x < hi;
    Canon::sampled(&points, |x| if inside(x) { new_at(x) } else { old.leaf(x) })
}

/// A new rung: its exclusive upper bound (none for the catch-all) and body.
#[derive(Clone, Debug, PartialEq)]
struct NewRung {
    bound: Option<i64>,
    body: Canon,
}

/// The wanted rungs of the run of simple items `items[run]`.
fn wanted_run(r: &Retune, run: &[&Item], run_lo: i64) -> Vec<NewRung> {
    let bound = |it: &Item| match it.cond {
        Cond::Below { bound, .. } => Some(bound),
        _ => None,
    };
    let run_hi = run.last().and_then(|it| bound(it)).unwrap_or(i64::MAX);
    let mut points: Vec<i64> = run.iter().filter_map(|it| bound(it)).collect();
    points.extend(r.ladder.rungs.iter().filter_map(|g| g.upper));
    // An output edge no op lies beyond needs no rung.
    let all = (i64::MIN, i64::MAX);
    let lo = if (r.reach)((i64::MIN, r.output.0), all) { r.output.0 } else { i64::MIN };
    let hi = if (r.reach)((r.output.1, i64::MAX), all) { r.output.1 } else { i64::MAX };
    points.extend([lo, hi]);
    points.retain(|&p| run_lo < p && p < run_hi);
    points.push(run_hi);
    points.sort();
    points.dedup();
    let mut out: Vec<NewRung> = Vec::new();
    let mut from = run_lo;
    for &to in &points {
        let item = run.iter().find(|it| bound(it).is_none_or(|b| from < b)).expect("a catch-all or a bound above");
        let old = canon(&item.body);
        let body = if lo <= from && from < hi { wanted(&old, rung_at(r.ladder, from), r, (from, to)) } else { old };
        let upper = (to != i64::MAX).then_some(to);
        match out.last_mut() {
            Some(last) if last.body == body => last.bound = upper,
            _ => out.push(NewRung { bound: upper, body }),
        }
        from = to;
    }
    out
}

/// Lines a rung takes (the edit distance's unit: a line added or removed).
fn lines(body: &Canon) -> usize {
    3 + 3 * body.cuts.len()
}

/// What moving a rung's threshold costs beyond the changed line itself: a
/// reviewer reads a rung that keeps its threshold as the same rung, so
/// keeping thresholds is preferred to shifting rungs along.
const MOVE_COST: usize = 4;

/// How a new rung edits an old one: its bound, its leaves.
fn match_cost(old: &Item, new: &NewRung, anchored: bool) -> Option<usize> {
    let old_bound = match old.cond {
        Cond::Below { bound, .. } => Some(bound),
        _ => None,
    };
    if old_bound.is_none() != new.bound.is_none() {
        return None;
    }
    let moved = old_bound != new.bound;
    if moved && anchored {
        return None;
    }
    Some(if moved { 2 + MOVE_COST } else { 0 } + body_cost(old, &new.body))
}

/// Leaves to rewrite to turn `old`'s body into `new`; a new guard
/// structure costs the whole body.
fn body_cost(old: &Item, new: &Canon) -> usize {
    match leaf_edits(old, new) {
        Some(edits) => 2 * edits.len(),
        None => lines(&canon(&old.body)) + lines(new),
    }
}

/// The leaf statements of `old` to rewrite, and their new leaves, when the
/// written guards still fit `new` (each written leaf's region has one new
/// leaf); `None` when the guards must change.
fn leaf_edits(old: &Item, new: &Canon) -> Option<Vec<(std::ops::Range<usize>, Leaf)>> {
    let Body::Leaves { guarded, otherwise } = &old.body else { return None };
    let pts = guard_points(&old.body);
    if new.cuts.iter().any(|(t, _)| !pts.contains(t)) {
        return None;
    }
    // Sample each region between the written guards' bounds: the written
    // leaf chosen there must become the new leaf, one leaf per statement.
    let mut out: Vec<(std::ops::Range<usize>, Leaf)> = Vec::new();
    let mut wanted: Vec<(std::ops::Range<usize>, Leaf)> = Vec::new();
    for x in std::iter::once(0).chain(pts.iter().copied()) {
        let chosen = guarded.iter().find(|(g, _)| g.holds(x)).map(|(_, l)| l).unwrap_or(otherwise);
        let want = new.leaf(x);
        match wanted.iter().find(|(s, _)| *s == chosen.stmt) {
            Some((_, w)) if *w != want => return None,
            Some(_) => continue,
            None => wanted.push((chosen.stmt.clone(), want)),
        }
        if chosen.leaf != want {
            out.push((chosen.stmt.clone(), want));
        }
    }
    Some(out)
}

/// The text of a leaf at `indent` (the first line without it): one
/// statement, or, where one target does not split and the other does, the
/// early `return std::nullopt;` of the first behind the flag (a limit of 1
/// would still set the attribute, with whole tiles).
fn leaf_text(r: &Retune, leaf: Leaf, indent: &str) -> String {
    let v = |x: Val| match x {
        Val::Fixed(n) => n.to_string(),
        Val::Clamp(c) => {
            format!("std::min<int64_t>({c}, {})", r.chain.names.start_tile.as_deref().unwrap_or("startTileSize"))
        }
        Val::NoSplit => "std::nullopt".into(),
    };
    let stmt = |value: String| {
        if value == "std::nullopt" || r.chain.helper {
            format!("return {value};")
        } else {
            format!("limitParallelLoops = {value};")
        }
    };
    let flag = r.chain.names.low_parallelism.as_deref();
    match (flag, leaf.default == leaf.low) {
        (Some(flag), false) if leaf.default == Val::NoSplit || leaf.low == Val::NoSplit => {
            let (cond, other) = if leaf.low == Val::NoSplit {
                (flag.to_string(), leaf.default)
            } else {
                (format!("!{flag}"), leaf.low)
            };
            format!("if ({cond}) {{\n{indent}  return std::nullopt;\n{indent}}}\n{indent}{}", stmt(v(other)))
        }
        (Some(flag), false) => stmt(format!("{flag} ? {} : {}", v(leaf.low), v(leaf.default))),
        _ => stmt(v(leaf.default)),
    }
}

fn bound_text(r: &Retune, bound: i64, inclusive: bool) -> String {
    let out = &r.chain.names.output;
    if inclusive {
        format!("{out} <= {}", format_number(bound - 1))
    } else {
        format!("{out} < {}", format_number(bound))
    }
}

/// `var < t` for a reduction guard, as `var <= t - 1` where that reads
/// better (`1000000` rather than `1000001`).
fn below(var: &str, t: i64) -> String {
    let round = |v: i64| v > 0 && (v % 1000 == 0 || format_number(v).contains('*'));
    if !round(t) && round(t - 1) {
        format!("{var} <= {}", t - 1)
    } else {
        format!("{var} < {t}")
    }
}

/// A body's statements at `indent`.
fn body_text(r: &Retune, body: &Canon, indent: &str) -> String {
    let red = r.chain.names.reduction.as_deref().unwrap_or("reductionSize");
    let inner = format!("{indent}  ");
    if body.cuts.is_empty() {
        return format!("{indent}{}\n", leaf_text(r, body.rest, indent));
    }
    let mut out = String::new();
    if r.chain.helper {
        for (t, l) in &body.cuts {
            let cmp = below(red, *t);
            out.push_str(&format!("{indent}if ({cmp}) {{\n{inner}{}\n{indent}}}\n", leaf_text(r, *l, &inner)));
        }
        out.push_str(&format!("{indent}{}\n", leaf_text(r, body.rest, indent)));
    } else {
        for (i, (t, l)) in body.cuts.iter().enumerate() {
            let head = if i == 0 { indent.to_string() } else { " else ".to_string() };
            let cmp = below(red, *t);
            out.push_str(&format!("{head}if ({cmp}) {{\n{inner}{}\n{indent}}}", leaf_text(r, *l, &inner)));
        }
        out.push_str(&format!(" else {{\n{inner}{}\n{indent}}}\n", leaf_text(r, body.rest, &inner)));
    }
    out
}

/// The text inserted before an old rung for a new one.
fn insert_text(r: &Retune, new: &NewRung, inclusive: bool) -> String {
    let i = &r.chain.indent;
    let bound = new.bound.expect("an inserted rung has a bound");
    let body = body_text(r, &new.body, &format!("{i}  "));
    if r.chain.helper {
        format!("if ({}) {{\n{body}{i}}}\n\n{i}", bound_text(r, bound, inclusive))
    } else {
        format!("if ({}) {{\n{body}{i}}} else ", bound_text(r, bound, inclusive))
    }
}

/// One step of the alignment.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Match(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The cheapest alignment of old rungs with new ones (edit distance).
fn align(old: &[&Item], new: &[NewRung], anchored_last: bool) -> Option<Vec<Step>> {
    let (m, n) = (old.len(), new.len());
    let inf = usize::MAX / 4;
    let mut cost = vec![vec![inf; n + 1]; m + 1];
    let mut back = vec![vec![None; n + 1]; m + 1];
    cost[0][0] = 0;
    for i in 0..=m {
        for j in 0..=n {
            let c = cost[i][j];
            if c >= inf {
                continue;
            }
            if i < m && j < n {
                if let Some(mc) = match_cost(old[i], &new[j], anchored_last && i + 1 == m) {
                    if c + mc < cost[i + 1][j + 1] {
                        cost[i + 1][j + 1] = c + mc;
                        back[i + 1][j + 1] = Some(Step::Match(i, j));
                    }
                }
            }
            // A catch-all or an anchor is never deleted; a catch-all never
            // inserted.
            let keep = matches!(old.get(i).map(|it| &it.cond), Some(Cond::Always)) || anchored_last && i + 1 == m;
            if i < m && !keep && c + lines(&canon(&old[i].body)) < cost[i + 1][j] {
                cost[i + 1][j] = c + lines(&canon(&old[i].body));
                back[i + 1][j] = Some(Step::Delete(i));
            }
            if j < n && new[j].bound.is_some() && c + lines(&new[j].body) < cost[i][j + 1] {
                cost[i][j + 1] = c + lines(&new[j].body);
                back[i][j + 1] = Some(Step::Insert(j));
            }
        }
    }
    if cost[m][n] >= inf {
        return None;
    }
    let mut steps = Vec::new();
    let (mut i, mut j) = (m, n);
    while i > 0 || j > 0 {
        let s = back[i][j]?;
        steps.push(s);
        match s {
            Step::Match(..) => (i, j) = (i - 1, j - 1),
            Step::Delete(_) => i -= 1,
            Step::Insert(_) => j -= 1,
        }
    }
    steps.reverse();
    Some(steps)
}

/// The edits of one run of simple rungs.
fn run_edits(r: &Retune, run: &[&Item], run_lo: i64, anchored: bool) -> Result<Vec<Edit>, String> {
    let new = wanted_run(r, run, run_lo);
    let steps = align(run, &new, anchored).ok_or("the new rungs cannot be aligned with the old ones")?;
    let inclusive = run.iter().any(|it| matches!(it.cond, Cond::Below { inclusive: true, .. }));
    let mut edits = Vec::new();
    let mut pending = String::new();
    for s in steps {
        match s {
            Step::Insert(j) => pending.push_str(&insert_text(r, &new[j], inclusive)),
            Step::Delete(i) => edits.push(delete(r, run[i])),
            Step::Match(i, j) => {
                let (old, nw) = (run[i], &new[j]);
                if !pending.is_empty() {
                    edits.push(Edit { range: old.stmt.start..old.stmt.start, text: std::mem::take(&mut pending) });
                }
                edits.extend(match_edits(r, old, nw)?);
            }
        }
    }
    if !pending.is_empty() {
        return Err("a new rung would follow the catch-all".into());
    }
    Ok(edits)
}

/// Edits that turn old rung `old` into `new`: its bound's constant, its
/// leaves, or (new guards) its whole body.
fn match_edits(r: &Retune, old: &Item, new: &NewRung) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    if let (Cond::Below { bound, inclusive, constant }, Some(b)) = (&old.cond, new.bound) {
        if *bound != b {
            let t = if *inclusive { b - 1 } else { b };
            edits.push(Edit { range: constant.clone(), text: format_number(t) });
        }
    }
    if canon(&old.body) == new.body {
        return Ok(edits);
    }
    match leaf_edits(old, &new.body) {
        Some(leaves) => {
            edits.extend(leaves.into_iter().map(|(stmt, leaf)| {
                let indent = super::line_indent(r.src, stmt.start);
                Edit { range: stmt, text: leaf_text(r, leaf, &indent) }
            }));
        }
        None => match old.block.clone() {
            Some(block) => {
                let indent = format!("{}  ", r.chain.indent);
                edits.push(Edit {
                    range: block,
                    text: format!("\n{}{}", body_text(r, &new.body, &indent), r.chain.indent),
                });
            }
            // A helper's closing `return X;`: the new guards go before it,
            // at the chain's own indentation.
            None if matches!(old.cond, Cond::Always) && r.chain.helper => {
                let text = body_text(r, &new.body, &r.chain.indent);
                let text = text.strip_prefix(r.chain.indent.as_str()).unwrap_or(&text).trim_end_matches('\n');
                edits.push(Edit { range: old.stmt.clone(), text: text.to_string() });
            }
            None => return Err("a rung without braces cannot take new guards".into()),
        },
    }
    Ok(edits)
}

/// Removes a rung: its statement and the blank line after it (helper), or
/// its branch and the `else` that leads to the next one (inline).
fn delete(r: &Retune, item: &Item) -> Edit {
    let rest = &r.src[item.stmt.end..];
    let end = if r.chain.helper {
        let ws = rest.len() - rest.trim_start().len();
        item.stmt.end + ws
    } else {
        let after = rest.trim_start();
        let skip = rest.len() - after.len();
        let after_else = after.strip_prefix("else").map(|a| a.len() - a.trim_start().len() + 4).unwrap_or(0);
        item.stmt.end + skip + after_else
    };
    Edit { range: item.stmt.start..end, text: String::new() }
}

/// Edits of the whole chain.
pub(crate) fn edits(r: &Retune) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    let mut run: Vec<&Item> = Vec::new();
    let mut run_lo = 0i64;
    let mut last_bound = 0i64;
    for item in &r.chain.items {
        if item.simple() {
            run.push(item);
            if let Cond::Below { bound, .. } = item.cond {
                last_bound = bound;
            }
            continue;
        }
        // A frozen rung: the run before it keeps its last bound, and what
        // it takes whole is not the next run's.
        if !run.is_empty() {
            edits.extend(run_edits(r, &run, run_lo, true)?);
            run.clear();
        }
        if let Some(b) = item.covers_below(&r.chain.names.output) {
            last_bound = last_bound.max(b);
        }
        run_lo = last_bound;
    }
    if !run.is_empty() {
        edits.extend(run_edits(r, &run, run_lo, false)?);
    }
    let comments = comment_edits(r, &edits);
    edits.extend(comments);
    Ok(edits)
}

/// The output bound a rung's condition states, as its constant reads.
fn stated(item: &Item) -> Option<i64> {
    match item.cond {
        Cond::Below { bound, inclusive, .. } => Some(if inclusive { bound - 1 } else { bound }),
        _ => None,
    }
}

/// The constant of the last `output <`/`<=` comparison in `text`.
fn last_comparison(text: &str, output: &str) -> Option<i64> {
    let (at, _) = text.rmatch_indices(output).find(|(i, _)| text[i + output.len()..].trim_start().starts_with('<'))?;
    numbers_in(&text[at..]).first().map(|n| n.value)
}

/// A comment that restates the bound of the rung above it (it names the
/// output variable and that rung's number, as IREE's "// outputSize >
/// 128*128." does) gets the bound that rung, or a rung inserted between
/// them, has after the edits, in the comment's own spacing. A comment
/// inside text another edit replaces, or after a deleted rung, is left as
/// it is.
fn comment_edits(r: &Retune, edits: &[Edit]) -> Vec<Edit> {
    let output = &r.chain.names.output;
    let mut out = Vec::new();
    for (i, item) in r.chain.items.iter().enumerate() {
        let Some(old) = stated(item) else { continue };
        let gap_end = r.chain.items.get(i + 1).map(|n| n.stmt.start).unwrap_or(item.stmt.end);
        let gap = item.stmt.end..gap_end;
        // A deleted or replaced rung states no bound a comment could follow.
        if edits.iter().any(|e| e.range.start <= item.stmt.start && item.stmt.end <= e.range.end) {
            continue;
        }
        let mut at = gap.start;
        for line in r.src[gap.clone()].split_inclusive('\n') {
            let line_start = at;
            at += line.len();
            let Some(slash) = comment_start(line) else { continue };
            let text = line[slash..].trim_end_matches('\n');
            if !mentions(text, output) {
                continue;
            }
            let base = line_start + slash;
            // The last rung above the comment once edited: one inserted
            // between them, else this one with its constant as edited.
            let inserted = edits
                .iter()
                .enumerate()
                .filter(|(_, e)| e.range.is_empty() && gap.start <= e.range.start && e.range.start <= base)
                .filter_map(|(i, e)| last_comparison(&e.text, output).map(|v| ((e.range.start, i), v)))
                .max_by_key(|&(at, _)| at)
                .map(|(_, v)| v);
            let moved = || {
                let Cond::Below { constant, .. } = &item.cond else { return None };
                let e = edits.iter().find(|e| e.range == *constant)?;
                numbers_in(&e.text).into_iter().find(|n| n.range == (0..e.text.len())).map(|n| n.value)
            };
            let Some(new) = inserted.or_else(moved).filter(|&n| n != old) else { continue };
            for n in numbers_in(text).into_iter().filter(|n| n.value == old) {
                let mut written = format_number(new);
                if !n.spaced {
                    written = written.replace(" * ", "*");
                }
                let range = base + n.range.start..base + n.range.end;
                if !edits.iter().any(|e| e.range.start < range.end && range.start < e.range.end) {
                    out.push(Edit { range, text: written });
                }
            }
        }
    }
    out
}

/// Where a line's `//` comment begins, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes[i + 1] == b'/' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether `text` names `var` as a word.
fn mentions(text: &str, var: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(var).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(word) && !text[i + var.len()..].chars().next().is_some_and(word)
    })
}

/// A number a comment or a constant states: `16384`, `128*128`,
/// `128 * 128`, `1e6`.
#[derive(Debug, PartialEq)]
struct Number {
    range: std::ops::Range<usize>,
    value: i64,
    /// Written with spaces around `*`.
    spaced: bool,
}

/// One literal at byte `i` of `text`: digits, then an optional `eN`; its
/// end and value.
fn literal_at(text: &str, i: usize) -> Option<(usize, f64)> {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j == i {
        return None;
    }
    if j + 1 < b.len() && (b[j] == b'e' || b[j] == b'E') && b[j + 1].is_ascii_digit() {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    // `2.5` or `x86y` is no integer literal; a sentence's full stop is.
    let decimal = j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit();
    if j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') || decimal {
        return None;
    }
    text[i..j].parse::<f64>().ok().map(|v| (j, v))
}

/// The integer-valued products of literals in `text`.
fn numbers_in(text: &str) -> Vec<Number> {
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let literal = |i: usize| literal_at(text, i);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && word(b[i - 1])) {
            i += 1;
            continue;
        }
        let Some((mut end, mut value)) = literal(i) else {
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            continue;
        };
        let mut spaced = false;
        loop {
            let mut j = end;
            let before = j;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j >= b.len() || b[j] != b'*' {
                break;
            }
            let space = j > before;
            j += 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let Some((next_end, v)) = literal(j) else { break };
            spaced |= space;
            end = next_end;
            value *= v;
        }
        if value.fract() == 0.0 && value.abs() < i64::MAX as f64 {
            out.push(Number { range: i..end, value: value as i64, spaced });
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cpp::{CppFile, FunctionNames};
    use crate::core::testdata::CURRENT;
    use crate::core::workload::Heuristic;

    /// The comment edits for `edits` on the fixture's matmul ladder with a
    /// comment restating the `256 * 256` rung's bound below it.
    fn comments_after(edits: impl Fn(&str, &Chain) -> Vec<Edit>) -> Vec<String> {
        let src = CURRENT.replacen(
            "  if (outputSize <= 256 * 256) {\n    return 32;\n  }\n",
            "  if (outputSize <= 256 * 256) {\n    return 32;\n  }\n  // outputSize > 256*256 below.\n",
            1,
        );
        let file = CppFile::parse(&src);
        let site = file.locate(Heuristic::Matmul, &FunctionNames::iree_defaults(Heuristic::Matmul)).unwrap();
        let chain = Chain::read(&file, &site).unwrap();
        let ladder = Ladder { rungs: vec![] };
        let r = Retune {
            src: &src,
            chain: &chain,
            ladder: &ladder,
            low: false,
            output: (0, 0),
            reduction: (0, 0),
            reach: &|_, _| true,
        };
        let e = edits(&src, &chain);
        comment_edits(&r, &e).into_iter().map(|c| format!("{} -> {}", &src[c.range], c.text)).collect()
    }

    fn rung<'c>(src: &str, chain: &'c Chain, constant: &str) -> &'c Item {
        chain
            .items
            .iter()
            .find(|i| matches!(&i.cond, Cond::Below { constant: c, .. } if &src[c.clone()] == constant))
            .unwrap()
    }

    #[test]
    fn a_comment_follows_its_rung_s_moved_or_inserted_bound() {
        // The rung's constant moves: the comment says the new one, compact.
        let moved = comments_after(|src, chain| match &rung(src, chain, "256 * 256").cond {
            Cond::Below { constant, .. } => vec![Edit { range: constant.clone(), text: "256 * 512".into() }],
            _ => unreachable!(),
        });
        assert_eq!(moved, vec!["256*256 -> 256*512"]);
        // A rung inserted between them: the comment follows it.
        let inserted = comments_after(|src, chain| {
            let end = rung(src, chain, "256 * 256").stmt.end;
            vec![Edit { range: end..end, text: "\n\n  if (outputSize <= 512 * 512) {\n    return 16;\n  }".into() }]
        });
        assert_eq!(inserted, vec!["256*256 -> 512*512"]);
        // Inserted after the comment, or nothing moved: it stays.
        let after = comments_after(|src, chain| {
            let items = &chain.items;
            let i = items.iter().position(|x| std::ptr::eq(x, rung(src, chain, "256 * 256"))).unwrap();
            let next = items[i + 1].stmt.start;
            vec![Edit { range: next..next, text: "if (outputSize <= 256 * 512) {\n    return 16;\n  }\n\n  ".into() }]
        });
        assert!(after.is_empty(), "{after:?}");
    }

    #[test]
    fn numbers_in_comments_are_read_with_their_spacing() {
        let n = numbers_in("outputSize > 128*128. With 1e6 and 128 * 256, not x86 or 2.5");
        let got: Vec<(i64, bool)> = n.iter().map(|n| (n.value, n.spaced)).collect();
        assert_eq!(got, vec![(16384, false), (1_000_000, false), (32768, true)]);
        assert_eq!(n[0].range, 13..20);
        assert_eq!(comment_start("  x = \"//\"; // outputSize"), Some(12));
        assert!(mentions("// outputSize > 1", "outputSize") && !mentions("// outputSizes", "outputSize"));
    }
}
