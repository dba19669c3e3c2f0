//! Finding the split-reduction heuristics in C++ source, with a real parser.
//!
//! This module owns everything that reads `SetSplitReductionSizes.cpp`: it
//! parses the file with tree-sitter-cpp, finds the heuristic functions by name
//! (free functions and member functions alike), recognises the two shapes the
//! `limitParallelLoops` computation has taken (an inline `if`/`else if` chain,
//! or a `get*LimitParallelLoops` helper with early `return N;` rungs), the
//! threshold early returns and the tuning constants, and reads the ladder into
//! a small expression language ([`rules`]) that can be evaluated on a shape.
//! Rewriting lives in [`patch`] and generating new C++ in [`emit`]; neither
//! this module nor they touch files or processes.

pub(crate) mod chain;
pub(crate) mod edit;
pub(crate) mod emit;
pub(crate) mod patch;
#[cfg(test)]
mod revisions;
pub(crate) mod rules;
pub(crate) mod steps;

use crate::core::workload::Heuristic;
use rules::{Expr, Stmt};
use std::ops::Range;
use tree_sitter::{Node, Parser, Tree};

/// Function names to look for, per heuristic, newest first. IREE renamed the
/// convolution entry point in 53d61843c3 and split the ladders into helpers in
/// 8fc32e0e1e; every name that ever held a ladder is listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FunctionNames {
    pub(crate) functions: Vec<String>,
    pub(crate) helpers: Vec<String>,
}

impl FunctionNames {
    pub(crate) fn iree_defaults(heuristic: Heuristic) -> FunctionNames {
        let (functions, helpers): (&[&str], &[&str]) = match heuristic {
            Heuristic::Conv => (
                &["getConvolutionReductionSizes", "getWeightBackwardReductionSizes"],
                &["getConvolutionLimitParallelLoops"],
            ),
            Heuristic::Matmul => (&["getMatmulLikeReductionSizes"], &["getMatmulLimitParallelLoops"]),
        };
        FunctionNames {
            functions: functions.iter().map(|s| s.to_string()).collect(),
            helpers: helpers.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// What [`CppFile::visit_range`] calls: a node, a way to read node text;
/// returns whether to descend.
pub(crate) type RangeVisitor<'f, 'a> = dyn FnMut(Node<'_>, &dyn Fn(Node<'_>) -> &'a str) -> bool + 'f;

/// A parsed source file.
pub(crate) struct CppFile<'a> {
    pub(crate) text: &'a str,
    tree: Tree,
}

/// A function definition found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Function {
    pub(crate) name: String,
    /// The whole definition, in bytes.
    pub(crate) range: Range<usize>,
    /// The `{ ... }` body, in bytes.
    pub(crate) body: Range<usize>,
    /// 1-based line of the definition's first line.
    pub(crate) line: usize,
    pub(crate) params: Vec<String>,
}

/// How the ladder is written at this revision.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LadderStyle {
    /// `int64_t limitParallelLoops;` followed by an `if`/`else if` chain that
    /// assigns it (2025).
    Inline {
        /// The declaration statement.
        decl: Range<usize>,
        /// The whole `if` chain.
        chain: Range<usize>,
    },
    /// A helper function returning the limit with early `return N;` rungs
    /// (2026). `body` is the helper's `{ ... }`.
    Helper { helper: Function, body: Range<usize> },
}

impl LadderStyle {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LadderStyle::Inline { .. } => "inline-ladder",
            LadderStyle::Helper { .. } => "helper-function",
        }
    }
}

/// An early return the tuner disables while sweeping: an `if` before the
/// ladder whose condition compares the op's sizes with tuning thresholds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EarlyReturn {
    pub(crate) line: usize,
    /// The whole `if` statement.
    pub(crate) range: Range<usize>,
    /// The condition expression, without its parentheses.
    pub(crate) condition: Range<usize>,
    pub(crate) condition_text: String,
    pub(crate) condition_expr: Option<Expr>,
}

/// A `const int64_t name = <numbers>;` tuning constant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Constant {
    pub(crate) name: String,
    pub(crate) line: usize,
    /// The initializer expression.
    pub(crate) value_range: Range<usize>,
    pub(crate) value_text: String,
    /// The value as `int64_t` (the type every tuning constant has), on
    /// default targets.
    pub(crate) value: Option<i64>,
    /// The value on low-parallelism targets: the same unless the
    /// initializer reads the flag (`lowParallelism ? a : b`).
    pub(crate) value_low: Option<i64>,
}

/// Everything the tuner needs to know about one heuristic in one file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Site {
    pub(crate) heuristic: Heuristic,
    pub(crate) function: Function,
    pub(crate) style: LadderStyle,
    /// The ladder as statements ([`rules::eval_ladder`] runs them).
    pub(crate) ladder: Vec<Stmt>,
    pub(crate) early_returns: Vec<EarlyReturn>,
    pub(crate) constants: Vec<Constant>,
    /// Indentation of the ladder's statements (for inserted lines).
    pub(crate) indent: String,
    /// Byte offset of the function's statement that computes the limit
    /// (the inline ladder's declaration, or the helper call).
    pub(crate) ladder_start: usize,
}

impl Site {
    /// The byte ranges this heuristic owns: its function and, in the helper
    /// style, the helper. A patch must not change anything outside them.
    pub(crate) fn owned_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges = vec![self.function.range.clone()];
        if let LadderStyle::Helper { helper, .. } = &self.style {
            ranges.push(helper.range.clone());
        }
        ranges
    }
}

/// Why a heuristic could not be located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocateError(pub String, pub Missing);

/// What is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The function, or something the ladder needs, is not there or not
    /// readable.
    Anchor,
    /// The function is there but computes no limit (4b57016a5c's
    /// convolution function): nothing to tune.
    Ladder,
}

impl std::fmt::Display for LocateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LocateError {}

impl LocateError {
    fn anchor(message: String) -> LocateError {
        LocateError(message, Missing::Anchor)
    }
}

impl<'a> CppFile<'a> {
    pub(crate) fn parse(text: &'a str) -> CppFile<'a> {
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_cpp::LANGUAGE.into())
            .expect("tree-sitter-cpp matches the tree-sitter version");
        let tree = parser.parse(text, None).expect("parsing without a timeout always finishes");
        CppFile { text, tree }
    }

    /// Lines (1-based) of syntax errors the parser recovered from.
    pub(crate) fn error_lines(&self) -> Vec<usize> {
        let mut lines = Vec::new();
        visit(self.tree.root_node(), &mut |n| {
            if n.is_error() || n.is_missing() {
                lines.push(n.start_position().row + 1);
            }
            true
        });
        lines
    }

    fn node_text(&self, node: Node) -> &'a str {
        &self.text[node.byte_range()]
    }

    /// Walks the nodes inside `range`; `f` gets each node and a way to read
    /// node text, and returns whether to descend.
    pub(crate) fn visit_range(&self, range: Range<usize>, f: &mut RangeVisitor<'_, 'a>) {
        let text = |n: Node<'_>| -> &'a str { &self.text[n.byte_range()] };
        visit(self.tree.root_node(), &mut |n| {
            if n.end_byte() <= range.start || n.start_byte() >= range.end {
                return false;
            }
            if n.start_byte() >= range.start && n.end_byte() <= range.end {
                return f(n, &text);
            }
            true
        });
    }

    /// Every function definition, members of classes included, in order.
    pub(crate) fn functions(&self) -> Vec<Function> {
        let mut out = Vec::new();
        visit(self.tree.root_node(), &mut |n| {
            if n.kind() == "function_definition" {
                if let Some(f) = self.function_info(n) {
                    out.push(f);
                }
                // Lambdas and local classes inside a body are not separate
                // heuristics; do not descend.
                return false;
            }
            true
        });
        out
    }

    fn function_info(&self, def: Node) -> Option<Function> {
        let declarator = find_function_declarator(def.child_by_field_name("declarator")?)?;
        let name_node = declarator.child_by_field_name("declarator")?;
        let name = self.node_text(name_node);
        let name = name.rsplit("::").next().unwrap_or(name).to_string();
        let body = def.child_by_field_name("body")?;
        let mut params = Vec::new();
        if let Some(list) = declarator.child_by_field_name("parameters") {
            let mut cursor = list.walk();
            for p in list.named_children(&mut cursor) {
                if let Some(d) = p.child_by_field_name("declarator") {
                    params.push(innermost_identifier(self, d));
                }
            }
        }
        Some(Function {
            name,
            range: def.byte_range(),
            body: body.byte_range(),
            line: def.start_position().row + 1,
            params,
        })
    }

    pub(crate) fn node_at(&self, range: &Range<usize>) -> Option<Node<'_>> {
        self.tree.root_node().descendant_for_byte_range(range.start, range.end)
    }

    /// Finds one heuristic: its function, ladder, early returns and constants.
    pub(crate) fn locate(&self, heuristic: Heuristic, names: &FunctionNames) -> Result<Site, LocateError> {
        let functions = self.functions();
        let function = names
            .functions
            .iter()
            .find_map(|n| functions.iter().find(|f| &f.name == n))
            .ok_or_else(|| {
                LocateError::anchor(format!(
                    "no function named {} in the file: the {heuristic} heuristic's anchor is \
                     missing; set `heuristics.{heuristic}.functions` in tuner.toml to the \
                     function that computes `limitParallelLoops`",
                    names.functions.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
                ))
            })?
            .clone();
        let body = self.node_at(&function.body).expect("function body node");
        let statements = compound_statements(body);

        // Inline style: `int64_t limitParallelLoops;` then an if chain.
        let mut style = None;
        let mut ladder_start = None;
        for (i, stmt) in statements.iter().enumerate() {
            if stmt.kind() != "declaration" || !declares(self, *stmt, "limitParallelLoops") {
                continue;
            }
            ladder_start = Some(stmt.start_byte());
            if has_initializer(*stmt) {
                // Helper style: the value comes from a `get*LimitParallelLoops` call.
                break;
            }
            let chain = statements.get(i + 1).filter(|s| s.kind() == "if_statement").ok_or_else(|| {
                LocateError::anchor(format!(
                    "`limitParallelLoops` is declared in `{}` (line {}) but not followed by an \
                     `if` chain that assigns it",
                    function.name,
                    stmt.start_position().row + 1
                ))
            })?;
            style = Some(LadderStyle::Inline { decl: stmt.byte_range(), chain: chain.byte_range() });
            break;
        }

        let style = match style {
            Some(s) => s,
            None => {
                let helper_name = names.helpers.iter().find(|h| calls(self, body, h)).ok_or_else(|| {
                    LocateError(
                        format!(
                            "`{}` has no `limitParallelLoops` ladder: neither an inline \
                         `int64_t limitParallelLoops;` chain nor a call to {}; this revision's \
                         {heuristic} heuristic has nothing to tune (leave it out with \
                         `--heuristics`)",
                            function.name,
                            names.helpers.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
                        ),
                        Missing::Ladder,
                    )
                })?;
                let helper = functions.iter().find(|f| &f.name == helper_name).cloned().ok_or_else(|| {
                    LocateError::anchor(format!(
                        "`{}` calls `{helper_name}` but the file does not define it",
                        function.name
                    ))
                })?;
                if ladder_start.is_none() {
                    ladder_start = find_call(self, body, helper_name).map(|n| n.start_byte());
                }
                let body = helper.body.clone();
                LadderStyle::Helper { helper, body }
            }
        };
        let ladder_start = ladder_start.unwrap_or(function.body.end);

        let ladder = self.read_ladder(&style, &function)?;

        let constants = self.constants(body);
        let first_constant = constants.iter().map(|c| c.value_range.start).min();
        let early_returns = match first_constant {
            Some(from) => self.early_returns(body, from..ladder_start, &constants),
            None => Vec::new(),
        };
        let indent = self.ladder_indent(&style);
        // The model runs the function up to the statement that computes the
        // limit: in the helper style that is the call, before the declaration.
        let ladder_start = match &style {
            LadderStyle::Helper { helper, .. } => {
                find_call(self, body, &helper.name).map_or(ladder_start, |n| n.start_byte().min(ladder_start))
            }
            LadderStyle::Inline { .. } => ladder_start,
        };
        Ok(Site { heuristic, function, style, ladder, early_returns, constants, indent, ladder_start })
    }

    /// The ladder as statements.
    fn read_ladder(&self, style: &LadderStyle, function: &Function) -> Result<Vec<Stmt>, LocateError> {
        match style {
            LadderStyle::Inline { chain, .. } => {
                let node = self.node_at(chain).expect("chain node");
                Ok(vec![rules::stmt_from_node(self.text, node)
                    .map_err(|e| LocateError::anchor(format!("cannot read the ladder in `{}`: {e}", function.name)))?])
            }
            LadderStyle::Helper { helper, body } => {
                let node = self.node_at(body).expect("helper body");
                compound_statements(node)
                    .into_iter()
                    .map(|s| rules::stmt_from_node(self.text, s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| LocateError::anchor(format!("cannot read the ladder in `{}`: {e}", helper.name)))
            }
        }
    }

    /// Indentation of the ladder's statements (for inserted lines).
    fn ladder_indent(&self, style: &LadderStyle) -> String {
        match style {
            LadderStyle::Inline { decl, .. } => line_indent(self.text, decl.start),
            LadderStyle::Helper { body, .. } => {
                let node = self.node_at(body).expect("helper body");
                compound_statements(node)
                    .first()
                    .map(|s| line_indent(self.text, s.start_byte()))
                    .unwrap_or_else(|| "  ".to_string())
            }
        }
    }

    fn constants(&self, body: Node) -> Vec<Constant> {
        let mut out = Vec::new();
        visit(body, &mut |n| {
            if n.kind() == "lambda_expression" {
                return false;
            }
            if n.kind() == "declaration" && is_const(self, n) {
                let mut cursor = n.walk();
                for d in n.children_by_field_name("declarator", &mut cursor) {
                    if d.kind() != "init_declarator" {
                        continue;
                    }
                    let (Some(name), Some(value)) =
                        (d.child_by_field_name("declarator"), d.child_by_field_name("value"))
                    else {
                        continue;
                    };
                    let Ok(expr) = rules::expr_from_node(self.text, value) else { continue };
                    // A constant may depend on the target, nothing else.
                    let at = |low: bool| {
                        let flag = |n: &str| (n == "lowParallelism").then_some(i64::from(low));
                        expr.eval_with(&flag).ok().and_then(|v| v.to_i64().ok())
                    };
                    let (Some(v), Some(v_low)) = (at(false), at(true)) else { continue };
                    out.push(Constant {
                        name: self.node_text(name).to_string(),
                        line: n.start_position().row + 1,
                        value_range: value.byte_range(),
                        value_text: self.node_text(value).to_string(),
                        value: Some(v),
                        value_low: Some(v_low),
                    });
                }
                return false;
            }
            true
        });
        out
    }

    fn early_returns(&self, body: Node, window: Range<usize>, constants: &[Constant]) -> Vec<EarlyReturn> {
        let mut out = Vec::new();
        visit(body, &mut |n| {
            if n.kind() == "lambda_expression" {
                return false;
            }
            if n.kind() != "if_statement" || n.start_byte() < window.start || n.start_byte() >= window.end {
                return true;
            }
            let Some(cond) = n.child_by_field_name("condition").and_then(|c| c.child_by_field_name("value")) else {
                return true;
            };
            let Some(consequence) = n.child_by_field_name("consequence") else { return true };
            if !returns_nullopt(self, consequence) {
                return true;
            }
            let mut mentions_threshold = false;
            visit(cond, &mut |c| {
                let threshold = match c.kind() {
                    "identifier" => constants.iter().any(|k| k.name == self.node_text(c)),
                    "number_literal" => rules::parse_number(self.node_text(c)).is_some_and(|v| v.as_f64() > 1.0),
                    _ => false,
                };
                mentions_threshold |= threshold;
                true
            });
            if mentions_threshold {
                out.push(EarlyReturn {
                    line: n.start_position().row + 1,
                    range: n.byte_range(),
                    condition: cond.byte_range(),
                    condition_text: self.node_text(cond).to_string(),
                    condition_expr: rules::expr_from_node(self.text, cond).ok(),
                });
            }
            // An early return's consequence holds nothing else to find.
            false
        });
        out
    }
}

/// Depth-first walk; `f` returns whether to descend into the node.
pub(crate) fn visit<'t>(node: Node<'t>, f: &mut dyn FnMut(Node<'t>) -> bool) {
    if !f(node) {
        return;
    }
    let mut cursor = node.walk();
    let children: Vec<Node<'t>> = node.children(&mut cursor).collect();
    for child in children {
        visit(child, f);
    }
}

fn find_function_declarator(node: Node) -> Option<Node> {
    if node.kind() == "function_declarator" {
        return Some(node);
    }
    // Pointer/reference return types wrap the function declarator.
    node.child_by_field_name("declarator").and_then(find_function_declarator)
}

fn innermost_identifier(file: &CppFile, node: Node) -> String {
    match node.child_by_field_name("declarator") {
        Some(inner) => innermost_identifier(file, inner),
        None => file.node_text(node).to_string(),
    }
}

/// The statements of a `{ ... }` block.
pub(crate) fn compound_statements(block: Node) -> Vec<Node> {
    let mut cursor = block.walk();
    block.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect()
}

fn declares(file: &CppFile, decl: Node, name: &str) -> bool {
    let mut cursor = decl.walk();
    let found = decl.children_by_field_name("declarator", &mut cursor).any(|d| {
        let target = if d.kind() == "init_declarator" { d.child_by_field_name("declarator") } else { Some(d) };
        target.is_some_and(|t| file.node_text(t) == name)
    });
    found
}

fn has_initializer(decl: Node) -> bool {
    let mut cursor = decl.walk();
    let found = decl.children_by_field_name("declarator", &mut cursor).any(|d| d.kind() == "init_declarator");
    found
}

fn is_const(file: &CppFile, decl: Node) -> bool {
    let mut cursor = decl.walk();
    let found = decl
        .children(&mut cursor)
        .any(|c| c.kind() == "type_qualifier" && matches!(file.node_text(c), "const" | "constexpr"));
    found
}

fn find_call<'t>(file: &CppFile, node: Node<'t>, name: &str) -> Option<Node<'t>> {
    let mut found = None;
    visit(node, &mut |n| {
        if found.is_some() {
            return false;
        }
        if n.kind() == "call_expression" {
            if let Some(callee) = n.child_by_field_name("function") {
                if file.node_text(callee).rsplit("::").next() == Some(name) {
                    // Report the enclosing statement so that edits and
                    // positions refer to whole lines.
                    let mut stmt = n;
                    while let Some(parent) = stmt.parent() {
                        if parent.kind() == "compound_statement" {
                            break;
                        }
                        stmt = parent;
                    }
                    found = Some(stmt);
                    return false;
                }
            }
        }
        true
    });
    found
}

fn calls(file: &CppFile, node: Node, name: &str) -> bool {
    find_call(file, node, name).is_some()
}

pub(crate) fn returns_nullopt(file: &CppFile, node: Node) -> bool {
    let mut found = false;
    visit(node, &mut |n| {
        if n.kind() == "return_statement" && file.node_text(n).contains("nullopt") {
            found = true;
        }
        !found
    });
    found
}

/// The whitespace that starts the line holding `offset`.
pub(crate) fn line_indent(text: &str, offset: usize) -> String {
    let line_start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[line_start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}
