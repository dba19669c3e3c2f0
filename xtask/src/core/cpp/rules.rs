//! A small expression language for the heuristic's ladders and early returns.
//!
//! The ladder read from C++ (either style) becomes a list of [`Stmt`]s over
//! [`Expr`]s; evaluating them on a shape's named quantities (`outputSize`,
//! `reductionSize`, `lowParallelism`, ...) gives the limit the compiled code
//! would choose. This is how the tool predicts, without building anything,
//! which shapes a candidate changes and what the baseline decides. Conversion
//! from tree-sitter nodes lives here too; generating C++ is [`super::emit`]'s.

use std::collections::BTreeMap;
use std::fmt;
use tree_sitter::Node;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn parse(op: &str) -> Option<BinOp> {
        Some(match op {
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            "&&" => BinOp::And,
            "||" => BinOp::Or,
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Bool(bool),
    Var(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `std::min`, `std::max` (the name without namespace or template args).
    Call(String, Vec<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
    },
    Return(Expr),
    /// `limitParallelLoops = <expr>;`
    Assign(String, Expr),
    /// Anything else, kept as text: evaluating it is an error.
    Other(String),
}

/// Named quantities a ladder may read. Booleans are 0 or 1.
pub type Env = BTreeMap<String, f64>;

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) => write!(f, "{v}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Var(v) => f.write_str(v),
            Expr::Not(e) => write!(f, "!({e})"),
            Expr::Neg(e) => write!(f, "-({e})"),
            Expr::Bin(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Cond(c, a, b) => write!(f, "({c} ? {a} : {b})"),
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Expr {
    /// Value of an expression made of numbers only (`2048 * 4096`).
    pub fn eval_const(&self) -> Option<f64> {
        self.eval(&Env::new()).ok()
    }

    pub fn eval(&self, env: &Env) -> Result<f64, String> {
        self.eval_with(&|name: &str| env.get(name).copied())
    }

    /// Evaluates with `lookup` giving the quantities; lets callers layer
    /// values (constants over a shape's features) without building a map.
    pub fn eval_with(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Result<f64, String> {
        let env = lookup;
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Bool(b) => f64::from(u8::from(*b)),
            Expr::Var(name) => env(name)
                .or_else(|| env(alias(name)))
                .ok_or_else(|| format!("`{name}` is not a quantity the tuner knows"))?,
            Expr::Not(e) => f64::from(u8::from(e.eval_with(env)? == 0.0)),
            Expr::Neg(e) => -e.eval_with(env)?,
            Expr::Bin(op, a, b) => {
                // Short-circuit like C++, so that `lowParallelism && x` does
                // not need `x` when the flag is off.
                if *op == BinOp::And {
                    return Ok(f64::from(u8::from(a.eval_with(env)? != 0.0 && b.eval_with(env)? != 0.0)));
                }
                if *op == BinOp::Or {
                    return Ok(f64::from(u8::from(a.eval_with(env)? != 0.0 || b.eval_with(env)? != 0.0)));
                }
                let (x, y) = (a.eval_with(env)?, b.eval_with(env)?);
                let t = |c: bool| f64::from(u8::from(c));
                match op {
                    BinOp::Lt => t(x < y),
                    BinOp::Le => t(x <= y),
                    BinOp::Gt => t(x > y),
                    BinOp::Ge => t(x >= y),
                    BinOp::Eq => t(x == y),
                    BinOp::Ne => t(x != y),
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => {
                        if y == 0.0 {
                            return Err("division by zero".into());
                        }
                        x / y
                    }
                    BinOp::And | BinOp::Or => unreachable!(),
                }
            }
            Expr::Cond(c, a, b) => {
                if c.eval_with(env)? != 0.0 {
                    a.eval_with(env)?
                } else {
                    b.eval_with(env)?
                }
            }
            Expr::Call(name, args) => {
                let values = args.iter().map(|a| a.eval_with(env)).collect::<Result<Vec<_>, _>>()?;
                match (name.as_str(), values.as_slice()) {
                    ("min", [a, b]) => a.min(*b),
                    ("max", [a, b]) => a.max(*b),
                    ("static_cast", [a]) => a.trunc(),
                    ("sqrt", [a]) => a.sqrt(),
                    _ => return Err(format!("cannot evaluate call `{name}`")),
                }
            }
        })
    }

    /// Names of the quantities the expression reads.
    pub fn vars(&self, out: &mut Vec<String>) {
        match self {
            Expr::Var(v) => {
                if !out.contains(v) {
                    out.push(v.clone())
                }
            }
            Expr::Num(_) | Expr::Bool(_) => {}
            Expr::Not(e) | Expr::Neg(e) => e.vars(out),
            Expr::Bin(_, a, b) => {
                a.vars(out);
                b.vars(out);
            }
            Expr::Cond(c, a, b) => {
                c.vars(out);
                a.vars(out);
                b.vars(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.vars(out)),
        }
    }
}

/// Spellings of the same quantity across revisions.
fn alias(name: &str) -> &str {
    match name {
        "tileSizes[0]" => "startTileSize",
        "kSize" => "reductionSize",
        _ => name,
    }
}

enum Flow {
    Next,
    Return(Option<f64>),
}

fn is_nullopt(e: &Expr) -> bool {
    matches!(e, Expr::Var(v) if v == "std::nullopt" || v == "nullopt")
}

/// Runs a ladder: the value of the first `return`, or of the last assignment
/// to `limitParallelLoops` when the ladder falls through. `None`: the ladder
/// returned `std::nullopt` (do not split).
pub fn eval_ladder(stmts: &[Stmt], env: &Env) -> Result<Option<f64>, String> {
    let mut assigned = None;
    match run(stmts, env, &mut assigned)? {
        Flow::Return(v) => Ok(v),
        Flow::Next => assigned.map(Some).ok_or_else(|| "the ladder assigns no limit on this path".to_string()),
    }
}

fn run(stmts: &[Stmt], env: &Env, assigned: &mut Option<f64>) -> Result<Flow, String> {
    for stmt in stmts {
        match stmt {
            Stmt::If { cond, then, els } => {
                let branch = if cond.eval(env)? != 0.0 { then } else { els };
                if let Flow::Return(v) = run(branch, env, assigned)? {
                    return Ok(Flow::Return(v));
                }
            }
            Stmt::Return(e) if is_nullopt(e) => return Ok(Flow::Return(None)),
            Stmt::Return(e) => return Ok(Flow::Return(Some(e.eval(env)?))),
            Stmt::Assign(_, e) => *assigned = Some(e.eval(env)?),
            Stmt::Other(text) => return Err(format!("cannot evaluate statement `{text}`")),
        }
    }
    Ok(Flow::Next)
}

/// Reads a C++ number literal: `640000`, `1e7`, `2048LL`, `0x10`, `1'000`.
pub fn parse_number(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| *c != '\'').collect();
    let lower = cleaned.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        let digits = hex.trim_end_matches(['u', 'l']);
        return i64::from_str_radix(digits, 16).ok().map(|v| v as f64);
    }
    let is_float = lower.contains('.') || (lower.contains('e') && !lower.starts_with("0x"));
    let trimmed = if is_float { lower.trim_end_matches(['f', 'l']) } else { lower.trim_end_matches(['u', 'l']) };
    trimmed.parse::<f64>().ok()
}

fn text<'a>(src: &'a str, node: Node) -> &'a str {
    &src[node.byte_range()]
}

fn named(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect()
}

/// Converts an expression node.
pub fn expr_from_node(src: &str, node: Node) -> Result<Expr, String> {
    let field =
        |name: &str| node.child_by_field_name(name).ok_or_else(|| format!("`{}` lacks its {name}", text(src, node)));
    Ok(match node.kind() {
        "number_literal" => {
            Expr::Num(parse_number(text(src, node)).ok_or_else(|| format!("bad number `{}`", text(src, node)))?)
        }
        "true" => Expr::Bool(true),
        "false" => Expr::Bool(false),
        "identifier" => Expr::Var(text(src, node).to_string()),
        "parenthesized_expression" | "condition_clause" => {
            let inner = named(node);
            let last = inner.last().ok_or("empty parentheses")?;
            expr_from_node(src, *last)?
        }
        "binary_expression" => {
            let op_node = field("operator")?;
            let op = BinOp::parse(text(src, op_node))
                .ok_or_else(|| format!("operator `{}` is not supported", text(src, op_node)))?;
            Expr::Bin(
                op,
                Box::new(expr_from_node(src, field("left")?)?),
                Box::new(expr_from_node(src, field("right")?)?),
            )
        }
        "unary_expression" => {
            let op = text(src, field("operator")?);
            let arg = Box::new(expr_from_node(src, field("argument")?)?);
            match op {
                "!" => Expr::Not(arg),
                "-" => Expr::Neg(arg),
                "+" => *arg,
                other => return Err(format!("unary `{other}` is not supported")),
            }
        }
        "conditional_expression" => Expr::Cond(
            Box::new(expr_from_node(src, field("condition")?)?),
            Box::new(expr_from_node(src, field("consequence")?)?),
            Box::new(expr_from_node(src, field("alternative")?)?),
        ),
        "call_expression" => {
            let callee = text(src, field("function")?);
            let base = callee.split('<').next().unwrap_or(callee);
            let name = base.rsplit("::").next().unwrap_or(base).trim().to_string();
            let args = named(field("arguments")?)
                .into_iter()
                .map(|a| expr_from_node(src, a))
                .collect::<Result<Vec<_>, _>>()?;
            Expr::Call(name, args)
        }
        // `tileSizes[0]`, `maybe.value()`, `ShapedType::kDynamic`: opaque
        // quantities, looked up by their spelling.
        "subscript_expression" | "field_expression" | "qualified_identifier" => {
            Expr::Var(text(src, node).split_whitespace().collect::<String>())
        }
        other => return Err(format!("expression `{}` ({other}) is not supported", text(src, node))),
    })
}

/// Converts a statement node (`if`, `return`, assignment, block).
pub fn stmt_from_node(src: &str, node: Node) -> Result<Stmt, String> {
    Ok(match node.kind() {
        "if_statement" => {
            let cond = node.child_by_field_name("condition").ok_or("`if` without condition")?;
            let cond = expr_from_node(src, cond)?;
            let then = block(src, node.child_by_field_name("consequence").ok_or("`if` without body")?)?;
            let els = match node.child_by_field_name("alternative") {
                None => Vec::new(),
                Some(else_clause) => {
                    let inner = named(else_clause);
                    let stmt = inner.first().ok_or("empty else")?;
                    block(src, *stmt)?
                }
            };
            Stmt::If { cond, then, els }
        }
        "return_statement" => {
            let inner = named(node);
            let value = inner.first().ok_or("`return` without a value")?;
            Stmt::Return(expr_from_node(src, *value)?)
        }
        "expression_statement" => {
            let inner = named(node);
            match inner.first() {
                Some(assign) if assign.kind() == "assignment_expression" => {
                    let left = assign.child_by_field_name("left").ok_or("assignment without target")?;
                    let right = assign.child_by_field_name("right").ok_or("assignment without value")?;
                    Stmt::Assign(text(src, left).to_string(), expr_from_node(src, right)?)
                }
                _ => Stmt::Other(text(src, node).to_string()),
            }
        }
        _ => Stmt::Other(text(src, node).to_string()),
    })
}

fn block(src: &str, node: Node) -> Result<Vec<Stmt>, String> {
    if node.kind() == "compound_statement" {
        named(node).into_iter().map(|s| stmt_from_node(src, s)).collect()
    } else {
        Ok(vec![stmt_from_node(src, node)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("640000"), Some(640000.0));
        assert_eq!(parse_number("1e7"), Some(1e7));
        assert_eq!(parse_number("2048LL"), Some(2048.0));
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("1'000"), Some(1000.0));
        assert_eq!(parse_number("1.5f"), Some(1.5));
    }
}
