//! The ladder as the file writes it: an ordered chain of rungs, each a
//! condition and a body, with the byte ranges an edit needs.
//!
//! A rung whose condition is `outputSize < T` (or `<=`) is part of the
//! skeleton a retune may edit: its threshold can move, its body change, a
//! rung can be inserted before it. Any other condition (`outputSize <= 16 *
//! 16 || reductionSize > 1e7`, `reductionSize > 1e6`) is frozen: it keeps its
//! place, its condition and its body, so a rung no measured shape reaches is
//! never dropped. A body is a few `reductionSize` guards and a default, each
//! leaf a value per target (`lowParallelism ? a : b`). Both styles are read:
//! the 2026 helper (`if (...) { return v; }` rungs) and the 2025 inline
//! chain (`if (...) { limitParallelLoops = v; } else if ...`).

use super::rules::{self, BinOp, Expr};
use super::{compound_statements, CppFile, LadderStyle, Site};
use std::ops::Range;
use tree_sitter::Node;

/// A leaf's value for one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Val {
    Fixed(i64),
    /// `std::min<int64_t>(c, startTileSize)`.
    Clamp(i64),
    /// `std::nullopt`: no split.
    NoSplit,
}

/// A leaf: its value on default and on low-parallelism targets (equal when
/// the code does not tell them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    pub(crate) default: Val,
    pub(crate) low: Val,
}

impl Leaf {
    pub(crate) fn both(v: Val) -> Leaf {
        Leaf { default: v, low: v }
    }

    /// This leaf with the value of one target replaced.
    pub(crate) fn with(self, low: bool, v: Val) -> Leaf {
        if low {
            Leaf { low: v, ..self }
        } else {
            Leaf { default: v, ..self }
        }
    }
}

/// A leaf in the source: the whole statement (`return v;` or
/// `limitParallelLoops = v;`) and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeafAt {
    pub(crate) stmt: Range<usize>,
    pub(crate) leaf: Leaf,
}

/// `reductionSize <op> t` guarding a leaf inside a rung.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Guard {
    pub(crate) op: BinOp,
    pub(crate) t: i64,
}

impl Guard {
    pub(crate) fn holds(&self, reduction: i64) -> bool {
        match self.op {
            BinOp::Lt => reduction < self.t,
            BinOp::Le => reduction <= self.t,
            BinOp::Gt => reduction > self.t,
            BinOp::Ge => reduction >= self.t,
            _ => false,
        }
    }
}

/// A rung's body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Body {
    /// Guards tried in order, then the default.
    Leaves { guarded: Vec<(Guard, LeafAt)>, otherwise: LeafAt },
    /// Anything else: kept as it is.
    Opaque,
}

impl Body {
    /// The leaf a shape of reduction size `reduction` gets.
    pub(crate) fn leaf(&self, reduction: i64) -> Option<Leaf> {
        match self {
            Body::Leaves { guarded, otherwise } => {
                Some(guarded.iter().find(|(g, _)| g.holds(reduction)).map(|(_, l)| l.leaf).unwrap_or(otherwise.leaf))
            }
            Body::Opaque => None,
        }
    }
}

/// A rung's condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    /// `outputSize < t` (`inclusive`: written `outputSize <= t - 1`), with
    /// the range of the threshold's text.
    Below { bound: i64, inclusive: bool, constant: Range<usize> },
    /// Anything else: frozen.
    Other(Expr),
    /// The final `return` or `else`.
    Always,
}

/// One rung.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    /// The statement (helper) or branch (inline: from its `if`, or from the
    /// final `else`'s block, to its closing brace).
    pub(crate) stmt: Range<usize>,
    pub(crate) cond: Cond,
    pub(crate) body: Body,
    /// Inside the body's braces (none for a bare final `return`).
    pub(crate) block: Option<Range<usize>>,
}

impl Item {
    /// The output bound below which this rung takes every shape: a frozen
    /// `outputSize < B || ...` leaves nothing below `B` to the rungs after
    /// it.
    pub(crate) fn covers_below(&self, output: &str) -> Option<i64> {
        fn walk(e: &Expr, output: &str) -> Option<i64> {
            match e {
                Expr::Bin(BinOp::Or, a, b) => match (walk(a, output), walk(b, output)) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                },
                Expr::Bin(op @ (BinOp::Lt | BinOp::Le), a, b) if matches!(a.as_ref(), Expr::Var(v) if v == output) => {
                    let t = b.eval_const()?.to_i64().ok()?;
                    Some(if *op == BinOp::Le { t + 1 } else { t })
                }
                _ => None,
            }
        }
        match &self.cond {
            Cond::Below { bound, .. } => Some(*bound),
            Cond::Other(e) => walk(e, output),
            Cond::Always => None,
        }
    }

    /// Whether the rung is part of the editable skeleton.
    pub(crate) fn simple(&self) -> bool {
        matches!(self.cond, Cond::Below { .. } | Cond::Always) && !matches!(self.body, Body::Opaque)
    }
}

/// The whole ladder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Chain {
    /// The 2026 helper style (else the 2025 inline chain).
    pub(crate) helper: bool,
    pub(crate) items: Vec<Item>,
    /// Indentation of the chain's statements.
    pub(crate) indent: String,
    /// The names in scope: output and reduction sizes, the start tile, the
    /// low-parallelism flag (if the code has one).
    pub(crate) names: super::emit::Names,
}

fn text<'a>(src: &'a str, n: Node) -> &'a str {
    &src[n.byte_range()]
}

/// The expression inside a condition's parentheses.
fn inner(n: Node) -> Node {
    let mut n = n;
    while matches!(n.kind(), "condition_clause" | "parenthesized_expression") {
        let mut c = n.walk();
        let Some(next) = n.named_children(&mut c).filter(|x| x.kind() != "comment").last() else { break };
        n = next;
    }
    n
}

fn is_var(src: &str, n: Node, names: &[&str]) -> bool {
    n.kind() == "identifier" && names.contains(&text(src, n))
}

/// A comparison `var <op> constant` (or reversed), normalised to
/// `var <op> constant`, with the constant's node.
fn comparison<'t>(src: &str, n: Node<'t>, names: &[&str]) -> Option<(BinOp, i64, Node<'t>)> {
    let n = inner(n);
    if n.kind() != "binary_expression" {
        return None;
    }
    let (l, r) = (n.child_by_field_name("left")?, n.child_by_field_name("right")?);
    let op = match text(src, n.child_by_field_name("operator")?) {
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        _ => return None,
    };
    let value = |x: Node| rules::expr_from_node(src, x).ok()?.eval_const()?.to_i64().ok();
    if is_var(src, l, names) {
        return Some((op, value(r)?, r));
    }
    if is_var(src, r, names) {
        let flipped = match op {
            BinOp::Lt => BinOp::Gt,
            BinOp::Le => BinOp::Ge,
            BinOp::Gt => BinOp::Lt,
            _ => BinOp::Le,
        };
        return Some((flipped, value(l)?, l));
    }
    None
}

/// A leaf value expression.
fn val(e: &Expr) -> Option<Val> {
    match e {
        Expr::Num(_) => e.int().map(Val::Fixed),
        Expr::Var(v) if v == "std::nullopt" || v == "nullopt" => Some(Val::NoSplit),
        Expr::Call(n, args) if n == "min" && args.len() == 2 => match (&args[0], &args[1]) {
            (c, Expr::Var(_)) | (Expr::Var(_), c) => c.int().map(Val::Clamp),
            _ => None,
        },
        _ => None,
    }
}

fn leaf_of_expr(e: &Expr, flag: Option<&str>) -> Option<Leaf> {
    if let (Expr::Cond(c, a, b), Some(flag)) = (e, flag) {
        if matches!(c.as_ref(), Expr::Var(v) if v == flag) {
            return Some(Leaf { low: val(a)?, default: val(b)? });
        }
    }
    val(e).map(Leaf::both)
}

/// A `return v;` or `limitParallelLoops = v;` statement.
fn leaf_stmt(src: &str, n: Node, flag: Option<&str>) -> Option<LeafAt> {
    let e = match rules::stmt_from_node(src, n).ok()? {
        rules::Stmt::Return(e) | rules::Stmt::Assign(_, e) => e,
        _ => return None,
    };
    Some(LeafAt { stmt: n.byte_range(), leaf: leaf_of_expr(&e, flag)? })
}

/// The statements of a block or a single statement.
fn statements(n: Node) -> Vec<Node> {
    if n.kind() == "compound_statement" {
        compound_statements(n)
    } else {
        vec![n]
    }
}

/// A body: helper style (`if (g) { return v; }`* then `return v;`) or
/// inline style (`limitParallelLoops = v;`, or an `if`/`else` chain of
/// guards whose branches assign).
fn body(src: &str, block: Node, reduction: &[&str], flag: Option<&str>) -> Body {
    let stmts = statements(block);
    let parse = || -> Option<Body> {
        let (last, guards) = stmts.split_last()?;
        let mut guarded = Vec::new();
        if guards.is_empty() && last.kind() == "if_statement" {
            // Inline style: if (g) { v } else if (g2) { v2 } else { v3 }.
            let mut n = *last;
            loop {
                let (op, t, _) = comparison(src, n.child_by_field_name("condition")?, reduction)?;
                let leaf = match statements(n.child_by_field_name("consequence")?).as_slice() {
                    [one] => leaf_stmt(src, *one, flag)?,
                    _ => return None,
                };
                guarded.push((Guard { op, t }, leaf));
                let alt = n.child_by_field_name("alternative")?;
                let mut c = alt.walk();
                let next = alt.named_children(&mut c).find(|x| x.kind() != "comment")?;
                if next.kind() == "if_statement" {
                    n = next;
                    continue;
                }
                let otherwise = match statements(next).as_slice() {
                    [one] => leaf_stmt(src, *one, flag)?,
                    _ => return None,
                };
                return Some(Body::Leaves { guarded, otherwise });
            }
        }
        for g in guards {
            if g.kind() != "if_statement" || g.child_by_field_name("alternative").is_some() {
                return None;
            }
            let (op, t, _) = comparison(src, g.child_by_field_name("condition")?, reduction)?;
            let leaf = match statements(g.child_by_field_name("consequence")?).as_slice() {
                [one] => leaf_stmt(src, *one, flag)?,
                _ => return None,
            };
            guarded.push((Guard { op, t }, leaf));
        }
        Some(Body::Leaves { guarded, otherwise: leaf_stmt(src, *last, flag)? })
    };
    parse().unwrap_or(Body::Opaque)
}

/// The range inside a block's braces.
fn block_inside(n: Node) -> Option<Range<usize>> {
    (n.kind() == "compound_statement").then(|| n.start_byte() + 1..n.end_byte() - 1)
}

fn cond(src: &str, n: Node, output: &[&str]) -> Cond {
    if let Some((op @ (BinOp::Lt | BinOp::Le), t, constant)) = comparison(src, n, output) {
        let inclusive = op == BinOp::Le;
        return Cond::Below { bound: if inclusive { t + 1 } else { t }, inclusive, constant: constant.byte_range() };
    }
    match rules::expr_from_node(src, n) {
        Ok(e) => Cond::Other(e),
        Err(_) => Cond::Other(Expr::Bool(false)),
    }
}

impl Chain {
    /// Reads the ladder of `site`; `None` when it has a form the editor
    /// does not know (a retune then rewrites the ladder whole).
    pub(crate) fn read(file: &CppFile, site: &Site) -> Option<Chain> {
        let src = file.text;
        let names = super::emit::names(site, src);
        let output = [names.output.as_str()];
        let reduction: Vec<&str> =
            names.reduction.iter().map(String::as_str).chain(["reductionSize", "kSize"]).collect();
        let flag = names.low_parallelism.as_deref();
        let mut items = Vec::new();
        match &site.style {
            LadderStyle::Helper { body: b, .. } => {
                let node = file.node_at(b)?;
                for s in compound_statements(node) {
                    match s.kind() {
                        "if_statement" if s.child_by_field_name("alternative").is_none() => {
                            let consequence = s.child_by_field_name("consequence")?;
                            items.push(Item {
                                stmt: s.byte_range(),
                                cond: cond(src, s.child_by_field_name("condition")?, &output),
                                body: body(src, consequence, &reduction, flag),
                                block: block_inside(consequence),
                            });
                        }
                        "return_statement" => {
                            let leaf = leaf_stmt(src, s, flag)?;
                            items.push(Item {
                                stmt: s.byte_range(),
                                cond: Cond::Always,
                                body: Body::Leaves { guarded: vec![], otherwise: leaf },
                                block: None,
                            });
                        }
                        _ => return None,
                    }
                }
            }
            LadderStyle::Inline { chain, .. } => {
                let mut n = file.node_at(chain)?;
                loop {
                    let consequence = n.child_by_field_name("consequence")?;
                    items.push(Item {
                        stmt: n.start_byte()..consequence.end_byte(),
                        cond: cond(src, n.child_by_field_name("condition")?, &output),
                        body: body(src, consequence, &reduction, flag),
                        block: block_inside(consequence),
                    });
                    let Some(alt) = n.child_by_field_name("alternative") else { break };
                    let mut c = alt.walk();
                    let next = alt.named_children(&mut c).find(|x| x.kind() != "comment")?;
                    if next.kind() == "if_statement" {
                        n = next;
                        continue;
                    }
                    items.push(Item {
                        stmt: next.byte_range(),
                        cond: Cond::Always,
                        body: body(src, next, &reduction, flag),
                        block: block_inside(next),
                    });
                    break;
                }
            }
        }
        // The chain must end in a catch-all for the skeleton to be whole.
        if !matches!(items.last()?.cond, Cond::Always) {
            return None;
        }
        Some(Chain {
            helper: matches!(site.style, LadderStyle::Helper { .. }),
            items,
            indent: site.indent.clone(),
            names,
        })
    }

    /// The rung that decides a shape, given the values conditions read.
    pub(crate) fn item(&self, env: &rules::Env) -> Option<usize> {
        let output = *env.get("outputSize")?;
        self.items.iter().position(|it| match &it.cond {
            Cond::Below { bound, .. } => output < *bound,
            Cond::Other(e) => e.eval(env).is_ok_and(|v| v.truthy()),
            Cond::Always => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testdata::{CURRENT, INLINE_2025};
    use crate::core::workload::Heuristic;

    fn chain(src: &str, h: Heuristic) -> Chain {
        let f = CppFile::parse(src);
        let site = f.locate(h, &super::super::FunctionNames::iree_defaults(h)).unwrap();
        Chain::read(&f, &site).expect("a chain")
    }

    #[test]
    fn both_styles_read_as_chains() {
        let c = chain(CURRENT, Heuristic::Conv);
        assert!(c.helper);
        let bounds: Vec<Option<i64>> = c
            .items
            .iter()
            .map(|i| match i.cond {
                Cond::Below { bound, .. } => Some(bound),
                _ => None,
            })
            .collect();
        assert_eq!(bounds, vec![Some(1024), Some(16384), Some(65536), Some(262144), None, None]);
        // The 256*256 rung: two guards, ternary leaves.
        let Body::Leaves { guarded, otherwise } = &c.items[2].body else { panic!() };
        assert_eq!(guarded.len(), 2);
        assert_eq!(guarded[0].1.leaf, Leaf { low: Val::Fixed(8), default: Val::Fixed(16) });
        assert_eq!(otherwise.leaf, Leaf::both(Val::Fixed(64)));
        // `outputSize >= 1024 * 1024 && reductionSize >= 200000` is frozen.
        assert!(!c.items[4].simple());
        assert_eq!(c.items[5].body.leaf(0), Some(Leaf::both(Val::Clamp(8))));

        let m = chain(CURRENT, Heuristic::Matmul);
        // `outputSize <= 16 * 16 || ...` and `reductionSize > 1e6` frozen.
        let simple: Vec<bool> = m.items.iter().map(Item::simple).collect();
        assert_eq!(simple, vec![false, true, true, false, true, true, true]);
        assert!(matches!(m.items[1].cond, Cond::Below { bound: 4097, inclusive: true, .. }));

        let i = chain(INLINE_2025, Heuristic::Conv);
        assert!(!i.helper);
        assert_eq!(i.items.len(), 5);
        assert!(i.items.iter().all(Item::simple));
        assert_eq!(i.items[4].body.leaf(0), Some(Leaf::both(Val::Clamp(16))));
        let im = chain(INLINE_2025, Heuristic::Matmul);
        let simple: Vec<bool> = im.items.iter().map(Item::simple).collect();
        assert_eq!(simple, vec![false, false, true, true, true]);
    }
}
