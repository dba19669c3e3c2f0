//! Rule fitting: from per-shape runtimes at each limit to a ladder (with
//! reduction-size buckets and early-return thresholds) that generalises.
//!
//! The objective everywhere is the sum of log runtimes (the geometric mean).
//! A ladder on `outputSize` with non-increasing limits is found by exact
//! dynamic programming over the shapes sorted by output size; its number of
//! rungs is chosen by cross-validation on the training shapes. Inside a rung
//! a `reductionSize` split is kept only when it pays more than the noise.
//! Early-return constants are refitted by coordinate descent, with "limit 1"
//! (no split) standing for an early return. The original toolkit's method is
//! here too, as a strategy to compare with. Thresholds are placed where they
//! do not change the partition and rounded to values IREE would write.

use crate::core::cpp::rules::{BinOp, Env, Expr};
use crate::core::decide::Model;
use crate::core::results::{Measurement, Results};
use crate::core::stats::{self, noise_threshold};
use crate::core::workload::Heuristic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rung's value: a fixed limit, or IREE's clamp `min(c, startTileSize)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSpec {
    Fixed(i64),
    /// `std::min<int64_t>(c, startTileSize)`.
    Clamp(i64),
}

impl LimitSpec {
    pub const NO_SPLIT: LimitSpec = LimitSpec::Fixed(1);

    pub fn value(self) -> i64 {
        match self {
            LimitSpec::Fixed(v) | LimitSpec::Clamp(v) => v,
        }
    }

    /// The limit it gives a shape whose walk starts at `start_tile`.
    pub fn effective(self, start_tile: i64) -> i64 {
        match self {
            LimitSpec::Fixed(v) => v,
            LimitSpec::Clamp(v) => v.min(start_tile),
        }
    }
}

impl PartialOrd for LimitSpec {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By value; a clamp is below the fixed limit of the same value, since it
/// never gives more.
impl Ord for LimitSpec {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |l: &LimitSpec| (l.value(), matches!(l, LimitSpec::Fixed(_)));
        rank(self).cmp(&rank(other))
    }
}

impl std::fmt::Display for LimitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitSpec::Fixed(v) => write!(f, "{v}"),
            LimitSpec::Clamp(v) => write!(f, "min({v}, startTileSize)"),
        }
    }
}

/// The values the current ladder uses (its high-parallelism ones), so that
/// a fitted rule can keep them where no swept limit does better.
pub fn ladder_specs(stmts: &[crate::core::cpp::rules::Stmt], low: bool) -> Vec<LimitSpec> {
    use crate::core::cpp::rules::Stmt;
    let spec = |e: &Expr| spec_of(e, low);
    fn spec_of(e: &Expr, low: bool) -> Option<LimitSpec> {
        match e {
            Expr::Num(v) => Some(LimitSpec::Fixed(*v as i64)),
            // `lowParallelism ? a : b`: the value of the target swept.
            Expr::Cond(_, a, b) => spec_of(if low { a } else { b }, low),
            Expr::Call(name, args) if name == "min" && args.len() == 2 => match (&args[0], &args[1]) {
                (Expr::Num(c), Expr::Var(_)) | (Expr::Var(_), Expr::Num(c)) => Some(LimitSpec::Clamp(*c as i64)),
                _ => None,
            },
            _ => None,
        }
    }
    let mut out = Vec::new();
    fn walk(stmts: &[Stmt], out: &mut Vec<LimitSpec>, spec: &dyn Fn(&Expr) -> Option<LimitSpec>) {
        for s in stmts {
            match s {
                Stmt::If { then, els, .. } => {
                    walk(then, out, spec);
                    walk(els, out, spec);
                }
                Stmt::Return(e) | Stmt::Assign(_, e) => out.extend(spec(e)),
                Stmt::Other(_) => {}
            }
        }
    }
    walk(stmts, &mut out, &spec);
    out.sort();
    out.dedup();
    out
}

/// A `reductionSize` split inside a rung: below `threshold`, use `limit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReductionSplit {
    pub threshold: i64,
    pub limit: LimitSpec,
}

/// One rung: shapes with `outputSize < upper` (the last rung has no bound).
/// Inside it, `splits` (ascending thresholds) pick a limit by reduction
/// size; shapes at or above the last threshold get `limit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub upper: Option<i64>,
    pub limit: LimitSpec,
    pub splits: Vec<ReductionSplit>,
}

impl Rung {
    pub fn limit_for(&self, reduction: i64) -> LimitSpec {
        self.splits.iter().find(|s| reduction < s.threshold).map(|s| s.limit).unwrap_or(self.limit)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    pub rungs: Vec<Rung>,
}

impl Ladder {
    pub fn limit(&self, output: i64, reduction: i64) -> LimitSpec {
        for r in &self.rungs {
            if r.upper.is_none_or(|u| output < u) {
                return r.limit_for(reduction);
            }
        }
        self.rungs.last().map(|r| r.limit).unwrap_or(LimitSpec::NO_SPLIT)
    }
}

/// A complete rule for one heuristic: early-return constants and a ladder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Values of the tuning constants the early returns compare with.
    pub constants: BTreeMap<String, f64>,
    pub ladder: Ladder,
}

/// What a strategy decides for a shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Choice {
    /// The current code's decision (the baseline measurement).
    Baseline,
    Limit(LimitSpec),
}

/// One shape of one heuristic, with its runtimes at every measured limit.
#[derive(Clone, Debug)]
pub struct Row {
    /// Index into `Results::shapes`.
    pub shape: usize,
    pub output: i64,
    pub reduction: i64,
    /// The reduction dim the walk starts with (for clamped limits).
    pub start_tile: i64,
    pub env: Env,
    pub baseline: f64,
    pub baseline_noise: f64,
    pub baseline_n: usize,
    /// By index into `Table::limits`.
    pub runtime: Vec<Option<f64>>,
    pub noise: Vec<f64>,
    pub n: Vec<usize>,
    /// Log runtime, with missing measurements imputed pessimistically.
    pub cost: Vec<f64>,
    /// Whether the column gives the split the current code gives.
    pub baseline_split: Vec<bool>,
}

impl Row {
    /// Runtime of a choice; `None` when that limit was not measured.
    pub fn runtime_of(&self, limits: &[LimitSpec], choice: Choice) -> Option<f64> {
        match choice {
            Choice::Baseline => Some(self.baseline),
            Choice::Limit(l) => limits.iter().position(|&x| x == l).and_then(|k| self.runtime[k]),
        }
    }

    /// Limits that do not regress this shape beyond noise.
    pub fn allowed(&self, k: usize) -> bool {
        match self.runtime[k] {
            Some(r) => {
                let t = noise_threshold(self.baseline_noise, self.baseline_n, self.noise[k], self.n[k]);
                r <= self.baseline * (1.0 + t)
            }
            None => false,
        }
    }
}

/// The measurements of one heuristic's shapes, ready for fitting.
#[derive(Clone, Debug)]
pub struct Table {
    pub heuristic: Heuristic,
    /// The fitting's columns: measured limits and the current ladder's values.
    pub limits: Vec<LimitSpec>,
    pub rows: Vec<Row>,
    /// Shapes left out, with why.
    pub excluded: Vec<(usize, String)>,
    /// Measurements imputed because a limit failed for a shape.
    pub imputed: Vec<(usize, i64)>,
}

/// One measured configuration of a shape: its split and what it cost.
struct Known {
    tiles: Vec<i64>,
    runtime: f64,
    noise: f64,
    n: usize,
}

/// Builds the table of `heuristic` from a sweep's results.
///
/// A shape's runtime depends on the split the compiler picks, not on the
/// limit that led there: two limits that give the same tile sizes compile
/// to the same kernels. So the table's limits are the measured ones plus the
/// values the current code uses (its ladder's rungs), and the runtime of a
/// (shape, limit) pair is known whenever that limit's split equals the split
/// of a measured candidate or of the baseline. That is what lets a rule keep
/// the current behaviour where no swept limit beats it. "No split" is the
/// split whose tiles are the whole dims (limit 1).
pub fn table(results: &Results, heuristic: Heuristic, current: &[LimitSpec]) -> Table {
    use crate::core::decide::tile_sizes;
    let measured: Vec<i64> = results
        .candidates
        .iter()
        .filter(|c| c.status == crate::core::results::CandidateStatus::Ok)
        .filter_map(|c| c.limit)
        .collect();
    let mut limits: Vec<LimitSpec> = measured.iter().map(|&l| LimitSpec::Fixed(l)).collect();
    limits.extend(current.iter().copied().filter(|l| l.value() >= 1));
    limits.sort();
    limits.dedup();
    let mut rows = Vec::new();
    let mut excluded = Vec::new();
    let mut imputed = Vec::new();
    for (i, s) in results.shapes.iter().enumerate() {
        if s.features.heuristic != heuristic {
            continue;
        }
        let base = s.runs.get("baseline");
        let Some(baseline) = base.and_then(Measurement::median) else {
            excluded.push((i, "no baseline measurement".to_string()));
            continue;
        };
        let dims = &s.features.reduction_dims;
        let walk = s.features.walk;
        let mut known: Vec<Known> = Vec::new();
        for &l in &measured {
            let Some(m) = s.runs.get(&crate::core::results::candidate_name(Some(l))) else { continue };
            let (Some(runtime), Some(tiles)) = (m.median(), tile_sizes(dims, l, walk)) else { continue };
            known.push(Known { tiles, runtime, noise: m.relative_noise().unwrap_or(0.0), n: m.samples.len() });
        }
        if known.is_empty() {
            excluded.push((i, "no candidate measured it".to_string()));
            continue;
        }
        let baseline_noise = base.and_then(Measurement::relative_noise).unwrap_or(0.0);
        let baseline_n = base.map(|b| b.samples.len()).unwrap_or(0);
        let baseline_tiles = s
            .decisions
            .get("baseline")
            .filter(|d| d.unknown.is_none())
            .map(|d| d.tile_sizes.clone().unwrap_or_else(|| dims.clone()));
        if let Some(tiles) = &baseline_tiles {
            known.push(Known { tiles: tiles.clone(), runtime: baseline, noise: baseline_noise, n: baseline_n });
        }
        let mut runtime = Vec::new();
        let mut noise = Vec::new();
        let mut n = Vec::new();
        let start_tile = s.features.start_tile_size;
        let mut baseline_split = Vec::new();
        for &l in &limits {
            let tiles = tile_sizes(dims, l.effective(start_tile), walk);
            baseline_split.push(tiles.is_some() && tiles == baseline_tiles);
            let hit = tile_sizes(dims, l.effective(start_tile), walk).and_then(|t| known.iter().find(|k| k.tiles == t));
            runtime.push(hit.map(|k| k.runtime));
            noise.push(hit.map(|k| k.noise).unwrap_or(0.0));
            n.push(hit.map(|k| k.n).unwrap_or(0));
        }
        let worst = runtime.iter().flatten().fold(baseline, |a, &b| a.max(b));
        let cost = runtime
            .iter()
            .enumerate()
            .map(|(k, r)| match r {
                Some(v) => v.ln(),
                None => {
                    if let LimitSpec::Fixed(l) = limits[k] {
                        if measured.contains(&l) {
                            imputed.push((i, l));
                        }
                    }
                    // Unknown: twice the worst known time, so that a rule
                    // never depends on a split nobody measured.
                    (2.0 * worst).ln()
                }
            })
            .collect();
        rows.push(Row {
            shape: i,
            output: s.features.output_size,
            reduction: s.features.reduction_size,
            start_tile,
            env: s.features.vars.iter().map(|(k, v)| (k.clone(), *v as f64)).collect(),
            baseline,
            baseline_noise,
            baseline_n,
            runtime,
            noise,
            n,
            cost,
            baseline_split,
        });
    }
    rows.sort_by_key(|r| (r.output, r.reduction));
    Table { heuristic, limits, rows, excluded, imputed }
}

/// Fitting parameters.
#[derive(Clone, Debug)]
pub struct Params {
    pub max_rungs: usize,
    pub folds: usize,
    /// `<` or `<=` in the file's ladder, for readable thresholds.
    pub inclusive: bool,
    /// Whether the ladder may use `reductionSize` splits.
    pub allow_2d: bool,
}

// ---------------------------------------------------------------------------
// Exact DP ladder.

/// What a pinned shape may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    /// A limit that does not regress it beyond noise, by the sweep's data.
    NoRegression,
    /// The split the current code gives it (validation measured a
    /// regression the sweep's data did not show).
    Baseline,
}

/// Pinned shapes (by `Row::shape`).
pub type Pins = BTreeMap<usize, Pin>;

/// Cost of a row at limit index `k`; a pinned row pays a large penalty for
/// a limit its pin forbids (when some limit satisfies it).
fn row_cost(row: &Row, k: usize, pins: &Pins) -> f64 {
    let ok = |j: usize| match pins.get(&row.shape) {
        None => true,
        Some(Pin::NoRegression) => row.allowed(j),
        Some(Pin::Baseline) => row.baseline_split[j],
    };
    if !ok(k) && (0..row.cost.len()).any(ok) {
        row.cost[k] + 1e3
    } else {
        row.cost[k]
    }
}

/// A DP ladder: its cost and segments as (end group, exclusive; limit index).
type LadderFit = (f64, Vec<(usize, usize)>);

/// The best ladder with at most `max_rungs` rungs, for every rung count:
/// `result[m-1]` = (cost, segments as (end group exclusive, limit index)).
// The DP indexes several tables by the same indices; ranges read clearer.
#[allow(clippy::needless_range_loop)]
fn dp_ladders(groups: &[Vec<&Row>], nk: usize, max_rungs: usize, pins: &Pins) -> Vec<Option<LadderFit>> {
    let n = groups.len();
    if n == 0 || nk == 0 {
        return vec![None; max_rungs];
    }
    // prefix[i][k]: cost of groups [0, i) at limit k.
    let mut prefix = vec![vec![0.0; nk]; n + 1];
    for (i, g) in groups.iter().enumerate() {
        for k in 0..nk {
            prefix[i + 1][k] = prefix[i][k] + g.iter().map(|r| row_cost(r, k, pins)).sum::<f64>();
        }
    }
    let inf = f64::INFINITY;
    // dp[m][i][k], back[m][i][k] = (previous end, previous k).
    let mut dp = vec![vec![vec![inf; nk]; n + 1]; max_rungs + 1];
    let mut back = vec![vec![vec![(0usize, 0usize); nk]; n + 1]; max_rungs + 1];
    for i in 1..=n {
        for k in 0..nk {
            dp[1][i][k] = prefix[i][k];
        }
    }
    for m in 2..=max_rungs {
        for i in m..=n {
            for j in (m - 1)..i {
                // Best previous segment ending at j with a strictly larger
                // limit (limits fall as outputs grow): suffix minimum over k.
                let mut best = inf;
                let mut best_k = 0;
                for k in (0..nk).rev() {
                    let seg = prefix[i][k] - prefix[j][k];
                    if best < inf {
                        let c = best + seg;
                        if c < dp[m][i][k] {
                            dp[m][i][k] = c;
                            back[m][i][k] = (j, best_k);
                        }
                    }
                    if dp[m - 1][j][k] < best {
                        best = dp[m - 1][j][k];
                        best_k = k;
                    }
                }
            }
        }
    }
    (1..=max_rungs)
        .map(|m| {
            let (k, &c) = dp[m][n].iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
            if !c.is_finite() {
                return None;
            }
            let mut segs = Vec::new();
            let (mut i, mut kk, mut mm) = (n, k, m);
            while mm > 0 {
                segs.push((i, kk));
                let (j, pk) = back[mm][i][kk];
                i = j;
                kk = pk;
                mm -= 1;
            }
            segs.reverse();
            Some((c, segs))
        })
        .collect()
}

/// Rows sorted by output size, grouped where it is equal (a threshold on
/// output size cannot separate them).
fn group_rows<'a>(rows: &[&'a Row]) -> Vec<Vec<&'a Row>> {
    group_rows_by(rows, |r| r.output)
}

fn group_rows_by<'a>(rows: &[&'a Row], key: impl Fn(&Row) -> i64) -> Vec<Vec<&'a Row>> {
    let mut sorted: Vec<&Row> = rows.to_vec();
    sorted.sort_by_key(|r| key(r));
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for r in sorted {
        match groups.last_mut() {
            Some(g) if key(g[0]) == key(r) => g.push(r),
            _ => groups.push(vec![r]),
        }
    }
    groups
}

/// Turns DP segments into a ladder with readable thresholds.
fn ladder_from_segments(
    groups: &[Vec<&Row>],
    segs: &[(usize, usize)],
    limits: &[LimitSpec],
    inclusive: bool,
) -> Ladder {
    let mut rungs = Vec::new();
    for (idx, &(end, k)) in segs.iter().enumerate() {
        let upper = if idx + 1 == segs.len() {
            None
        } else {
            let lo = groups[end - 1][0].output;
            let hi = groups[end][0].output;
            Some(readable_threshold(lo, hi, inclusive))
        };
        rungs.push(Rung { upper, limit: limits[k], splits: vec![] });
    }
    Ladder { rungs }
}

/// A threshold `t` with `lo < t <= hi` (so that `x < t` separates `lo` from
/// `hi`) that reads well in C++: `a * a` with `a` a power of two first, then a
/// product of two powers of two, a power of two, a round decimal; the one
/// closest (geometrically) to the middle of the gap. With `inclusive` the
/// comparison is `x <= t`, so `lo <= t < hi`, and `t` is returned as the
/// exclusive bound `t + 1`.
pub fn readable_threshold(lo: i64, hi: i64, inclusive: bool) -> i64 {
    readable(lo, hi, inclusive, Readable::PowersOfTwo)
}

/// How a threshold should read: output sizes as products of powers of two
/// (`128 * 128`), reduction sizes as round decimals (`50000`), as in IREE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readable {
    PowersOfTwo,
    Decimal,
}

pub fn readable(lo: i64, hi: i64, inclusive: bool, style: Readable) -> i64 {
    let (a, b) = if inclusive { (lo, hi - 1) } else { (lo + 1, hi) };
    let fits = |t: i64| a <= t && t <= b;
    let mid = ((a.max(1) as f64).ln() + (b.max(1) as f64).ln()) / 2.0;
    let closest = |cands: Vec<i64>| -> Option<i64> {
        cands
            .into_iter()
            .filter(|&t| fits(t))
            .min_by(|x, y| ((*x as f64).ln() - mid).abs().total_cmp(&((*y as f64).ln() - mid).abs()))
    };
    // Powers of two with an even exponent read as `a * a`; the others as
    // `a * 2a`; then decimals with one significant digit, then two.
    let squares: Vec<i64> = (1..31).map(|e| 1i64 << (2 * e)).collect();
    let pow2: Vec<i64> = (0..62).map(|e| 1i64 << e).collect();
    let one_digit: Vec<i64> = (0..15).flat_map(|e| (1..10).map(move |m| m * 10i64.pow(e))).collect();
    let two_digits: Vec<i64> = (0..14).flat_map(|e| (10..100).map(move |m| m * 10i64.pow(e))).collect();
    let t = match style {
        Readable::PowersOfTwo => closest(squares)
            .or_else(|| closest(pow2))
            .or_else(|| closest(one_digit.clone()))
            .or_else(|| closest(two_digits.clone())),
        Readable::Decimal => {
            closest(one_digit).or_else(|| closest(two_digits)).or_else(|| closest(squares)).or_else(|| closest(pow2))
        }
    }
    .unwrap_or(b);
    if inclusive {
        t + 1
    } else {
        t
    }
}

/// Groups a fitted ladder's rows by rung.
fn rows_by_rung<'a>(ladder: &Ladder, rows: &[&'a Row]) -> Vec<Vec<&'a Row>> {
    let mut out = vec![Vec::new(); ladder.rungs.len()];
    for r in rows {
        let idx =
            ladder.rungs.iter().position(|g| g.upper.is_none_or(|u| r.output < u)).unwrap_or(ladder.rungs.len() - 1);
        out[idx].push(*r);
    }
    out
}

/// Splits each rung into up to three `reductionSize` buckets where that pays
/// more than the noise: an exact DP over the rung's shapes sorted by
/// reduction size gives the best split into b buckets; b buckets are kept
/// over b-1 when the shapes that change limit gain, on average, more than
/// their noise threshold (or when a pinned shape needs it), and every bucket
/// keeps at least two shapes.
#[allow(clippy::needless_range_loop)]
fn refine_2d(ladder: &mut Ladder, rows: &[&Row], limits: &[LimitSpec], pins: &Pins, inclusive: bool) {
    const MAX_BUCKETS: usize = 3;
    let per_rung = rows_by_rung(ladder, rows);
    for (rung, rs) in ladder.rungs.iter_mut().zip(per_rung) {
        if rs.len() < 4 {
            continue;
        }
        // Group equal reduction sizes: a threshold cannot separate them.
        let groups = group_rows_by(&rs, |r| r.reduction);
        let n = groups.len();
        let nk = limits.len();
        let mut prefix = vec![vec![0.0; nk]; n + 1];
        let mut count = vec![0usize; n + 1];
        for (i, g) in groups.iter().enumerate() {
            count[i + 1] = count[i] + g.len();
            for k in 0..nk {
                prefix[i + 1][k] = prefix[i][k] + g.iter().map(|r| row_cost(r, k, pins)).sum::<f64>();
            }
        }
        let seg = |j: usize, i: usize| -> (f64, usize) {
            (0..nk).map(|k| (prefix[i][k] - prefix[j][k], k)).min_by(|a, b| a.0.total_cmp(&b.0)).unwrap()
        };
        // best[b][i]: groups [0, i) in b buckets of at least two shapes.
        let inf = f64::INFINITY;
        let mut best = vec![vec![(inf, 0usize, 0usize); n + 1]; MAX_BUCKETS + 1];
        best[0][0] = (0.0, 0, 0);
        for b in 1..=MAX_BUCKETS {
            for i in 1..=n {
                for j in 0..i {
                    if best[b - 1][j].0 == inf || count[i] - count[j] < 2 {
                        continue;
                    }
                    let (c, k) = seg(j, i);
                    if best[b - 1][j].0 + c < best[b][i].0 {
                        best[b][i] = (best[b - 1][j].0 + c, j, k);
                    }
                }
            }
        }
        let buckets = |b: usize| -> Option<Vec<(usize, usize)>> {
            if best[b][n].0 == inf {
                return None;
            }
            let mut out = Vec::new();
            let (mut i, mut bb) = (n, b);
            while bb > 0 {
                let (_, j, k) = best[bb][i];
                out.push((i, k));
                i = j;
                bb -= 1;
            }
            out.reverse();
            Some(out)
        };
        let limit_of = |bk: &[(usize, usize)], g: usize| bk.iter().find(|(end, _)| g < *end).unwrap().1;
        let mut chosen = buckets(1).unwrap_or_else(|| vec![(n, limits.iter().position(|&l| l == rung.limit).unwrap())]);
        for b in 2..=MAX_BUCKETS {
            let Some(candidate) = buckets(b) else { break };
            let gain = best[b - 1][n].0.min(inf) - best[b][n].0;
            let mut moved = Vec::new();
            for (g, rows_g) in groups.iter().enumerate() {
                let (old, new) = (limit_of(&chosen, g), limit_of(&candidate, g));
                if old != new {
                    for r in rows_g {
                        moved.push(noise_threshold(r.noise[new], r.n[new], r.noise[old], r.n[old]).ln_1p());
                    }
                }
            }
            let tau = stats::mean(&moved).unwrap_or(0.005f64.ln_1p());
            if !moved.is_empty() && gain / moved.len() as f64 > tau {
                chosen = candidate;
            } else {
                break;
            }
        }
        rung.limit = limits[chosen.last().unwrap().1];
        rung.splits = chosen[..chosen.len() - 1]
            .iter()
            .map(|&(end, k)| ReductionSplit {
                threshold: readable(
                    groups[end - 1][0].reduction,
                    groups[end][0].reduction,
                    inclusive,
                    Readable::Decimal,
                ),
                limit: limits[k],
            })
            .collect();
    }
}

/// Fits a ladder with exactly the rung count that inner cross-validation on
/// `rows` prefers (the fewest rungs within noise of the best).
fn fit_ladder(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins) -> Ladder {
    let groups = group_rows(rows);
    let max_rungs = params.max_rungs.min(groups.len()).max(1);
    let rungs =
        if rows.len() >= 2 * params.folds.max(2) { choose_rungs(rows, limits, params, pins, max_rungs) } else { 1 };
    let fits = dp_ladders(&groups, limits.len(), max_rungs, pins);
    let (_, segs) = fits.iter().take(rungs).rev().flatten().next().cloned().unwrap_or((0.0, vec![(groups.len(), 0)]));
    let mut ladder = ladder_from_segments(&groups, &segs, limits, params.inclusive);
    if params.allow_2d {
        refine_2d(&mut ladder, rows, limits, pins, params.inclusive);
    }
    ladder
}

/// Inner cross-validation of the rung count on the training rows.
#[allow(clippy::needless_range_loop)]
fn choose_rungs(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins, max_rungs: usize) -> usize {
    let folds = params.folds.clamp(2, 5);
    let mut held_out = vec![0.0; max_rungs];
    for f in 0..folds {
        let train: Vec<&Row> = rows.iter().enumerate().filter(|(i, _)| i % folds != f).map(|(_, r)| *r).collect();
        let test: Vec<&Row> = rows.iter().enumerate().filter(|(i, _)| i % folds == f).map(|(_, r)| *r).collect();
        let groups = group_rows(&train);
        let fits = dp_ladders(&groups, limits.len(), max_rungs, pins);
        for m in 0..max_rungs {
            // Fewer groups than rungs: reuse the largest fit there is.
            let Some((_, segs)) = fits.iter().take(m + 1).rev().flatten().next() else { continue };
            let ladder = ladder_from_segments(&groups, segs, limits, params.inclusive);
            held_out[m] += test
                .iter()
                .map(|r| {
                    let k = limits.iter().position(|&l| l == ladder.limit(r.output, r.reduction)).unwrap();
                    row_cost(r, k, pins)
                })
                .sum::<f64>();
        }
    }
    let best = held_out.iter().cloned().fold(f64::INFINITY, f64::min);
    // Fewer rungs are as good when within half a percent of geomean per
    // shape (every row is held out once, so costs are totals over rows).
    let tolerance = 0.005 * rows.len() as f64;
    held_out.iter().position(|&c| c <= best + tolerance).map(|m| m + 1).unwrap_or(1)
}

// ---------------------------------------------------------------------------
// Early returns.

/// The early returns a rule evaluates, with the constants they compare with.
#[derive(Clone, Debug, Default)]
pub struct EarlyReturns {
    pub conditions: Vec<Expr>,
    /// Current values of the tuning constants.
    pub constants: BTreeMap<String, f64>,
    /// The target measured is a low-parallelism one.
    pub low: bool,
}

impl EarlyReturns {
    pub fn from_model(model: &Model, low: bool) -> EarlyReturns {
        EarlyReturns { conditions: model.early_returns.clone(), constants: model.constants.clone(), low }
    }

    /// Whether an early return fires for `row` under `constants`.
    pub fn fires(&self, row: &Row, constants: &BTreeMap<String, f64>) -> bool {
        let lookup = |name: &str| -> Option<f64> {
            if name == "lowParallelism" {
                return Some(f64::from(u8::from(self.low)));
            }
            constants.get(name).or_else(|| row.env.get(name)).copied()
        };
        self.conditions.iter().any(|c| c.eval_with(&lookup).map(|v| v != 0.0).unwrap_or(false))
    }

    /// Constants that appear in a condition, with the quantities they are
    /// compared against (for candidate values).
    fn tunable(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        fn walk(e: &Expr, consts: &BTreeMap<String, f64>, out: &mut Vec<(String, Vec<String>)>) {
            match e {
                Expr::Bin(BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, a, b) => {
                    if let (Expr::Var(p), Expr::Var(q)) = (a.as_ref(), b.as_ref()) {
                        let pair = match (consts.contains_key(p), consts.contains_key(q)) {
                            (false, true) => Some((q, p)),
                            (true, false) => Some((p, q)),
                            _ => None,
                        };
                        if let Some((c, x)) = pair {
                            match out.iter_mut().find(|(n, _)| n == c) {
                                Some((_, v)) => {
                                    if !v.contains(x) {
                                        v.push(x.clone())
                                    }
                                }
                                None => out.push((c.clone(), vec![x.clone()])),
                            }
                        }
                    }
                }
                Expr::Bin(_, a, b) => {
                    walk(a, consts, out);
                    walk(b, consts, out);
                }
                Expr::Not(a) | Expr::Neg(a) => walk(a, consts, out),
                _ => {}
            }
        }
        for c in &self.conditions {
            walk(c, &self.constants, &mut out);
        }
        out
    }
}

fn rule_cost(rows: &[&Row], limits: &[LimitSpec], rule: &Rule, er: &EarlyReturns, pins: &Pins) -> f64 {
    rows.iter()
        .map(|r| {
            let l = if er.fires(r, &rule.constants) {
                LimitSpec::NO_SPLIT
            } else {
                rule.ladder.limit(r.output, r.reduction)
            };
            match limits.iter().position(|&x| x == l) {
                Some(k) => row_cost(r, k, pins),
                // An early return with no `limit 1` measurement: no split,
                // runtime unknown; keep it neutral by charging the baseline.
                None => r.baseline.ln(),
            }
        })
        .sum()
}

/// Refits the tuning constants by coordinate descent: each constant tries
/// the values of the quantity it is compared with (just below and at each
/// shape's value) and keeps the best.
fn refit_constants(rows: &[&Row], limits: &[LimitSpec], rule: &mut Rule, er: &EarlyReturns, pins: &Pins) {
    if !limits.contains(&LimitSpec::NO_SPLIT) {
        return;
    }
    let tunable = er.tunable();
    for _ in 0..3 {
        let mut changed = false;
        for (name, vars) in &tunable {
            let mut cands: Vec<f64> = vec![rule.constants[name]];
            for r in rows {
                for v in vars {
                    if let Some(x) = r.env.get(v) {
                        cands.push(*x);
                        cands.push(*x + 1.0);
                    }
                }
            }
            cands.push(0.0);
            cands.push(1e15);
            cands.sort_by(f64::total_cmp);
            cands.dedup();
            let current = rule_cost(rows, limits, rule, er, pins);
            let mut best = (current, rule.constants[name]);
            for c in cands {
                let mut trial = rule.clone();
                trial.constants.insert(name.clone(), c);
                let cost = rule_cost(rows, limits, &trial, er, pins);
                if cost < best.0 - 1e-9 {
                    best = (cost, c);
                }
            }
            if best.1 != rule.constants[name] {
                rule.constants.insert(name.clone(), best.1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Round to readable values that select the same shapes.
    for (name, vars) in &tunable {
        let v = rule.constants[name];
        if v <= 0.0 || v >= 1e15 {
            continue;
        }
        let values: Vec<f64> = rows.iter().flat_map(|r| vars.iter().filter_map(|x| r.env.get(x).copied())).collect();
        let lo = values.iter().filter(|&&x| x < v).fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let hi = values.iter().filter(|&&x| x >= v).fold(f64::INFINITY, |a, &b| a.min(b));
        if lo.is_finite() && hi.is_finite() {
            rule.constants.insert(name.clone(), readable(lo as i64, hi as i64, false, Readable::Decimal) as f64);
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The code as it is.
    Baseline,
    /// One limit for every shape (early returns as they are).
    SingleLimit,
    /// The original toolkit: viable limits within 15%, neighbour consensus,
    /// thresholds at cluster boundaries rounded to perfect squares.
    OriginalToolkit,
    /// DP ladder on outputSize, rungs by cross-validation.
    Ladder,
    /// Ladder with reductionSize splits inside rungs.
    Ladder2d,
    /// Ladder2d with refitted early-return constants.
    Ladder2dEarly,
    /// Ladder2d, refitted with every shape it regressed beyond noise pinned
    /// to limits that do not regress it, until none is left.
    Ladder2dSafe,
    /// The same repair on Ladder2dEarly.
    Ladder2dEarlySafe,
}

impl Strategy {
    pub const ALL: [Strategy; 8] = [
        Strategy::Baseline,
        Strategy::SingleLimit,
        Strategy::OriginalToolkit,
        Strategy::Ladder,
        Strategy::Ladder2d,
        Strategy::Ladder2dEarly,
        Strategy::Ladder2dSafe,
        Strategy::Ladder2dEarlySafe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Baseline => "baseline (current code)",
            Strategy::SingleLimit => "best single limit",
            Strategy::OriginalToolkit => "original toolkit",
            Strategy::Ladder => "DP ladder",
            Strategy::Ladder2d => "DP ladder + reduction buckets",
            Strategy::Ladder2dEarly => "DP ladder + buckets + early returns",
            Strategy::Ladder2dSafe => "DP ladder + buckets, regressions repaired",
            Strategy::Ladder2dEarlySafe => "DP ladder + buckets + early returns, regressions repaired",
        }
    }
}

/// A fitted strategy: a rule (none for the baseline).
#[derive(Clone, Debug)]
pub struct Fitted {
    pub strategy: Strategy,
    pub rule: Option<Rule>,
    /// Shapes the fit was told not to regress.
    pub pins: Pins,
}

impl Fitted {
    pub fn choose(&self, row: &Row, er: &EarlyReturns) -> Choice {
        match &self.rule {
            None => Choice::Baseline,
            Some(rule) => choose(rule, row, er),
        }
    }
}

fn choose(rule: &Rule, row: &Row, er: &EarlyReturns) -> Choice {
    if er.fires(row, &rule.constants) {
        Choice::Limit(LimitSpec::NO_SPLIT)
    } else {
        Choice::Limit(rule.ladder.limit(row.output, row.reduction))
    }
}

/// The rule of a strategy without repair, honouring `pins`.
fn fit_rule(
    strategy: Strategy,
    rows: &[&Row],
    limits: &[LimitSpec],
    er: &EarlyReturns,
    params: &Params,
    pins: &Pins,
) -> Option<Rule> {
    let base_constants = er.constants.clone();
    match strategy {
        Strategy::Baseline => None,
        Strategy::SingleLimit => {
            let p = Params { max_rungs: 1, allow_2d: false, ..params.clone() };
            Some(Rule { constants: base_constants, ladder: fit_ladder_at(rows, limits, &p, pins, 1) })
        }
        Strategy::OriginalToolkit => Some(Rule { constants: base_constants, ladder: original_toolkit(rows, limits) }),
        Strategy::Ladder | Strategy::Ladder2d | Strategy::Ladder2dSafe => {
            let p = Params { allow_2d: strategy != Strategy::Ladder && params.allow_2d, ..params.clone() };
            // Shapes the early returns catch do not reach the ladder.
            let reach: Vec<&Row> = rows.iter().copied().filter(|r| !er.fires(r, &base_constants)).collect();
            Some(Rule { constants: base_constants, ladder: fit_ladder(&reach, limits, &p, pins) })
        }
        Strategy::Ladder2dEarly | Strategy::Ladder2dEarlySafe => {
            let mut rule = Rule { constants: base_constants, ladder: fit_ladder(rows, limits, params, pins) };
            for _ in 0..2 {
                refit_constants(rows, limits, &mut rule, er, pins);
                let reach: Vec<&Row> = rows.iter().copied().filter(|r| !er.fires(r, &rule.constants)).collect();
                rule.ladder = fit_ladder(&reach, limits, params, pins);
            }
            Some(rule)
        }
    }
}

/// Fits a strategy. `pins` are shapes that must not regress (validation's
/// refinement passes the ones it saw regress); the repairing strategies add
/// every shape they regress and refit, up to five times.
pub fn fit(
    strategy: Strategy,
    rows: &[&Row],
    limits: &[LimitSpec],
    er: &EarlyReturns,
    params: &Params,
    pins: &Pins,
) -> Fitted {
    let mut pins = pins.clone();
    let mut rule = fit_rule(strategy, rows, limits, er, params, &pins);
    if matches!(strategy, Strategy::Ladder2dSafe | Strategy::Ladder2dEarlySafe) {
        for _ in 0..5 {
            let Some(r) = &rule else { break };
            let regressed: Vec<usize> = rows
                .iter()
                .filter(|row| outcome(row, limits, choose(r, row, er)).regressed)
                .map(|row| row.shape)
                .filter(|s| !pins.contains_key(s))
                .collect();
            if regressed.is_empty() {
                break;
            }
            pins.extend(regressed.into_iter().map(|s| (s, Pin::NoRegression)));
            rule = fit_rule(strategy, rows, limits, er, params, &pins);
        }
    }
    Fitted { strategy, rule, pins }
}

fn fit_ladder_at(rows: &[&Row], limits: &[LimitSpec], params: &Params, pins: &Pins, rungs: usize) -> Ladder {
    let groups = group_rows(rows);
    let fits = dp_ladders(&groups, limits.len(), rungs, pins);
    let segs = fits.into_iter().flatten().last().map(|(_, s)| s).unwrap_or_else(|| vec![(groups.len(), 0)]);
    ladder_from_segments(&groups, &segs, limits, params.inclusive)
}

/// The original toolkit's method, as its documentation describes it.
pub fn original_toolkit(rows: &[&Row], limits: &[LimitSpec]) -> Ladder {
    let mut sorted: Vec<&Row> = rows.to_vec();
    sorted.sort_by_key(|r| r.output);
    // Viable limits: within 15% of the best measured one.
    let viable: Vec<Vec<usize>> = sorted
        .iter()
        .map(|r| {
            let best = r.runtime.iter().flatten().fold(f64::INFINITY, |a, &b| a.min(b));
            (0..limits.len()).filter(|&k| r.runtime[k].is_some_and(|v| v <= 1.15 * best)).collect()
        })
        .collect();
    // Neighbour consensus over a window of three shapes on each side;
    // ties go to the larger limit (the toolkit favours aggressive splits).
    let chosen: Vec<usize> = (0..sorted.len())
        .map(|i| {
            let lo = i.saturating_sub(3);
            let hi = (i + 4).min(sorted.len());
            *viable[i].iter().max_by_key(|&&k| ((lo..hi).filter(|&j| viable[j].contains(&k)).count(), k)).unwrap_or(&0)
        })
        .collect();
    // Clusters by chosen limit; thresholds at each cluster's largest output,
    // walked from the largest limit down, kept increasing.
    let mut clusters: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for (i, &k) in chosen.iter().enumerate() {
        clusters.entry(k).or_default().push(sorted[i].output);
    }
    let mut order: Vec<usize> = clusters.keys().copied().collect();
    order.sort_by(|a, b| b.cmp(a));
    let mut rungs = Vec::new();
    let mut previous = 0i64;
    for (idx, k) in order.iter().enumerate() {
        if idx + 1 == order.len() {
            rungs.push(Rung { upper: None, limit: limits[*k], splits: vec![] });
            break;
        }
        let max_out = *clusters[k].iter().max().unwrap();
        let next_min = *clusters[&order[idx + 1]].iter().min().unwrap();
        // Overlapping clusters meet at the midpoint.
        let raw = if next_min <= max_out { (max_out + next_min) / 2 + 1 } else { max_out + 1 };
        let t = round_to_square(raw).max(previous + 1);
        previous = t;
        rungs.push(Rung { upper: Some(t), limit: limits[*k], splits: vec![] });
    }
    if rungs.is_empty() {
        rungs.push(Rung { upper: None, limit: limits[0], splits: vec![] });
    }
    Ladder { rungs }
}

/// The toolkit rounded thresholds to perfect squares such as 128 * 128.
fn round_to_square(v: i64) -> i64 {
    let root = (v.max(1) as f64).sqrt();
    let lower = 1i64 << (root.log2().floor() as u32);
    let upper = lower * 2;
    if (root - lower as f64).abs() <= (upper as f64 - root).abs() {
        lower * lower
    } else {
        upper * upper
    }
}

// ---------------------------------------------------------------------------
// Evaluation.

/// How a strategy does, fitted on all shapes and cross-validated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    pub strategy: Strategy,
    pub name: String,
    /// Geomean speedup over the baseline, fitted on all shapes.
    pub fitted_geomean: f64,
    /// Geomean speedup over the baseline on held-out shapes (k-fold).
    pub cv_geomean: f64,
    /// Worst per-shape speedup (below 1: a regression), held out.
    pub cv_worst: f64,
    /// Worst per-shape speedup, fitted.
    pub fitted_worst: f64,
    /// Shapes regressed beyond noise by the fitted rule.
    pub fitted_regressions: usize,
    /// Fraction of the oracle's log-gain captured, held out.
    pub cv_oracle_fraction: f64,
    pub fitted_oracle_fraction: f64,
}

/// Per-shape outcome of a rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShapeOutcome {
    pub shape: usize,
    pub choice: Choice,
    pub runtime: Option<f64>,
    pub speedup: Option<f64>,
    pub regressed: bool,
}

fn outcome(row: &Row, limits: &[LimitSpec], choice: Choice) -> ShapeOutcome {
    let runtime = row.runtime_of(limits, choice);
    let speedup = runtime.map(|r| row.baseline / r);
    let regressed = match (choice, speedup) {
        (Choice::Limit(l), Some(s)) => {
            let k = limits.iter().position(|&x| x == l).unwrap();
            s < 1.0 / (1.0 + noise_threshold(row.baseline_noise, row.baseline_n, row.noise[k], row.n[k]))
        }
        _ => false,
    };
    ShapeOutcome { shape: row.shape, choice, runtime, speedup, regressed }
}

/// The best measured choice per shape.
pub fn oracle(row: &Row, limits: &[LimitSpec]) -> (Choice, f64) {
    let mut best = (Choice::Baseline, row.baseline);
    for (k, r) in row.runtime.iter().enumerate() {
        if let Some(v) = r {
            if *v < best.1 {
                best = (Choice::Limit(limits[k]), *v);
            }
        }
    }
    best
}

pub fn outcomes(table: &Table, fitted: &Fitted, er: &EarlyReturns) -> Vec<ShapeOutcome> {
    table.rows.iter().map(|r| outcome(r, &table.limits, fitted.choose(r, er))).collect()
}

fn log_speedups(outs: &[ShapeOutcome]) -> Vec<f64> {
    // A limit that was not measured for a shape counts as no gain.
    outs.iter().map(|o| o.speedup.map(f64::ln).unwrap_or(0.0)).collect()
}

/// Fits every strategy on all rows and by k-fold cross-validation.
pub fn evaluate(table: &Table, er: &EarlyReturns, params: &Params, pins: &Pins) -> Vec<(Evaluation, Fitted)> {
    let all: Vec<&Row> = table.rows.iter().collect();
    let oracle_logs: Vec<f64> = table.rows.iter().map(|r| (r.baseline / oracle(r, &table.limits).1).ln()).collect();
    let oracle_sum: f64 = oracle_logs.iter().sum();
    let folds = params.folds.clamp(2, 10).min(table.rows.len().max(2));
    let mut out = Vec::new();
    for strategy in Strategy::ALL {
        let fitted = fit(strategy, &all, &table.limits, er, params, pins);
        let fitted_out = outcomes(table, &fitted, er);
        // k-fold: fold of a row is its rank in output order modulo k, so
        // every fold spans the whole range of sizes.
        let mut cv_out: Vec<Option<ShapeOutcome>> = vec![None; table.rows.len()];
        if table.rows.len() >= folds {
            for f in 0..folds {
                let train: Vec<&Row> =
                    table.rows.iter().enumerate().filter(|(i, _)| i % folds != f).map(|(_, r)| r).collect();
                let model = fit(strategy, &train, &table.limits, er, params, pins);
                for (i, r) in table.rows.iter().enumerate().filter(|(i, _)| i % folds == f) {
                    cv_out[i] = Some(outcome(r, &table.limits, model.choose(r, er)));
                }
            }
        }
        let cv_out: Vec<ShapeOutcome> =
            cv_out.into_iter().enumerate().map(|(i, o)| o.unwrap_or_else(|| fitted_out[i].clone())).collect();
        let (fl, cl) = (log_speedups(&fitted_out), log_speedups(&cv_out));
        let gm = |l: &[f64]| stats::mean(l).map(f64::exp).unwrap_or(1.0);
        let worst = |o: &[ShapeOutcome]| o.iter().filter_map(|x| x.speedup).fold(f64::INFINITY, f64::min);
        let frac = |l: &[f64]| if oracle_sum.abs() < 1e-12 { 1.0 } else { l.iter().sum::<f64>() / oracle_sum };
        out.push((
            Evaluation {
                strategy,
                name: strategy.name().to_string(),
                fitted_geomean: gm(&fl),
                cv_geomean: gm(&cl),
                cv_worst: worst(&cv_out),
                fitted_worst: worst(&fitted_out),
                fitted_regressions: fitted_out.iter().filter(|o| o.regressed).count(),
                cv_oracle_fraction: frac(&cl),
                fitted_oracle_fraction: frac(&fl),
            },
            fitted,
        ));
    }
    out
}

/// The recommendation: the best cross-validated geomean among strategies
/// whose fitted rule regresses no shape beyond noise (the baseline itself
/// when nothing beats it).
pub fn recommend(evals: &[(Evaluation, Fitted)]) -> usize {
    let mut best = evals.iter().position(|(e, _)| e.strategy == Strategy::Baseline).unwrap_or(0);
    for (i, (e, f)) in evals.iter().enumerate() {
        if f.rule.is_none() || e.fitted_regressions > 0 {
            continue;
        }
        // Prefer the simpler strategy unless the better one gains 0.1%.
        if e.cv_geomean > evals[best].0.cv_geomean * 1.001 {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::stats::Rng;

    /// Rows whose best limit is a step function of outputSize: 256 below
    /// 2^12, 64 below 2^16, 8 above. Runtime grows with the distance (in
    /// limit octaves) from the best limit; `noise` perturbs it.
    fn step_rows(noise: f64, seed: u64) -> (Vec<Row>, Vec<LimitSpec>) {
        let limits: Vec<LimitSpec> = [1, 8, 16, 32, 64, 128, 256, 512].into_iter().map(LimitSpec::Fixed).collect();
        let truth = |o: i64| {
            if o < 1 << 12 {
                256
            } else if o < 1 << 16 {
                64
            } else {
                8
            }
        };
        let mut rng = Rng::new(seed);
        let mut rows = Vec::new();
        for i in 0..120 {
            let output = (2.0f64.powf(8.0 + 12.0 * i as f64 / 120.0)) as i64;
            let best = truth(output) as f64;
            let runtime: Vec<Option<f64>> = limits
                .iter()
                .map(|&l| {
                    let octaves = ((l.value() as f64).log2() - best.log2()).abs();
                    let jitter = 1.0 + noise * ((rng.next_u64() % 2001) as f64 / 1000.0 - 1.0);
                    Some(100.0 * (1.0 + 0.3 * octaves) * jitter)
                })
                .collect();
            let cost = runtime.iter().map(|r| r.unwrap().ln()).collect();
            rows.push(Row {
                shape: i,
                output,
                reduction: 1000,
                start_tile: 16,
                env: Env::new(),
                baseline: 200.0,
                baseline_noise: noise,
                baseline_n: 3,
                noise: vec![noise; limits.len()],
                n: vec![3; limits.len()],
                runtime,
                cost,
                baseline_split: vec![false; limits.len()],
            });
        }
        (rows, limits)
    }

    fn params() -> Params {
        Params { max_rungs: 6, folds: 5, inclusive: false, allow_2d: false }
    }

    #[test]
    fn dp_recovers_a_step_function_exactly() {
        let (rows, limits) = step_rows(0.0, 1);
        let refs: Vec<&Row> = rows.iter().collect();
        let ladder = fit_ladder(&refs, &limits, &params(), &Pins::new());
        let got: Vec<i64> = ladder.rungs.iter().map(|r| r.limit.value()).collect();
        assert_eq!(got, vec![256, 64, 8], "{ladder:?}");
        // Thresholds separate the same shapes as the truth.
        for r in &rows {
            let truth = if r.output < 1 << 12 {
                256
            } else if r.output < 1 << 16 {
                64
            } else {
                8
            };
            assert_eq!(ladder.limit(r.output, 0), LimitSpec::Fixed(truth), "output {}", r.output);
        }
        // And read like IREE's: 64 * 64 = 2^12, 256 * 256 = 2^16.
        assert_eq!(ladder.rungs[0].upper, Some(64 * 64));
        assert_eq!(ladder.rungs[1].upper, Some(256 * 256));
    }

    #[test]
    fn dp_recovers_steps_within_one_rung_under_noise() {
        for seed in 0..5 {
            let (rows, limits) = step_rows(0.05, seed);
            let refs: Vec<&Row> = rows.iter().collect();
            let ladder = fit_ladder(&refs, &limits, &params(), &Pins::new());
            let got: Vec<i64> = ladder.rungs.iter().map(|r| r.limit.value()).collect();
            assert!(got.len() >= 2 && got.len() <= 4, "seed {seed}: {got:?}");
            for want in [256, 64, 8] {
                assert!(got.contains(&want), "seed {seed}: {got:?}");
            }
        }
    }

    #[test]
    fn readable_thresholds() {
        assert_eq!(readable_threshold(3000, 5000, false), 64 * 64);
        assert_eq!(readable_threshold(60000, 70000, false), 256 * 256);
        // Nothing round fits: the upper end.
        assert_eq!(readable_threshold(1000, 1001, false), 1001);
        // Inclusive comparison (`<=`): returns the exclusive bound.
        assert_eq!(readable_threshold(3000, 5000, true), 64 * 64 + 1);
        assert_eq!(readable_threshold(45000, 52000, false), 50000);
        assert_eq!(readable(30000, 40000, false, Readable::Decimal), 40000);
        assert_eq!(readable(30000, 40000, false, Readable::PowersOfTwo), 32768);
    }

    #[test]
    fn clamps_order_below_fixed_limits_and_clamp() {
        assert!(LimitSpec::Clamp(8) < LimitSpec::Fixed(8));
        assert!(LimitSpec::Fixed(4) < LimitSpec::Clamp(8));
        assert_eq!(LimitSpec::Clamp(8).effective(3), 3);
        assert_eq!(LimitSpec::Clamp(8).effective(16), 8);
    }

    #[test]
    fn original_toolkit_makes_a_monotone_ladder() {
        let (rows, limits) = step_rows(0.0, 3);
        let refs: Vec<&Row> = rows.iter().collect();
        let l = original_toolkit(&refs, &limits);
        let uppers: Vec<i64> = l.rungs.iter().filter_map(|r| r.upper).collect();
        assert!(uppers.windows(2).all(|w| w[0] < w[1]), "{l:?}");
    }
}
