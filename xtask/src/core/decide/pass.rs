//! The split-reduction pass at one revision of the heuristic file: what it
//! decides for an op, every condition of the file included.
//!
//! The pass driver (the same in every revision since 4b57016a5c) skips ops
//! without a reduction loop, gives ops whose outermost loop is a reduction
//! to its outer-reduction case, and otherwise asks the convolution function
//! and then the matmul-like function: an op the first turns down, for any
//! reason, goes to the second. Each function is run as its C++ says
//! ([`steps`]): its refusals (layouts, dynamic shapes, roles, thresholds,
//! those inside `for` loops over the op's dims), its locals, then its ladder
//! and tile walk, or, in the first revision's convolution function, the one
//! tile it sets itself. A condition that cannot be evaluated makes the
//! prediction "unknown", with the line and why.

use super::facts::Facts;
use super::{tile_sizes, Model};
use crate::core::cpp::rules::{eval_ladder_with, Expr, Value};
use crate::core::cpp::steps::{self, Step};
use crate::core::cpp::{CppFile, FunctionNames};
use crate::core::linalg::{Iter, LinalgOp};
use crate::core::results::Decision;
use crate::core::workload::{self, Features, Heuristic, Op, Shape};
use std::collections::BTreeMap;

/// One heuristic function of the file, ready to run.
#[derive(Clone, Debug)]
pub(crate) struct FunctionModel {
    pub(crate) heuristic: Heuristic,
    pub(crate) name: String,
    steps: Vec<Step>,
    /// The ladder, when the function has one.
    ladder: Option<Model>,
    /// Lines of the refusals a sweep's candidates disable (the early
    /// returns the patcher rewrites).
    early_lines: Vec<usize>,
}

/// The pass at one revision: its functions in the driver's order.
#[derive(Clone, Debug)]
pub(crate) struct Pass {
    pub(crate) functions: Vec<FunctionModel>,
}

impl Pass {
    /// Reads the heuristic functions of `source` (a function the file does
    /// not have is left out: the driver cannot call it).
    pub(crate) fn from_source(source: &str, conv: &FunctionNames, matmul: &FunctionNames) -> Pass {
        let file = CppFile::parse(source);
        let all = file.functions();
        let mut functions = Vec::new();
        for (heuristic, names) in [(Heuristic::Conv, conv), (Heuristic::Matmul, matmul)] {
            let Some(function) = names.functions.iter().find_map(|n| all.iter().find(|f| &f.name == n)) else {
                continue;
            };
            let site = file.locate(heuristic, names).ok();
            functions.push(FunctionModel {
                heuristic,
                name: function.name.clone(),
                steps: steps::read(&file, function, site.as_ref().map(|s| s.ladder_start)),
                ladder: site.as_ref().map(Model::from_site),
                early_lines: site.iter().flat_map(|s| &s.early_returns).map(|e| e.line).collect(),
            });
        }
        Pass { functions }
    }
}

/// What the pass does with an op.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Prediction {
    pub(crate) decision: Decision,
    /// The function that set the split, if one did.
    pub(crate) by: Option<Heuristic>,
    /// Why each function before it (or every function) turned the op down.
    pub(crate) refusals: Vec<String>,
}

/// How one function ended.
enum Outcome {
    Split(Decision),
    Refused(String),
    Unknown(String),
}

/// Whether the tunable early returns count (the baseline) or not (a
/// sweep's candidates disable them; used to find which function gets the op).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Baseline,
    Structural,
}

/// The prediction for a parsed command.
pub(crate) fn predict_op(op: &Op, pass: &Pass, low: bool) -> Prediction {
    let lin = crate::core::lowering::lower(op);
    let features = workload::features(op).ok();
    predict(&lin, features.as_ref(), pass, low)
}

/// The prediction for an op as the pass sees it (`features`: its features,
/// when its sizes are static and fit `int64_t`).
pub(crate) fn predict(op: &LinalgOp, features: Option<&Features>, pass: &Pass, low: bool) -> Prediction {
    let none = |refusals: Vec<String>, unknown: Option<String>| Prediction {
        decision: Decision { limit: None, tile_sizes: None, unknown },
        by: None,
        refusals,
    };
    if op.reduction_extents().is_empty() {
        return none(vec!["the op has no reduction loop: the pass skips it".into()], None);
    }
    if op.loops.first().is_some_and(|l| l.iter == Iter::Reduction) {
        let why = "its outermost loop is a reduction, so the pass's outer-reduction case decides, which the \
                   tuner does not model";
        return none(vec![], Some(why.into()));
    }
    let mut refusals = Vec::new();
    for f in &pass.functions {
        match Run::new(op, features, f, low, Mode::Baseline).steps(&f.steps) {
            Outcome::Split(decision) => return Prediction { decision, by: Some(f.heuristic), refusals },
            Outcome::Refused(why) => refusals.push(format!("`{}` {why}", f.name)),
            Outcome::Unknown(why) => return none(refusals, Some(format!("`{}` {why}", f.name))),
        }
    }
    none(refusals, None)
}

/// The function that gets the op when every tunable early return is off
/// (what a sweep's candidates measure); `None` when none takes it.
pub(crate) fn owner(op: &LinalgOp, features: Option<&Features>, pass: &Pass) -> Result<Option<Heuristic>, String> {
    for f in &pass.functions {
        match Run::new(op, features, f, false, Mode::Structural).steps(&f.steps) {
            Outcome::Split(_) => return Ok(Some(f.heuristic)),
            Outcome::Refused(_) => {}
            Outcome::Unknown(why) => return Err(format!("`{}` {why}", f.name)),
        }
    }
    Ok(None)
}

/// The shape with the features of the function that gets it at this
/// revision when the early returns are off (what the candidates' limits go
/// through): a convolution the convolution function turns down is the
/// matmul-like function's.
pub(crate) fn retarget(mut shape: Shape, pass: &Pass) -> Shape {
    let op = crate::core::lowering::lower(&shape.op);
    if let Ok(Some(h)) = owner(&op, Some(&shape.features), pass) {
        if let Some(f) = shape.features.seen_by(h).filter(|_| h != shape.features.heuristic) {
            shape.features = f.clone();
        }
    }
    shape
}

/// One run of one function on one op.
struct Run<'a> {
    facts: Facts<'a>,
    function: &'a FunctionModel,
    features: Option<&'a Features>,
    low: bool,
    mode: Mode,
    /// Locals the function declared, and loop variables.
    locals: BTreeMap<String, i64>,
    /// Loop variables bound to a map's result: name to (map, result).
    results: BTreeMap<String, (String, usize)>,
    tiles: Vec<i64>,
}

impl<'a> Run<'a> {
    fn new(op: &'a LinalgOp, features: Option<&'a Features>, f: &'a FunctionModel, low: bool, mode: Mode) -> Run<'a> {
        Run {
            facts: Facts::new(op),
            function: f,
            features: features.and_then(|x| x.seen_by(f.heuristic)),
            low,
            mode,
            locals: BTreeMap::new(),
            results: BTreeMap::new(),
            tiles: op.reduction_extents(),
        }
    }

    fn list(&self, name: &str) -> Option<Vec<i64>> {
        if name == "tileSizes" {
            return Some(self.tiles.clone());
        }
        self.facts.list(name)
    }

    /// A quantity by its spelling: locals, then lists (`x[i]`,
    /// `x.front()`), then the op's facts, then the features' quantities.
    fn lookup(&self, name: &str) -> Option<i64> {
        if let Some(v) = self.locals.get(name) {
            return Some(*v);
        }
        if name == "lowParallelism" {
            return Some(i64::from(self.low));
        }
        // The fixture's `op.loops[i].role`.
        if let Some(index) = name.strip_prefix("op.loops[").and_then(|n| n.strip_suffix("].role")) {
            return self.facts.role_of(usize::try_from(self.lookup(index)?).ok()?);
        }
        if let Some((base, index)) = name.strip_suffix(']').and_then(|n| n.split_once('[')) {
            let i = index.parse::<i64>().ok().or_else(|| self.lookup(index))?;
            return self.list(base)?.get(usize::try_from(i).ok()?).copied();
        }
        if let Some((base, call)) = name.rsplit_once('.') {
            if let Some(v) = self.method(base, call) {
                return Some(v);
            }
        }
        self.facts.scalar(name).or_else(|| self.features?.vars.get(name).copied())
    }

    /// `list.front()`, `list.back()`, `list.empty()`, `list.size()`, and
    /// `e.isFunctionOfDim(dim)` on a loop-bound map result.
    fn method(&self, base: &str, call: &str) -> Option<i64> {
        if let Some(arg) = call.strip_prefix("isFunctionOfDim(").and_then(|a| a.strip_suffix(')')) {
            let (map, result) = self.results.get(base)?;
            let l = usize::try_from(self.lookup(arg)?).ok()?;
            return self.facts.is_function_of(map, *result, l).map(i64::from);
        }
        let list = self.list(base)?;
        match call {
            "front()" => list.first().copied(),
            "back()" => list.last().copied(),
            "empty()" => Some(i64::from(list.is_empty())),
            "size()" => Some(list.len() as i64),
            _ => None,
        }
    }

    fn eval(&self, e: &Expr) -> Result<Value, String> {
        e.eval_with(&|name: &str| self.lookup(name))
    }

    fn steps(&mut self, steps: &[Step]) -> Outcome {
        for step in steps {
            let outcome = match step {
                Step::Refuse { line, text, cond } => self.refuse(*line, text, cond),
                Step::Let { name, init, float } => {
                    // A local the tuner cannot compute keeps the features'
                    // value of that name, if they have one.
                    if let Some(v) = init.as_ref().ok().and_then(|e| self.eval(e).ok()).filter(|_| !float) {
                        match v.to_i64() {
                            Ok(v) => drop(self.locals.insert(name.clone(), v)),
                            Err(e) => return Outcome::Unknown(format!("cannot store `{name}`: {e}")),
                        }
                    }
                    None
                }
                Step::ForEach { line, vars, range, enumerate, body } => {
                    self.for_each(*line, vars, range, *enumerate, body)
                }
                Step::SetTile { line, index, value } => self.set_tile(*line, index, value),
                Step::Ladder => return self.ladder(),
                Step::ReturnTiles => {
                    return Outcome::Split(Decision {
                        limit: None,
                        tile_sizes: Some(self.tiles.clone()),
                        unknown: None,
                    })
                }
            };
            if let Some(outcome) = outcome {
                return outcome;
            }
        }
        Outcome::Unknown("returns nothing the tuner can read: no ladder and no `return tileSizes;`".into())
    }

    fn refuse(&self, line: usize, text: &str, cond: &Result<Expr, String>) -> Option<Outcome> {
        if self.mode == Mode::Structural && self.function.early_lines.contains(&line) {
            return None;
        }
        let cond = match cond {
            Ok(c) => c,
            Err(e) => return Some(Outcome::Unknown(format!("line {line}: `{text}` cannot be read: {e}"))),
        };
        match self.eval(cond) {
            Ok(v) if v.truthy() => Some(Outcome::Refused(format!("returns at line {line}: `{text}`"))),
            Ok(_) => None,
            Err(e) => Some(Outcome::Unknown(format!("line {line}: `{text}`: {e}"))),
        }
    }

    fn for_each(
        &mut self,
        line: usize,
        vars: &[String],
        range: &str,
        enumerate: bool,
        body: &[Step],
    ) -> Option<Outcome> {
        let Some(items) = self.list(range) else {
            return Some(Outcome::Unknown(format!("line {line}: cannot iterate over `{range}`")));
        };
        let map = range.strip_suffix(".getResults()").unwrap_or(range).to_string();
        for (i, item) in items.into_iter().enumerate() {
            match (enumerate, vars) {
                (true, [index, result]) => {
                    self.locals.insert(index.clone(), i as i64);
                    self.results.insert(result.clone(), (map.clone(), i));
                }
                (false, [var]) => drop(self.locals.insert(var.clone(), item)),
                _ => return Some(Outcome::Unknown(format!("line {line}: cannot bind {}", vars.join(", ")))),
            }
            let outcome = self.steps_until_done(body);
            if outcome.is_some() {
                return outcome;
            }
        }
        None
    }

    /// Runs a loop body: `None` when it falls through.
    fn steps_until_done(&mut self, body: &[Step]) -> Option<Outcome> {
        for step in body {
            let outcome = match step {
                Step::Refuse { line, text, cond } => self.refuse(*line, text, cond),
                Step::ForEach { line, vars, range, enumerate, body } => {
                    self.for_each(*line, vars, range, *enumerate, body)
                }
                _ => None,
            };
            if outcome.is_some() {
                return outcome;
            }
        }
        None
    }

    fn set_tile(&mut self, line: usize, index: &Result<Expr, String>, value: &Result<Expr, String>) -> Option<Outcome> {
        let read = |e: &Result<Expr, String>| -> Result<i64, String> {
            let e = e.as_ref().map_err(Clone::clone)?;
            self.eval(e)?.to_i64()
        };
        match (read(index), read(value)) {
            (Ok(i), Ok(v)) if (0..self.tiles.len() as i64).contains(&i) => {
                self.tiles[i as usize] = v;
                None
            }
            (Ok(i), Ok(_)) => Some(Outcome::Unknown(format!("line {line}: tile {i} does not exist"))),
            (Err(e), _) | (_, Err(e)) => Some(Outcome::Unknown(format!("line {line}: cannot set a tile: {e}"))),
        }
    }

    /// The limit from the ladder, then the tile walk.
    fn ladder(&self) -> Outcome {
        let Some(model) = &self.function.ladder else {
            return Outcome::Unknown("has no ladder the tuner can read".into());
        };
        if self.mode == Mode::Structural {
            return Outcome::Split(Decision { limit: None, tile_sizes: None, unknown: None });
        }
        let Some(features) = self.features else {
            return Outcome::Unknown("reaches its ladder with sizes the tuner cannot compute".into());
        };
        let lookup = |name: &str| self.lookup(name).or_else(|| model.constants.get(name).copied());
        match eval_ladder_with(&model.ladder, &lookup) {
            Ok(Some(limit)) => match tile_sizes(&features.reduction_dims, limit, features.walk) {
                Some(tiles) => Outcome::Split(Decision { limit: Some(limit), tile_sizes: Some(tiles), unknown: None }),
                None => Outcome::Refused(format!(
                    "finds no factor of the reduction dims for limit {limit} (the search stops at 32768)"
                )),
            },
            Ok(None) => Outcome::Refused("returns nullopt from its ladder".into()),
            Err(e) => Outcome::Unknown(format!("ladder: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
