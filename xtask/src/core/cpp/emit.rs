//! Generating C++ for a fitted rule, in the style of the file at the tuned
//! revision.
//!
//! A rule ([`crate::core::rule::Rule`]) becomes edits to the heuristic file:
//! for the 2025 style, a new inline `limitParallelLoops` chain in place of the
//! old one; for the 2026 style, a new body of the `get*LimitParallelLoops`
//! helper with early `return N;` rungs, keeping the `lowParallelism ? a : b`
//! values the sweep did not tune; and new values of the early-return
//! constants. Rungs whose limit is 1 (no split) become `return std::nullopt;`,
//! which both styles' callers treat as "do not split". The output follows
//! LLVM's clang-format style (two-space indents, braces on every branch).

use super::patch::Edit;
use super::rules::{eval_ladder, BinOp, Env, Expr, Stmt};
use super::{LadderStyle, Site};
use crate::core::rule::{Ladder, LimitSpec, Rule};

/// How a number reads in IREE's code: `128 * 128` for large powers of two,
/// plain decimals otherwise.
pub(crate) fn format_number(v: i64) -> String {
    if v >= 1024 && v.count_ones() == 1 {
        let e = v.trailing_zeros();
        let a = 1i64 << (e / 2);
        let b = 1i64 << (e - e / 2);
        return format!("{a} * {b}");
    }
    v.to_string()
}

/// Whether the ladder compares outputSize with `<=` (the 2026 matmul style).
pub(crate) fn uses_inclusive(site: &Site) -> bool {
    fn walk(stmts: &[Stmt], le: &mut usize, lt: &mut usize) {
        for s in stmts {
            if let Stmt::If { cond, then, els } = s {
                count(cond, le, lt);
                walk(then, le, lt);
                walk(els, le, lt);
            }
        }
    }
    fn count(e: &Expr, le: &mut usize, lt: &mut usize) {
        if let Expr::Bin(op, a, b) = e {
            if matches!(a.as_ref(), Expr::Var(v) if v == "outputSize") {
                match op {
                    BinOp::Le => *le += 1,
                    BinOp::Lt => *lt += 1,
                    _ => {}
                }
            }
            count(a, le, lt);
            count(b, le, lt);
        }
    }
    let (mut le, mut lt) = (0, 0);
    walk(&site.ladder, &mut le, &mut lt);
    le > lt
}

/// How the code keeps the target the sweep did not tune (low-parallelism
/// targets when tuning the default ones, and the other way round).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Keep {
    /// The old code has no low-parallelism variant: nothing to keep.
    Nothing,
    /// Per rung, per leaf (each reduction split, then the rung default):
    /// the old value for the untuned target, the same for every measured
    /// shape of the leaf; a `lowParallelism ? a : b` where it differs from
    /// the tuned one. `None`: no measured shape in the leaf.
    Merged { untuned_low: bool, rungs: Vec<Vec<Option<i64>>> },
    /// The old values vary inside a new leaf (or are `std::nullopt` or a
    /// clamp): the old body is kept whole for the untuned target, ahead of
    /// the new ladder.
    Block { untuned_low: bool },
}

impl Keep {
    fn get(&self, rung: usize, leaf: usize) -> Option<i64> {
        match self {
            Keep::Merged { rungs, .. } => rungs.get(rung).and_then(|r| r.get(leaf)).copied().flatten(),
            _ => None,
        }
    }

    fn untuned_low(&self) -> bool {
        matches!(self, Keep::Merged { untuned_low: true, .. } | Keep::Block { untuned_low: true })
    }
}

/// Decides how to keep the untuned target: reads the old ladder with the
/// untuned setting on every measured shape, grouped by the new ladder's
/// leaves. `tuned_low`: the sweep measured low-parallelism targets.
pub(crate) fn keep(site: &Site, ladder: &Ladder, envs: &[(i64, i64, Env)], tuned_low: bool) -> Keep {
    let has_flag = matches!(site.style, LadderStyle::Helper { .. }) && ladder_mentions(&site.ladder, "lowParallelism");
    if !has_flag {
        return Keep::Nothing;
    }
    let untuned_low = !tuned_low;
    let mut rungs = Vec::new();
    for (idx, rung) in ladder.rungs.iter().enumerate() {
        let lower = if idx == 0 { i64::MIN } else { ladder.rungs[idx - 1].upper.unwrap_or(i64::MIN) };
        let leaf_of =
            |reduction: i64| rung.splits.iter().position(|s| reduction < s.threshold).unwrap_or(rung.splits.len());
        let mut leaves = Vec::new();
        for leaf in 0..=rung.splits.len() {
            let mut value: Option<i64> = None;
            for (output, reduction, env) in envs {
                let in_rung = *output >= lower && rung.upper.is_none_or(|u| *output < u);
                if !in_rung || leaf_of(*reduction) != leaf {
                    continue;
                }
                let mut e = env.clone();
                e.insert("lowParallelism".into(), i64::from(untuned_low));
                // `std::nullopt` (or an unreadable path) cannot sit in a
                // ternary: keep the old body whole.
                let Ok(Some(v)) = eval_ladder(&site.ladder, &e) else { return Keep::Block { untuned_low } };
                match value {
                    None => value = Some(v),
                    Some(x) if x == v => {}
                    // Varies inside the leaf (a clamp, or several old rungs).
                    Some(_) => return Keep::Block { untuned_low },
                }
            }
            leaves.push(value);
        }
        rungs.push(leaves);
    }
    Keep::Merged { untuned_low, rungs }
}

fn ladder_mentions(stmts: &[Stmt], name: &str) -> bool {
    fn expr(e: &Expr, name: &str) -> bool {
        let mut vars = Vec::new();
        e.vars(&mut vars);
        vars.iter().any(|v| v == name)
    }
    stmts.iter().any(|s| match s {
        Stmt::If { cond, then, els } => expr(cond, name) || ladder_mentions(then, name) || ladder_mentions(els, name),
        Stmt::Return(e) | Stmt::Assign(_, e) => expr(e, name),
        Stmt::Other(_) => false,
    })
}

/// Names the generated code uses for its inputs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Names {
    pub(crate) output: String,
    /// `None`: the function has no reduction-size variable before the
    /// ladder, so the rule must not split on it.
    pub(crate) reduction: Option<String>,
    pub(crate) low_parallelism: Option<String>,
    /// What `min(c, ...)` clamps with (`startTileSize`, `tileSizes[0]`).
    pub(crate) start_tile: Option<String>,
}

/// Finds the names in scope at the ladder.
pub(crate) fn names(site: &Site, src: &str) -> Names {
    match &site.style {
        LadderStyle::Helper { helper, .. } => Names {
            output: helper.params.first().cloned().unwrap_or_else(|| "outputSize".into()),
            reduction: helper.params.get(1).cloned(),
            low_parallelism: helper.params.iter().find(|p| p.contains("ow")).cloned(),
            start_tile: helper.params.get(2).cloned().or_else(|| clamp_var(&site.ladder)),
        },
        LadderStyle::Inline { decl, .. } => {
            let before = &src[site.function.body.start..decl.start];
            let declared = |n: &str| before.contains(&format!("int64_t {n} ="));
            Names {
                output: "outputSize".into(),
                reduction: ["reductionSize", "kSize"].into_iter().find(|n| declared(n)).map(str::to_string),
                low_parallelism: None,
                start_tile: clamp_var(&site.ladder),
            }
        }
    }
}

/// The variable the old ladder's `std::min(c, x)` clamps with.
fn clamp_var(stmts: &[Stmt]) -> Option<String> {
    fn expr(e: &Expr) -> Option<String> {
        match e {
            Expr::Call(n, args) if n == "min" && args.len() == 2 => match (&args[0], &args[1]) {
                (Expr::Num(_), Expr::Var(v)) | (Expr::Var(v), Expr::Num(_)) => Some(v.clone()),
                _ => None,
            },
            Expr::Cond(_, a, b) => expr(a).or_else(|| expr(b)),
            _ => None,
        }
    }
    stmts.iter().find_map(|s| match s {
        Stmt::If { then, els, .. } => clamp_var(then).or_else(|| clamp_var(els)),
        Stmt::Return(e) | Stmt::Assign(_, e) => expr(e),
        Stmt::Other(_) => None,
    })
}

/// The C++ value of a leaf; `None` for "no split". `untuned` is the value
/// kept for the other target (`untuned_low`: the low-parallelism one).
fn value(limit: LimitSpec, untuned: Option<i64>, untuned_low: bool, names: &Names) -> Option<String> {
    let tuned = match limit {
        LimitSpec::Fixed(1) if untuned.is_none() => return None,
        LimitSpec::Fixed(v) => v.to_string(),
        LimitSpec::Clamp(c) => {
            let var = names.start_tile.as_deref().unwrap_or("startTileSize");
            format!("std::min<int64_t>({c}, {var})")
        }
    };
    match (untuned, &names.low_parallelism) {
        (Some(u), Some(flag)) if LimitSpec::Fixed(u) != limit => {
            Some(if untuned_low { format!("{flag} ? {u} : {tuned}") } else { format!("{flag} ? {tuned} : {u}") })
        }
        _ => Some(tuned),
    }
}

fn cmp(names: &Names, upper: i64, inclusive: bool) -> String {
    if inclusive {
        format!("{} <= {}", names.output, format_number(upper - 1))
    } else {
        format!("{} < {}", names.output, format_number(upper))
    }
}

/// The helper's new body, without its braces' own lines.
fn helper_body(ladder: &Ladder, low: &Keep, names: &Names, inclusive: bool, indent: &str) -> String {
    let i1 = indent;
    let i2 = format!("{indent}  ");
    let untuned_low = low.untuned_low();
    let ret = |limit: LimitSpec, lowv: Option<i64>, ind: &str| match value(limit, lowv, untuned_low, names) {
        Some(v) => format!("{ind}return {v};\n"),
        None => format!("{ind}return std::nullopt;\n"),
    };
    let mut blocks = Vec::new();
    for (idx, rung) in ladder.rungs.iter().enumerate() {
        let mut inner = String::new();
        let body_indent = if rung.upper.is_some() { i2.as_str() } else { i1 };
        if let Some(red) = &names.reduction {
            for (leaf, split) in rung.splits.iter().enumerate() {
                let deeper = format!("{body_indent}  ");
                inner.push_str(&format!("{body_indent}if ({red} < {}) {{\n", split.threshold));
                inner.push_str(&ret(split.limit, low.get(idx, leaf), &deeper));
                inner.push_str(&format!("{body_indent}}}\n"));
            }
        }
        inner.push_str(&ret(rung.limit, low.get(idx, rung.splits.len()), body_indent));
        match rung.upper {
            Some(u) => blocks.push(format!("{i1}if ({}) {{\n{inner}{i1}}}\n", cmp(names, u, inclusive))),
            None => blocks.push(inner),
        }
    }
    blocks.join("\n")
}

/// The new inline chain.
fn inline_chain(ladder: &Ladder, names: &Names, inclusive: bool, indent: &str) -> String {
    let assign = |limit: LimitSpec, ind: &str| match value(limit, None, true, names) {
        Some(v) => format!("{ind}limitParallelLoops = {v};\n"),
        None => format!("{ind}return std::nullopt;\n"),
    };
    let i2 = format!("{indent}  ");
    let i3 = format!("{indent}    ");
    let mut out = String::new();
    for (idx, rung) in ladder.rungs.iter().enumerate() {
        let head = match (idx, rung.upper) {
            (0, Some(u)) => format!("if ({}) {{\n", cmp(names, u, inclusive)),
            (_, Some(u)) => format!(" else if ({}) {{\n", cmp(names, u, inclusive)),
            (0, None) => String::new(),
            (_, None) => " else {\n".to_string(),
        };
        let single = idx == 0 && rung.upper.is_none();
        let body_indent = if single { indent } else { i2.as_str() };
        let deeper = if single { i2.as_str() } else { i3.as_str() };
        out.push_str(&head);
        match &names.reduction {
            Some(red) if !rung.splits.is_empty() => {
                for (leaf, split) in rung.splits.iter().enumerate() {
                    let prefix = if leaf == 0 { body_indent.to_string() } else { " else ".to_string() };
                    out.push_str(&format!("{prefix}if ({red} < {}) {{\n", split.threshold));
                    out.push_str(&assign(split.limit, deeper));
                    out.push_str(&format!("{body_indent}}}"));
                }
                out.push_str(" else {\n");
                out.push_str(&assign(rung.limit, deeper));
                out.push_str(&format!("{body_indent}}}\n"));
            }
            _ => out.push_str(&assign(rung.limit, body_indent)),
        }
        if !single {
            out.push_str(indent);
            out.push('}');
        }
    }
    // The chain replaces the old statement, which started after the indent
    // and ended at its closing brace.
    out.trim_start().trim_end_matches('\n').to_string()
}

/// The text inside `body` with the flag's value known: `flag ? a : b`
/// becomes `a` or `b`, and `flag && x` becomes `x` when the flag is set.
fn fold_flag(src: &str, body: &std::ops::Range<usize>, flag: &str, value: bool) -> String {
    let file = super::CppFile::parse(src);
    let mut edits = Vec::new();
    file.visit_range(body.clone(), &mut |node, text| match node.kind() {
        "conditional_expression" => {
            let cond = node.child_by_field_name("condition").map(|c| text(c).trim_matches(|ch| ch == '(' || ch == ')'));
            if cond == Some(flag) {
                let pick = node.child_by_field_name(if value { "consequence" } else { "alternative" });
                if let Some(p) = pick {
                    edits.push(Edit { range: node.byte_range(), text: text(p).to_string() });
                    return false;
                }
            }
            true
        }
        "binary_expression" if value => {
            let op = node.child_by_field_name("operator").map(text);
            let left = node.child_by_field_name("left").map(text);
            if op == Some("&&") && left == Some(flag) {
                if let Some(r) = node.child_by_field_name("right") {
                    edits.push(Edit { range: node.byte_range(), text: text(r).to_string() });
                    return false;
                }
            }
            true
        }
        _ => true,
    });
    let folded = super::patch::apply_edits(src, &edits).unwrap_or_else(|_| src.to_string());
    let removed: isize = edits.iter().map(|e| (e.range.len() as isize) - (e.text.len() as isize)).sum();
    folded[body.start + 1..(body.end as isize - removed) as usize - 1].to_string()
}

/// Edits that put `rule` into the file at `site`.
pub(crate) fn rule_edits(src: &str, site: &Site, rule: &Rule, low: &Keep) -> Result<Vec<Edit>, String> {
    let names = names(site, src);
    let inclusive = uses_inclusive(site);
    let clamps = rule.ladder.rungs.iter().any(|r| {
        matches!(r.limit, LimitSpec::Clamp(_)) || r.splits.iter().any(|s| matches!(s.limit, LimitSpec::Clamp(_)))
    });
    if clamps && names.start_tile.is_none() {
        return Err(format!("`{}` has no start-tile variable to clamp with", site.function.name));
    }
    if rule.ladder.rungs.iter().any(|r| !r.splits.is_empty()) && names.reduction.is_none() {
        return Err(format!(
            "`{}` has no reduction-size variable before its ladder; a rule with reduction buckets \
             cannot be written there",
            site.function.name
        ));
    }
    let mut edits = Vec::new();
    match &site.style {
        LadderStyle::Helper { body, .. } => {
            let mut text = helper_body(&rule.ladder, low, &names, inclusive, &site.indent);
            if let Keep::Block { untuned_low } = low {
                // The old body, whole, for the target the sweep did not tune.
                let flag = names.low_parallelism.as_deref().unwrap_or("lowParallelism");
                let cond = if *untuned_low { flag.to_string() } else { format!("!{flag}") };
                let folded = fold_flag(src, body, flag, *untuned_low);
                let old = folded.trim_matches('\n');
                let mut block = format!("{}if ({cond}) {{\n", site.indent);
                for line in old.lines() {
                    if line.trim().is_empty() {
                        block.push('\n');
                    } else {
                        block.push_str(&format!("  {line}\n"));
                    }
                }
                block.push_str(&format!("{}}}\n\n", site.indent));
                text = block + &text;
            }
            let closing = super::line_indent(src, body.end - 1);
            edits.push(Edit { range: body.clone(), text: format!("{{\n{text}{closing}}}") });
        }
        LadderStyle::Inline { chain, .. } => {
            edits
                .push(Edit { range: chain.clone(), text: inline_chain(&rule.ladder, &names, inclusive, &site.indent) });
        }
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_iree() {
        assert_eq!(format_number(16384), "128 * 128");
        assert_eq!(format_number(8192), "64 * 128");
        assert_eq!(format_number(8 * 1024 * 1024), "2048 * 4096");
        assert_eq!(format_number(50000), "50000");
        assert_eq!(format_number(512), "512");
    }
}
