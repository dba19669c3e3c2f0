//! The behaviour audit: where the patched heuristic decides differently
//! from the old one, and whether a measurement says so.
//!
//! Old and new code are evaluated (with the C++ evaluator, no build) on
//! three kinds of points: the workload's shapes, the cases of the lit tests,
//! and a dense log-spaced grid of real ops (every conv mode and layout, and
//! contractions, over sizes far beyond any sweep), for both targets. Each
//! changed decision is classified:
//!
//! - **measured**: a workload shape (with its measured speedup);
//! - **interpolated**: inside the evidence hull, between measured shapes
//!   (with its nearest measured neighbours);
//! - **outside the hull**: a quantity a condition on the changed
//!   decision's path read (in the old or the new code) lies beyond what was
//!   measured, and some condition takes another branch than it would with
//!   every quantity brought inside the hull (so the codes can tell the op
//!   from every measured one); a quantity only a returned value reads (the
//!   start tile a limit is clamped to) does not select the rule;
//! - **other target**: a target (default or low-parallelism) the sweep did
//!   not measure.
//!
//! The last two must be zero for a patch to be ready. Which quantities a
//! decision read comes from the evaluator ([`rules::reads`]): a rung that
//! tests only `outputSize` makes `reductionSize` irrelevant to its
//! decision, a reduction bucket does not.

use crate::core::cpp::rules::{self, eval_ladder, Env};
use crate::core::decide::{self, Model};
use crate::core::results::Decision;
use crate::core::workload::{self, Features, Heuristic};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Largest number of changed points kept as examples, per class.
const EXAMPLES: usize = 12;

/// Measured neighbours named for an interpolated change.
const NEIGHBOURS: usize = 3;

/// The region the measurements cover: per quantity, the inclusive range of
/// the measured shapes (the ladder's axes widened to the thresholds the
/// rule placed at their edges).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hull {
    pub(crate) ranges: BTreeMap<String, (i64, i64)>,
}

impl Hull {
    /// The box of `shapes`' quantities.
    pub(crate) fn of<'a>(shapes: impl IntoIterator<Item = &'a Features>) -> Hull {
        let mut ranges: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for f in shapes {
            for (k, &v) in &f.vars {
                let r = ranges.entry(k.clone()).or_insert((v, v));
                r.0 = r.0.min(v);
                r.1 = r.1.max(v);
            }
        }
        Hull { ranges }
    }

    /// Widens quantity `q` to `[lo, hi]`.
    pub(crate) fn widen(&mut self, q: &str, lo: i64, hi: i64) {
        if let Some(r) = self.ranges.get_mut(q) {
            r.0 = r.0.min(lo);
            r.1 = r.1.max(hi);
        }
    }

    /// The first quantity of `reads` whose value at `f` is beyond the hull.
    fn outside(&self, f: &Features, reads: &BTreeSet<String>) -> Option<String> {
        reads.iter().find_map(|q| {
            let v = *f.vars.get(q)?;
            let (lo, hi) = self.ranges.get(q).copied().unwrap_or((i64::MAX, i64::MIN));
            (v < lo || v > hi).then(|| format!("{q} {v} outside [{lo}, {hi}]"))
        })
    }
}

/// Where a point comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Origin {
    /// A workload shape (index into the results' shapes), measured.
    Shape { id: usize, speedup: Option<f64> },
    /// A function of a lit test file.
    Lit { file: String, function: String },
    /// A grid op (its command).
    Grid { command: String },
}

/// An op to evaluate, for one target.
#[derive(Clone, Debug)]
pub(crate) struct Point {
    pub(crate) origin: Origin,
    pub(crate) features: Features,
    /// Low-parallelism target.
    pub(crate) low: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Class {
    Measured,
    Interpolated,
    OutsideHull,
    OtherTarget,
}

/// One changed decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Change {
    pub(crate) origin: Origin,
    pub(crate) low: bool,
    pub(crate) output_size: i64,
    pub(crate) reduction_size: i64,
    pub(crate) old: Decision,
    pub(crate) new: Decision,
    pub(crate) class: Class,
    /// Why it is outside the hull, or its nearest measured shapes.
    pub(crate) note: String,
}

/// Counts of changed decisions per class and per kind of point.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) measured: usize,
    pub(crate) interpolated: usize,
    pub(crate) outside_hull: usize,
    pub(crate) other_target: usize,
}

impl Counts {
    fn add(&mut self, c: Class) {
        match c {
            Class::Measured => self.measured += 1,
            Class::Interpolated => self.interpolated += 1,
            Class::OutsideHull => self.outside_hull += 1,
            Class::OtherTarget => self.other_target += 1,
        }
    }

    pub(crate) fn changed(&self) -> usize {
        self.measured + self.interpolated + self.outside_hull + self.other_target
    }
}

/// The audit of one heuristic's patch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Audit {
    pub(crate) hull: Hull,
    /// Points evaluated (both targets counted), by kind.
    pub(crate) evaluated: BTreeMap<String, usize>,
    pub(crate) counts: Counts,
    /// Per kind of point (shapes, lit, grid).
    pub(crate) by_kind: BTreeMap<String, Counts>,
    /// Lit cases whose decision changes (file, function).
    pub(crate) lit_changes: Vec<(String, String)>,
    /// A few changed points per class, for the report.
    pub(crate) examples: Vec<Change>,
    /// Every changed grid point's (outputSize, reductionSize, class), for
    /// the feature-plane figure.
    pub(crate) plane: Vec<(i64, i64, Class)>,
    /// The target swept (`true`: low-parallelism), and whether the other
    /// one was audited (the codes tell the targets apart).
    #[serde(default)]
    pub(crate) low: bool,
    #[serde(default)]
    pub(crate) other_target_audited: bool,
    /// The extent of the changed decisions backed by measurements
    /// (measured and interpolated): inclusive outputSize and reductionSize
    /// ranges.
    #[serde(default)]
    pub(crate) changed_output: Option<(i64, i64)>,
    #[serde(default)]
    pub(crate) changed_reduction: Option<(i64, i64)>,
}

impl Audit {
    /// Whether the patch changes only what was measured.
    pub(crate) fn clean(&self) -> bool {
        self.counts.outside_hull == 0 && self.counts.other_target == 0
    }

    /// The audit in one sentence, for the patch message and the PR
    /// description: where decisions change, and that nothing else does.
    pub(crate) fn statement(&self, h: Heuristic) -> String {
        let target = target_name(self.low);
        let mut out = match (self.changed_output, self.changed_reduction) {
            (Some(o), Some(r)) => format!(
                "Changes {h} decisions on {target} targets for outputSize in [{}, {}] and reductionSize in [{}, {}] only",
                o.0, o.1, r.0, r.1
            ),
            _ => format!("Changes no {h} decision"),
        };
        let shapes = self.by_kind.get("shapes").map(|c| c.measured).unwrap_or(0);
        let between = self.counts.interpolated;
        if self.counts.changed() > 0 {
            out.push_str(&format!(" ({shapes} measured shapes, {between} audited ops between them)"));
        }
        let other = target_name(!self.low);
        out.push_str(&match (self.other_target_audited, self.counts.other_target) {
            (false, _) => format!("; the code does not tell {other} targets apart"),
            (true, 0) => format!("; {other} targets unchanged"),
            (true, n) => format!("; {n} audited ops change on {other} targets, which were not measured"),
        });
        if self.counts.outside_hull > 0 {
            out.push_str(&format!("; {} audited ops beyond the measured range change too", self.counts.outside_hull));
        }
        let lit = self.by_kind.get("lit").map(Counts::changed).unwrap_or(0);
        if self.evaluated.contains_key("lit") {
            out.push_str(&match lit {
                0 => "; no lit case changes".to_string(),
                1 => "; 1 lit case changes".to_string(),
                n => format!("; {n} lit cases change"),
            });
        }
        out.push('.');
        out
    }
}

/// What is audited: a heuristic's old and new model, the targets the sweep
/// measured, the hull of its measured shapes, and those shapes.
pub(crate) struct Subject<'a> {
    pub(crate) heuristic: Heuristic,
    pub(crate) old: &'a Model,
    pub(crate) new: &'a Model,
    /// Which targets were measured: `false` default, `true` low-parallelism.
    pub(crate) swept: &'a [bool],
    pub(crate) hull: &'a Hull,
    /// The measured shapes' features (for nearest neighbours).
    pub(crate) measured: &'a [(usize, Features)],
}

fn kind(o: &Origin) -> &'static str {
    match o {
        Origin::Shape { .. } => "shapes",
        Origin::Lit { .. } => "lit",
        Origin::Grid { .. } => "grid",
    }
}

/// Whether an early return fires, and what deciding that read.
fn early_return(m: &Model, f: &Features, low: bool) -> (bool, BTreeSet<String>) {
    let env = m.env(f, low);
    rules::reads(|| m.early_returns.iter().any(|c| c.eval(&env).is_ok_and(|v| v.truthy())))
}

/// What the ladder read for `f`.
fn ladder_reads(m: &Model, env: &Env) -> BTreeSet<String> {
    rules::reads(|| eval_ladder(&m.ladder, env)).1
}

/// The quantities a changed decision depended on: those of the early
/// returns when their outcome changed, else those the two ladders read.
fn depended_on(s: &Subject, f: &Features, low: bool) -> BTreeSet<String> {
    let (old_er, old_reads) = early_return(s.old, f, low);
    let (new_er, new_reads) = early_return(s.new, f, low);
    let mut reads: BTreeSet<String> = if old_er != new_er {
        // The early return's outcome changed; the code that no longer
        // (or now) returns early decided with its ladder.
        let mut r: BTreeSet<String> = old_reads.union(&new_reads).cloned().collect();
        let m = if old_er { s.new } else { s.old };
        r.extend(ladder_reads(m, &m.env(f, low)));
        r
    } else {
        let old = ladder_reads(s.old, &s.old.env(f, low));
        let new = ladder_reads(s.new, &s.new.env(f, low));
        old.union(&new).cloned().collect::<BTreeSet<String>>()
    };
    // Constants and the target flag are not quantities of the op.
    reads.retain(|q| q != "lowParallelism" && !s.old.constants.contains_key(q) && !s.new.constants.contains_key(q));
    reads
}

/// The measured shapes nearest `f` in (log outputSize, log reductionSize).
fn nearest(s: &Subject, f: &Features) -> Vec<usize> {
    let at = |x: &Features| ((x.output_size.max(1) as f64).ln(), (x.reduction_size.max(1) as f64).ln());
    let (a, b) = at(f);
    let mut by: Vec<(f64, usize)> = s
        .measured
        .iter()
        .map(|(id, g)| {
            let (c, d) = at(g);
            ((a - c).powi(2) + (b - d).powi(2), *id)
        })
        .collect();
    by.sort_by(|x, y| x.0.total_cmp(&y.0));
    by.into_iter().take(NEIGHBOURS).map(|x| x.1).collect()
}

/// The limit a model gives under `env` (`None`: no split), or why it
/// cannot be evaluated.
fn limit(m: &Model, env: &Env) -> Result<Option<i64>, String> {
    for c in &m.early_returns {
        if c.eval(env)?.truthy() {
            return Ok(None);
        }
    }
    eval_ladder(&m.ladder, env)
}

fn classify(s: &Subject, p: &Point) -> (Class, String) {
    classify_with(s, p, true)
}

impl Hull {
    /// `f`'s quantities, each brought inside the hull.
    fn clamped(&self, f: &Features) -> Features {
        let mut g = f.clone();
        for (q, v) in g.vars.iter_mut() {
            if let Some(&(lo, hi)) = self.ranges.get(q) {
                *v = (*v).clamp(lo, hi);
            }
        }
        g
    }
}

/// The conditions a model tests for `f`, with their outcomes: its early
/// returns up to the one that fires, then its ladder's.
fn path(m: &Model, f: &Features, low: bool) -> Result<Vec<bool>, String> {
    let env = m.env(f, low);
    let mut out = Vec::new();
    for c in &m.early_returns {
        let fired = c.eval(&env)?.truthy();
        out.push(fired);
        if fired {
            return Ok(out);
        }
    }
    out.extend(rules::ladder_path(&m.ladder, &env)?);
    Ok(out)
}

/// Whether both codes take, for `f`, the branches they take for `f` with
/// every quantity brought inside the hull: then no condition tells `f`
/// from a point the measurements cover, and the change is the rule
/// measured there (its values may read, say, a start tile beyond the
/// measured ones).
fn same_path_inside(s: &Subject, f: &Features, low: bool) -> bool {
    let g = s.hull.clamped(f);
    let same = |m: &Model| {
        let (a, b) = (path(m, f, low), path(m, &g, low));
        a.is_ok() && a == b
    };
    same(s.old) && same(s.new)
}

/// [`classify`]; `by_path`: a change where a condition read a quantity
/// beyond the hull still counts as inside when the codes take the branches
/// they take inside ([`same_path_inside`]). Choosing a constant's values
/// needs that off: the ladder the change leads into is not fitted yet, so
/// its branches say nothing of the final one's.
fn classify_with(s: &Subject, p: &Point, by_path: bool) -> (Class, String) {
    if !s.swept.contains(&p.low) {
        return (Class::OtherTarget, format!("{} targets were not measured", target_name(p.low)));
    }
    if let Origin::Shape { speedup, .. } = &p.origin {
        let note = speedup.map(|x| format!("measured speedup {x:.3}x")).unwrap_or_default();
        return (Class::Measured, note);
    }
    match s.hull.outside(&p.features, &depended_on(s, &p.features, p.low)) {
        Some(why) if !(by_path && same_path_inside(s, &p.features, p.low)) => (Class::OutsideHull, why),
        _ => {
            let ids = nearest(s, &p.features);
            (Class::Interpolated, format!("nearest measured shapes {ids:?}"))
        }
    }
}

pub(crate) fn target_name(low: bool) -> &'static str {
    if low {
        "low-parallelism"
    } else {
        "default"
    }
}

/// Whether two decisions are the same: both set the attribute with the
/// same tiles, or neither sets it. A limit of 1 sets it with whole tiles,
/// which splits nothing but is not what "no split" prints (lit tests pin
/// the difference).
fn same_decision(a: &Decision, b: &Decision) -> bool {
    a.unknown.is_none() && b.unknown.is_none() && a.same_split(b)
}

/// Audits `s` on `points` (those of other heuristics are skipped).
pub(crate) fn audit(s: &Subject, points: &[Point]) -> Audit {
    let mut a = Audit { hull: s.hull.clone(), low: s.swept.first().copied().unwrap_or(false), ..Audit::default() };
    let mut examples: BTreeMap<Class, Vec<Change>> = BTreeMap::new();
    // Where neither code tells the targets apart, the other target decides
    // as the swept one: nothing of its own to audit.
    let both = s.old.reads_flag() || s.new.reads_flag();
    a.other_target_audited = both;
    let widen = |r: &mut Option<(i64, i64)>, v: i64| {
        *r = Some(r.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    };
    let audited = |p: &&Point| p.features.heuristic == s.heuristic && (both || s.swept.contains(&p.low));
    for p in points.iter().filter(audited) {
        *a.evaluated.entry(kind(&p.origin).to_string()).or_default() += 1;
        let old = decide::modelled(&p.features, s.old, p.low);
        let new = decide::modelled(&p.features, s.new, p.low);
        if same_decision(&old, &new) {
            continue;
        }
        let (class, note) = classify(s, p);
        if matches!(class, Class::Measured | Class::Interpolated) {
            widen(&mut a.changed_output, p.features.output_size);
            widen(&mut a.changed_reduction, p.features.reduction_size);
        }
        a.counts.add(class);
        a.by_kind.entry(kind(&p.origin).to_string()).or_default().add(class);
        if let Origin::Lit { file, function } = &p.origin {
            a.lit_changes.push((file.clone(), function.clone()));
        }
        if matches!(p.origin, Origin::Grid { .. }) {
            a.plane.push((p.features.output_size, p.features.reduction_size, class));
        }
        let list = examples.entry(class).or_default();
        if list.len() < EXAMPLES {
            list.push(Change {
                origin: p.origin.clone(),
                low: p.low,
                output_size: p.features.output_size,
                reduction_size: p.features.reduction_size,
                old,
                new,
                class,
                note,
            });
        }
    }
    a.lit_changes.sort();
    a.lit_changes.dedup();
    a.examples = examples.into_values().flatten().collect();
    a
}

/// The values early-return constant `name` may take on target `low`:
/// the widest interval around its current value, among `candidates`, over
/// which changing it alters decisions on `points` only inside the hull and
/// only on the swept target. `per_target`: the file can give the swept
/// target a value of its own (`lowParallelism ? a : b`), so the other
/// target keeps the old one; otherwise a change reaches both. A change
/// only grows the set of decisions it alters as the value moves further,
/// so each side is found by bisection.
pub(crate) fn admissible(
    s: &Subject,
    name: &str,
    candidates: &[i64],
    low: bool,
    per_target: bool,
    points: &[Point],
) -> (i64, i64) {
    let Some(&current) = s.old.constants_for(low).get(name) else { return (i64::MIN, i64::MAX) };
    let both = s.old.reads_flag() || !per_target;
    let mine: Vec<&Point> = points
        .iter()
        .filter(|p| p.features.heuristic == s.heuristic && (both || p.low == low))
        .filter(|p| !matches!(p.origin, Origin::Shape { .. }))
        .collect();
    let before: Vec<Result<Option<i64>, String>> =
        mine.iter().map(|p| limit(s.old, &s.old.env(&p.features, p.low))).collect();
    let fine = |v: i64| {
        let mut trial = s.old.clone();
        trial.constants_for_mut(low).insert(name.to_string(), v);
        if !per_target {
            trial.constants_for_mut(!low).insert(name.to_string(), v);
        }
        let t = Subject { new: &trial, ..*s };
        mine.iter().zip(&before).all(|(p, b)| {
            let after = limit(&trial, &trial.env(&p.features, p.low));
            after == *b || matches!(classify_with(&t, p, false).0, Class::Measured | Class::Interpolated)
        })
    };
    let mut up: Vec<i64> = candidates.iter().copied().filter(|&c| c > current).collect();
    up.sort();
    up.dedup();
    let mut down: Vec<i64> = candidates.iter().copied().filter(|&c| c < current).collect();
    down.sort_by(|a, b| b.cmp(a));
    down.dedup();
    // The longest prefix of `side` whose every value is fine.
    let reach = |side: &[i64]| {
        let (mut ok, mut bad) = (0usize, side.len() + 1);
        while bad - ok > 1 {
            let mid = (ok + bad) / 2;
            if fine(side[mid - 1]) {
                ok = mid;
            } else {
                bad = mid;
            }
        }
        if ok == 0 {
            current
        } else {
            side[ok - 1]
        }
    };
    (reach(&down), reach(&up))
}

/// Sizes of the grid: powers of two between the bounds (inclusive).
fn powers(lo: u32, hi: u32, step: u32) -> impl Iterator<Item = i64> {
    (lo..=hi).step_by(step as usize).map(|e| 1i64 << e)
}

/// Commands of the audit grid: convolutions in every mode and layout the
/// parser knows, over batch, channels, image and filter sizes and
/// strides, and GEMMs and batch matmuls over M, N and K, log-spaced and
/// reaching far beyond any sweep.
pub(crate) fn grid_commands() -> Vec<String> {
    let mut out = Vec::new();
    for mode in [1, 2, 4] {
        for layout in ["NHWC", "NCHW"] {
            for n in powers(0, 8, 2) {
                for c in powers(2, 12, 2) {
                    for k in powers(2, 12, 2) {
                        for h in [7, 14, 28, 56, 112, 224] {
                            for (f, s) in [(1, 1), (3, 1), (3, 2), (7, 2)] {
                                let p = f / 2;
                                out.push(format!(
                                    "convbfp16 -n {n} -c {c} -H {h} -W {h} -k {k} -y {f} -x {f} -p {p} -q {p} \
                                     -u {s} -v {s} -F {mode} --in_layout {layout} --out_layout {layout} \
                                     --fil_layout {layout}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    for m in powers(0, 16, 1) {
        for n in powers(0, 16, 2) {
            for k in powers(4, 26, 1) {
                out.push(format!("gemmfp16 --a_w {m} --a_h {k} --b_w {n}"));
            }
        }
    }
    out
}

/// The cases of the lit tests `files` (path, text) as points of the
/// targets their RUN lines compile for, and the files (or cases) that could not be read, with why.
pub(crate) fn lit_points(files: &[(String, String)]) -> (Vec<Point>, Vec<String>) {
    let mut points = Vec::new();
    let mut unread = Vec::new();
    for (file, text) in files {
        let cases = match crate::core::littest::cases(text) {
            Ok(c) => c,
            Err(why) => {
                unread.push(format!("`{file}`: {why}"));
                continue;
            }
        };
        // A file checks the targets its RUN lines compile for.
        let runs = crate::core::littest::runs(text);
        let low_flag = |r: &crate::core::littest::Run| r.command.contains("low-parallelism");
        let targets: Vec<bool> = [false, true]
            .into_iter()
            .filter(|&low| runs.is_empty() || runs.iter().any(|r| low_flag(r) == low))
            .collect();
        for c in cases {
            let features = match c.features {
                Ok(f) => f,
                Err(why) => {
                    unread.push(format!("`{file}` `@{}`: {why}", c.function));
                    continue;
                }
            };
            for &low in &targets {
                let origin = Origin::Lit { file: file.clone(), function: c.function.clone() };
                points.push(Point { origin, features: features.clone(), low });
            }
        }
    }
    (points, unread)
}

/// The grid as points of both targets.
pub(crate) fn grid() -> Vec<Point> {
    let mut out = Vec::new();
    for command in grid_commands() {
        let Ok(op) = workload::parse_command(&command) else { continue };
        let Ok(features) = workload::features(&op) else { continue };
        for low in [false, true] {
            out.push(Point { origin: Origin::Grid { command: command.clone() }, features: features.clone(), low });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cpp::{CppFile, FunctionNames};

    /// A matmul heuristic with one ladder: old, and new with the middle
    /// rung's value changed (inside the hull) and the top rung's value
    /// changed (beyond the largest measured output).
    const OLD: &str = r#"
static std::optional<int64_t> getMatmulLimitParallelLoops(int64_t outputSize, int64_t reductionSize,
                                                          int64_t startTileSize, bool lowParallelism) {
  if (outputSize < 64 * 64) {
    return lowParallelism ? 64 : 128;
  }
  if (outputSize < 512 * 512) {
    return 32;
  }
  return 8;
}
static std::optional<SizeList> getMatmulLikeReductionSizes(const ReductionOp &op, bool lowParallelism) {
  int64_t outputSize = mSize * nSize;
  const int64_t smallKSize = 1000;
  if (kSize < smallKSize) {
    return std::nullopt;
  }
  std::optional<int64_t> maybeLimitParallelLoops = getMatmulLimitParallelLoops(outputSize, kSize, 1, lowParallelism);
  return std::nullopt;
}
"#;

    fn model(src: &str) -> Model {
        let f = CppFile::parse(src);
        Model::from_site(&f.locate(Heuristic::Matmul, &FunctionNames::iree_defaults(Heuristic::Matmul)).unwrap())
    }

    fn point(command: &str, low: bool, origin: Origin) -> Point {
        Point { origin, features: workload::features(&workload::parse_command(command).unwrap()).unwrap(), low }
    }

    #[test]
    fn a_change_inside_and_one_outside_the_hull_are_told_apart() {
        let new_src = OLD.replace("return 32;", "return 64;").replace("return 8;", "return 16;");
        let (old, new) = (model(OLD), model(&new_src));
        // Measured: outputs 128*128 .. 256*256 (middle rung), K 4096..16384.
        let measured: Vec<(usize, Features)> =
            ["gemmfp16 --a_w 128 --a_h 4096 --b_w 128", "gemmfp16 --a_w 256 --a_h 16384 --b_w 256"]
                .iter()
                .enumerate()
                .map(|(i, c)| (i, workload::features(&workload::parse_command(c).unwrap()).unwrap()))
                .collect();
        let hull = Hull::of(measured.iter().map(|(_, f)| f));
        let s = Subject {
            heuristic: Heuristic::Matmul,
            old: &old,
            new: &new,
            swept: &[false],
            hull: &hull,
            measured: &measured,
        };
        let grid = |c: &str| Origin::Grid { command: c.to_string() };
        let points = vec![
            // Middle rung, between the measured outputs: interpolated,
            // whatever its K (the rung does not test K).
            point("gemmfp16 --a_w 192 --a_h 100000 --b_w 192", false, grid("mid")),
            // Top rung, beyond the largest measured output: outside.
            point("gemmfp16 --a_w 1024 --a_h 8192 --b_w 1024", false, grid("top")),
            // The middle rung on the target nobody measured.
            point("gemmfp16 --a_w 192 --a_h 8192 --b_w 192", true, grid("low")),
            // Unchanged: the first rung.
            point("gemmfp16 --a_w 32 --a_h 8192 --b_w 32", false, grid("first")),
            // A measured shape.
            point("gemmfp16 --a_w 128 --a_h 4096 --b_w 128", false, Origin::Shape { id: 0, speedup: Some(1.2) }),
        ];
        let a = audit(&s, &points);
        assert_eq!(a.counts, Counts { measured: 1, interpolated: 1, outside_hull: 1, other_target: 1 }, "{a:#?}");
        let outside = a.examples.iter().find(|c| c.class == Class::OutsideHull).unwrap();
        assert_eq!(outside.origin, grid("top"));
        assert!(outside.note.starts_with("outputSize 1048576 outside"), "{}", outside.note);
        assert!(!a.clean());
    }
}
