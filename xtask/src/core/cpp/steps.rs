//! A heuristic function's statements, in order, as the decision model runs
//! them ([`crate::core::decide::pass`]).
//!
//! Every revision of the file turns ops down with `if (...) return
//! std::nullopt;` before it computes a limit: structural checks (is it a
//! convolution, which layout, dynamic shapes), then the tunable early
//! returns. Some sit inside `for` loops over the op's dims (3094cff643),
//! some read locals declared just before (`bool isBatchFirstLayout = ...`),
//! and the first revision sets one tile itself instead of walking a ladder.
//! This module reads those statements into [`Step`]s up to the statement
//! that computes the limit; conditions and values stay [`Expr`]s, or the
//! reason they could not be read, so the model can say "unknown, because".

use super::rules::{expr_from_node, Expr};
use super::{compound_statements, returns_nullopt, CppFile, Function};
use tree_sitter::Node;

/// One statement the model runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// `if (cond) return std::nullopt;`: the function turns the op down
    /// when `cond` holds.
    Refuse { line: usize, text: String, cond: Result<Expr, String> },
    /// `T name = init;`: a local later conditions may read.
    Let { name: String, init: Result<Expr, String>, float: bool },
    /// `for (auto x : range)` or `for (auto [i, x] : llvm::enumerate(range))`
    /// around refusals.
    ForEach { line: usize, vars: Vec<String>, range: String, enumerate: bool, body: Vec<Step> },
    /// `tileSizes[index] = value;`: the function sets a tile itself.
    SetTile { line: usize, index: Result<Expr, String>, value: Result<Expr, String> },
    /// The limit is computed here (the ladder), then the tiles are walked.
    Ladder,
    /// `return tileSizes;`
    ReturnTiles,
}

/// The steps of `function` up to its ladder (at byte `ladder_start`), or to
/// its `return tileSizes;` when it has none.
pub(crate) fn read(file: &CppFile, function: &Function, ladder_start: Option<usize>) -> Vec<Step> {
    let body = file.node_at(&function.body).expect("a function's body is a node");
    let mut out = Vec::new();
    for stmt in compound_statements(body) {
        if ladder_start.is_some_and(|at| stmt.end_byte() > at) {
            out.push(Step::Ladder);
            break;
        }
        push_steps(file, stmt, &mut out);
        if matches!(out.last(), Some(Step::ReturnTiles)) {
            break;
        }
    }
    out
}

fn text<'a>(file: &CppFile<'a>, node: Node) -> &'a str {
    &file.text[node.byte_range()]
}

fn push_steps(file: &CppFile, stmt: Node, out: &mut Vec<Step>) {
    let line = stmt.start_position().row + 1;
    match stmt.kind() {
        "declaration" => out.extend(let_steps(file, stmt)),
        "if_statement" if stmt.child_by_field_name("alternative").is_none() => {
            let consequence = stmt.child_by_field_name("consequence");
            if !consequence.is_some_and(|c| returns_nullopt(file, c)) {
                return;
            }
            let Some(cond) = stmt.child_by_field_name("condition").and_then(|c| c.child_by_field_name("value")) else {
                return;
            };
            let text = text(file, cond).split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(Step::Refuse { line, text, cond: expr_from_node(file.text, cond) });
        }
        "for_range_loop" => {
            if let Some(step) = for_step(file, stmt) {
                out.push(step);
            }
        }
        "expression_statement" => {
            if let Some(step) = set_tile(file, stmt) {
                out.push(step);
            }
        }
        "return_statement" if text(file, stmt).split_whitespace().collect::<String>() == "returntileSizes;" => {
            out.push(Step::ReturnTiles)
        }
        _ => {}
    }
}

fn let_steps(file: &CppFile, decl: Node) -> Vec<Step> {
    let ty = decl.child_by_field_name("type").map(|t| text(file, t)).unwrap_or("");
    let float = matches!(ty, "float" | "double");
    let mut cursor = decl.walk();
    let steps = decl
        .children_by_field_name("declarator", &mut cursor)
        .filter(|d| d.kind() == "init_declarator")
        .filter_map(|d| {
            let name = text(file, d.child_by_field_name("declarator")?).to_string();
            let value = d.child_by_field_name("value")?;
            Some(Step::Let { name, init: expr_from_node(file.text, value), float })
        })
        .collect();
    steps
}

fn for_step(file: &CppFile, stmt: Node) -> Option<Step> {
    let declarator = stmt.child_by_field_name("declarator")?;
    let vars: Vec<String> = if declarator.kind() == "structured_binding_declarator" {
        let mut cursor = declarator.walk();
        let names = declarator.named_children(&mut cursor).map(|n| text(file, n).to_string()).collect();
        names
    } else {
        vec![text(file, declarator).to_string()]
    };
    let right = stmt.child_by_field_name("right")?;
    let callee = right.child_by_field_name("function").map(|f| text(file, f)).unwrap_or("");
    let (range, enumerate) = if right.kind() == "call_expression" && callee.ends_with("enumerate") {
        let args = right.child_by_field_name("arguments")?;
        (text(file, args.named_child(0)?), true)
    } else {
        (text(file, right), false)
    };
    let body_node = stmt.child_by_field_name("body")?;
    let mut body = Vec::new();
    let inner = if body_node.kind() == "compound_statement" { compound_statements(body_node) } else { vec![body_node] };
    for s in inner {
        push_steps(file, s, &mut body);
    }
    let refuses = |steps: &[Step]| {
        fn any(steps: &[Step]) -> bool {
            steps.iter().any(|s| match s {
                Step::Refuse { .. } => true,
                Step::ForEach { body, .. } => any(body),
                _ => false,
            })
        }
        any(steps)
    };
    refuses(&body).then(|| Step::ForEach {
        line: stmt.start_position().row + 1,
        vars,
        range: range.split_whitespace().collect(),
        enumerate,
        body,
    })
}

fn set_tile(file: &CppFile, stmt: Node) -> Option<Step> {
    let assign = stmt.named_child(0).filter(|n| n.kind() == "assignment_expression")?;
    let left = assign.child_by_field_name("left").filter(|l| l.kind() == "subscript_expression")?;
    if text(file, left.child_by_field_name("argument")?) != "tileSizes" {
        return None;
    }
    let index = left.child_by_field_name("indices").and_then(|i| i.named_child(0))?;
    let right = assign.child_by_field_name("right")?;
    Some(Step::SetTile {
        line: stmt.start_position().row + 1,
        index: expr_from_node(file.text, index),
        value: expr_from_node(file.text, right),
    })
}
