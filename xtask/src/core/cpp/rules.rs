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
pub(crate) enum BinOp {
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

    pub(crate) fn symbol(self) -> &'static str {
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

/// A value of the C++ the heuristic is written in: `int64_t` arithmetic
/// (truncating division, overflow is an error, not a wrap) or `double`
/// (`std::sqrt`, literals such as `1e7`). Booleans are integers 0 and 1, as
/// C++ promotes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    pub(crate) fn truthy(self) -> bool {
        match self {
            Value::Int(v) => v != 0,
            Value::Float(v) => v != 0.0,
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }

    /// Conversion to `int64_t` (assignment, `static_cast`, a function
    /// returning `int64_t`): a double is truncated toward zero.
    pub(crate) fn to_i64(self) -> Result<i64, String> {
        match self {
            Value::Int(v) => Ok(v),
            Value::Float(v) if v.is_finite() && v.abs() < 9.2e18 => Ok(v.trunc() as i64),
            Value::Float(v) => Err(format!("{v} does not fit in int64_t")),
        }
    }

    fn bool(b: bool) -> Value {
        Value::Int(i64::from(b))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:e}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Num(Value),
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
pub(crate) enum Stmt {
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

/// Named quantities a ladder may read: the op's sizes and the tuning
/// constants are all `int64_t`, flags are 0 or 1.
pub(crate) type Env = BTreeMap<String, i64>;

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

/// `a op b` with C++'s usual arithmetic conversions: two integers stay
/// integers (checked, truncating division), anything with a double is done
/// in double.
fn arith(op: BinOp, x: Value, y: Value) -> Result<Value, String> {
    let overflow = || format!("`{x} {} {y}` overflows int64_t", op.symbol());
    if let (Value::Int(a), Value::Int(b)) = (x, y) {
        return Ok(Value::Int(match op {
            BinOp::Add => a.checked_add(b).ok_or_else(overflow)?,
            BinOp::Sub => a.checked_sub(b).ok_or_else(overflow)?,
            BinOp::Mul => a.checked_mul(b).ok_or_else(overflow)?,
            BinOp::Div if b == 0 => return Err("division by zero".into()),
            BinOp::Div => a.checked_div(b).ok_or_else(overflow)?,
            BinOp::Lt => i64::from(a < b),
            BinOp::Le => i64::from(a <= b),
            BinOp::Gt => i64::from(a > b),
            BinOp::Ge => i64::from(a >= b),
            BinOp::Eq => i64::from(a == b),
            BinOp::Ne => i64::from(a != b),
            BinOp::And | BinOp::Or => unreachable!("short-circuited by the caller"),
        }));
    }
    let (a, b) = (x.as_f64(), y.as_f64());
    Ok(match op {
        BinOp::Add => Value::Float(a + b),
        BinOp::Sub => Value::Float(a - b),
        BinOp::Mul => Value::Float(a * b),
        BinOp::Div => Value::Float(a / b),
        BinOp::Lt => Value::bool(a < b),
        BinOp::Le => Value::bool(a <= b),
        BinOp::Gt => Value::bool(a > b),
        BinOp::Ge => Value::bool(a >= b),
        BinOp::Eq => Value::bool(a == b),
        BinOp::Ne => Value::bool(a != b),
        BinOp::And | BinOp::Or => unreachable!("short-circuited by the caller"),
    })
}

impl Expr {
    /// Value of an expression made of numbers only (`2048 * 4096`).
    pub(crate) fn eval_const(&self) -> Option<Value> {
        self.eval(&Env::new()).ok()
    }

    pub(crate) fn eval(&self, env: &Env) -> Result<Value, String> {
        self.eval_with(&|name: &str| env.get(name).copied())
    }

    /// Evaluates with `lookup` giving the quantities; lets callers layer
    /// values (constants over a shape's features) without building a map.
    pub(crate) fn eval_with(&self, lookup: &dyn Fn(&str) -> Option<i64>) -> Result<Value, String> {
        let env = lookup;
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Bool(b) => Value::bool(*b),
            Expr::Var(name) => {
                note_read(name);
                Value::Int(
                    env(name)
                        .or_else(|| env(alias(name)))
                        .ok_or_else(|| format!("`{name}` is not a quantity the tuner knows"))?,
                )
            }
            Expr::Not(e) => Value::bool(!e.eval_with(env)?.truthy()),
            Expr::Neg(e) => match e.eval_with(env)? {
                Value::Int(v) => Value::Int(v.checked_neg().ok_or_else(|| format!("`-{v}` overflows int64_t"))?),
                Value::Float(v) => Value::Float(-v),
            },
            // Short-circuit like C++, so that `lowParallelism && x` does not
            // need `x` when the flag is off.
            Expr::Bin(BinOp::And, a, b) => Value::bool(a.eval_with(env)?.truthy() && b.eval_with(env)?.truthy()),
            Expr::Bin(BinOp::Or, a, b) => Value::bool(a.eval_with(env)?.truthy() || b.eval_with(env)?.truthy()),
            Expr::Bin(op, a, b) => arith(*op, a.eval_with(env)?, b.eval_with(env)?)?,
            Expr::Cond(c, a, b) => {
                if c.eval_with(env)?.truthy() {
                    a.eval_with(env)?
                } else {
                    b.eval_with(env)?
                }
            }
            Expr::Call(name, args) if !BUILTINS.contains(&name.as_str()) => {
                // A call the tuner does not compute itself (`failed(convDims)`,
                // `batchPos.front()`) is a quantity known by its spelling.
                let spelling = self.to_string();
                Value::Int(env(&spelling).ok_or_else(|| format!("`{spelling}` is not a quantity the tuner knows"))?)
            }
            Expr::Call(name, args) => {
                let values = args.iter().map(|a| a.eval_with(env)).collect::<Result<Vec<_>, _>>()?;
                builtin(name, &values)?
            }
        })
    }

    /// Names of the quantities the expression reads.
    pub(crate) fn vars(&self, out: &mut Vec<String>) {
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

    /// The integer literal this expression is, if it is one.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Expr::Num(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }
}

/// Names of the quantities statements read (conditions and values).
pub(crate) fn stmt_vars(stmts: &[Stmt], out: &mut Vec<String>) {
    for s in stmts {
        match s {
            Stmt::If { cond, then, els } => {
                cond.vars(out);
                stmt_vars(then, out);
                stmt_vars(els, out);
            }
            Stmt::Return(e) | Stmt::Assign(_, e) => e.vars(out),
            Stmt::Other(_) => {}
        }
    }
}

thread_local! {
    /// The quantities read while [`reads`] records.
    static READS: std::cell::RefCell<Option<std::collections::BTreeSet<String>>> =
        const { std::cell::RefCell::new(None) };
}

fn note_read(name: &str) {
    READS.with(|r| {
        if let Some(set) = r.borrow_mut().as_mut() {
            set.insert(alias(name).to_string());
        }
    });
}

/// Runs `f` without recording what it reads: a ladder's values (the start
/// tile a limit is clamped to) are not what selected the rule.
fn unread<T>(f: impl FnOnce() -> T) -> T {
    let outer = READS.with(|r| r.borrow_mut().take());
    let value = f();
    READS.with(|r| *r.borrow_mut() = outer);
    value
}

/// Runs `f` and returns, with its result, the quantities its conditions
/// read (through evaluating expressions; a ladder's returned values are
/// not recorded): what selected a decision, for the behaviour audit.
/// Short-circuited operands are not read, as in C++.
pub(crate) fn reads<T>(f: impl FnOnce() -> T) -> (T, std::collections::BTreeSet<String>) {
    let outer = READS.with(|r| r.borrow_mut().replace(Default::default()));
    let value = f();
    let set = READS.with(|r| std::mem::replace(&mut *r.borrow_mut(), outer)).unwrap_or_default();
    (value, set)
}

/// The thresholds `stmts` compare quantity `var` with, as exclusive bounds
/// (`x < t` and `x >= t` give `t`; `x <= t` and `x > t` give `t + 1`).
pub(crate) fn thresholds(stmts: &[Stmt], var: &str) -> Vec<i64> {
    fn expr(e: &Expr, var: &str, out: &mut Vec<i64>) {
        if let Expr::Bin(op, a, b) = e {
            let is_var = |x: &Expr| matches!(x, Expr::Var(v) if alias(v) == var);
            let constant = |x: &Expr| x.eval_const().and_then(|v| v.to_i64().ok());
            let bound = match (is_var(a), is_var(b)) {
                (true, false) => constant(b).map(|t| (*op, t)),
                // `t > x` is `x < t`.
                (false, true) => constant(a).map(|t| (flip(*op), t)),
                _ => None,
            };
            match bound {
                Some((BinOp::Lt | BinOp::Ge, t)) => out.push(t),
                Some((BinOp::Le | BinOp::Gt, t)) => out.push(t + 1),
                _ => {
                    expr(a, var, out);
                    expr(b, var, out);
                }
            }
        }
    }
    fn flip(op: BinOp) -> BinOp {
        match op {
            BinOp::Lt => BinOp::Gt,
            BinOp::Le => BinOp::Ge,
            BinOp::Gt => BinOp::Lt,
            BinOp::Ge => BinOp::Le,
            other => other,
        }
    }
    fn walk(stmts: &[Stmt], var: &str, out: &mut Vec<i64>) {
        for s in stmts {
            if let Stmt::If { cond, then, els } = s {
                expr(cond, var, out);
                walk(then, var, out);
                walk(els, var, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(stmts, var, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Functions the evaluator computes (without namespace or template args).
const BUILTINS: [&str; 9] = ["min", "max", "static_cast", "sqrt", "float", "double", "ceil", "floor", "divideCeil"];

/// A builtin applied to its argument values.
fn builtin(name: &str, values: &[Value]) -> Result<Value, String> {
    Ok(match (name, values) {
        ("min", [Value::Int(a), Value::Int(b)]) => Value::Int(*a.min(b)),
        ("max", [Value::Int(a), Value::Int(b)]) => Value::Int(*a.max(b)),
        ("min", [a, b]) => Value::Float(a.as_f64().min(b.as_f64())),
        ("max", [a, b]) => Value::Float(a.as_f64().max(b.as_f64())),
        ("static_cast", [a]) => Value::Int(a.to_i64()?),
        ("sqrt", [a]) => Value::Float(a.as_f64().sqrt()),
        // `float(x)` rounds to single precision first, as the C++ does.
        ("float", [a]) => Value::Float(a.as_f64() as f32 as f64),
        ("double", [a]) => Value::Float(a.as_f64()),
        ("ceil", [a]) => Value::Float(a.as_f64().ceil()),
        ("floor", [a]) => Value::Float(a.as_f64().floor()),
        ("divideCeil", [Value::Int(a), Value::Int(b)]) if *b > 0 => Value::Int((a + b - 1).div_euclid(*b)),
        _ => return Err(format!("cannot evaluate call `{name}` on {} argument(s)", values.len())),
    })
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
    Return(Option<i64>),
}

fn is_nullopt(e: &Expr) -> bool {
    matches!(e, Expr::Var(v) if v == "std::nullopt" || v == "nullopt")
}

/// Runs a ladder: the value of the first `return`, or of the last assignment
/// to `limitParallelLoops` when the ladder falls through, as the `int64_t`
/// the C++ stores. `None`: the ladder returned `std::nullopt` (do not split).
pub(crate) fn eval_ladder(stmts: &[Stmt], env: &Env) -> Result<Option<i64>, String> {
    eval_ladder_with(stmts, &|name: &str| env.get(name).copied())
}

/// [`eval_ladder`] with `lookup` giving the quantities.
pub(crate) fn eval_ladder_with(stmts: &[Stmt], lookup: &dyn Fn(&str) -> Option<i64>) -> Result<Option<i64>, String> {
    let mut assigned = None;
    match run(stmts, lookup, &mut assigned)? {
        Flow::Return(v) => Ok(v),
        Flow::Next => assigned.map(Some).ok_or_else(|| "the ladder assigns no limit on this path".to_string()),
    }
}

/// The outcomes of the conditions a ladder tests for `env`, in order, up
/// to the statement that returns: the path that selects its rule.
pub(crate) fn ladder_path(stmts: &[Stmt], env: &Env) -> Result<Vec<bool>, String> {
    fn trace(stmts: &[Stmt], env: &Env, out: &mut Vec<bool>) -> Result<bool, String> {
        for stmt in stmts {
            match stmt {
                Stmt::If { cond, then, els } => {
                    let c = cond.eval(env)?.truthy();
                    out.push(c);
                    if trace(if c { then } else { els }, env, out)? {
                        return Ok(true);
                    }
                }
                Stmt::Return(_) => return Ok(true),
                Stmt::Assign(..) => {}
                Stmt::Other(text) => return Err(format!("cannot evaluate statement `{text}`")),
            }
        }
        Ok(false)
    }
    let mut out = Vec::new();
    trace(stmts, env, &mut out)?;
    Ok(out)
}

fn run(stmts: &[Stmt], env: &dyn Fn(&str) -> Option<i64>, assigned: &mut Option<i64>) -> Result<Flow, String> {
    for stmt in stmts {
        match stmt {
            Stmt::If { cond, then, els } => {
                let branch = if cond.eval_with(env)?.truthy() { then } else { els };
                if let Flow::Return(v) = run(branch, env, assigned)? {
                    return Ok(Flow::Return(v));
                }
            }
            Stmt::Return(e) if is_nullopt(e) => return Ok(Flow::Return(None)),
            Stmt::Return(e) => return Ok(Flow::Return(Some(unread(|| e.eval_with(env))?.to_i64()?))),
            Stmt::Assign(_, e) => *assigned = Some(unread(|| e.eval_with(env))?.to_i64()?),
            Stmt::Other(text) => return Err(format!("cannot evaluate statement `{text}`")),
        }
    }
    Ok(Flow::Next)
}

/// Reads a C++ number literal: `640000`, `2048LL`, `0x10`, `1'000` are
/// `int64_t`; `1e7` and `1.5f` are doubles.
pub(crate) fn parse_number(text: &str) -> Option<Value> {
    let cleaned: String = text.chars().filter(|c| *c != '\'').collect();
    let lower = cleaned.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        let digits = hex.trim_end_matches(['u', 'l']);
        return i64::from_str_radix(digits, 16).ok().map(Value::Int);
    }
    let is_float = lower.contains('.') || lower.contains('e');
    if is_float {
        return lower.trim_end_matches(['f', 'l']).parse::<f64>().ok().map(Value::Float);
    }
    lower.trim_end_matches(['u', 'l']).parse::<i64>().ok().map(Value::Int)
}

fn text<'a>(src: &'a str, node: Node) -> &'a str {
    &src[node.byte_range()]
}

fn named(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect()
}

/// Converts an expression node.
pub(crate) fn expr_from_node(src: &str, node: Node) -> Result<Expr, String> {
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
pub(crate) fn stmt_from_node(src: &str, node: Node) -> Result<Stmt, String> {
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
        assert_eq!(parse_number("640000"), Some(Value::Int(640000)));
        assert_eq!(parse_number("1e7"), Some(Value::Float(1e7)));
        assert_eq!(parse_number("2048LL"), Some(Value::Int(2048)));
        assert_eq!(parse_number("0x10"), Some(Value::Int(16)));
        assert_eq!(parse_number("1'000"), Some(Value::Int(1000)));
        assert_eq!(parse_number("1.5f"), Some(Value::Float(1.5)));
    }

    fn parse_expr(text: &str) -> Expr {
        let src = format!("int f() {{ return {text}; }}");
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&tree_sitter_cpp::LANGUAGE.into()).unwrap();
        let tree = parser.parse(&src, None).unwrap();
        let mut node = tree.root_node();
        while node.kind() != "return_statement" {
            let mut cursor = node.walk();
            node = node
                .named_children(&mut cursor)
                .find(|n| n.byte_range().contains(&src.find("return").unwrap()))
                .unwrap();
        }
        let mut cursor = node.walk();
        let value = node.named_children(&mut cursor).next().unwrap();
        expr_from_node(&src, value).unwrap()
    }

    #[test]
    fn integer_arithmetic_is_cpp_arithmetic() {
        let env: Env = [("reductionSize".to_string(), 7), ("parallelSize".to_string(), 2)].into();
        // int64_t division truncates; a double operand makes it a double.
        assert_eq!(parse_expr("reductionSize / parallelSize").eval(&env), Ok(Value::Int(3)));
        assert_eq!(parse_expr("-reductionSize / parallelSize").eval(&env), Ok(Value::Int(-3)));
        assert_eq!(parse_expr("reductionSize / 2.0").eval(&env), Ok(Value::Float(3.5)));
        assert_eq!(parse_expr("reductionSize > 1e7").eval(&env), Ok(Value::Int(0)));
        // Products of constants are exact, and overflow is an error.
        assert_eq!(parse_expr("2048 * 4096").eval_const(), Some(Value::Int(8388608)));
        let big: Env = [("n".to_string(), 1i64 << 62)].into();
        assert!(parse_expr("n * 4").eval(&big).unwrap_err().contains("overflows"));
        assert!(parse_expr("n / 0").eval(&big).unwrap_err().contains("division by zero"));
        // `int64_t ratio = k / std::sqrt(p)` truncates when stored.
        let e = parse_expr("reductionSize / std::sqrt(parallelSize)");
        assert_eq!(e.eval(&env).unwrap().to_i64(), Ok(4));
    }
}
