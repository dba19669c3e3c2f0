//! The shape of a tuning rule: the `limitParallelLoops` ladder (rungs on
//! `outputSize`, `reductionSize` buckets inside a rung, each leaf a limit)
//! and the early-return constants, with the rule in words.
//!
//! Fitting ([`crate::core::fit`]) produces these types and emission
//! ([`crate::core::cpp::emit`]) turns them into C++; both depend on this
//! module and on nothing of each other. What a rule decides for one shape is
//! here too ([`Ladder::limit`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A rung's value: a fixed limit, or IREE's clamp `min(c, startTileSize)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LimitSpec {
    Fixed(i64),
    /// `std::min<int64_t>(c, startTileSize)`.
    Clamp(i64),
}

impl LimitSpec {
    pub(crate) const NO_SPLIT: LimitSpec = LimitSpec::Fixed(1);

    pub(crate) fn value(self) -> i64 {
        match self {
            LimitSpec::Fixed(v) | LimitSpec::Clamp(v) => v,
        }
    }

    /// The limit it gives a shape whose walk starts at `start_tile`.
    pub(crate) fn effective(self, start_tile: i64) -> i64 {
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

/// A `reductionSize` split inside a rung: below `threshold`, use `limit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReductionSplit {
    pub(crate) threshold: i64,
    pub(crate) limit: LimitSpec,
}

/// One rung: shapes with `outputSize < upper` (the last rung has no bound).
/// Inside it, `splits` (ascending thresholds) pick a limit by reduction
/// size; shapes at or above the last threshold get `limit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rung {
    pub(crate) upper: Option<i64>,
    pub(crate) limit: LimitSpec,
    pub(crate) splits: Vec<ReductionSplit>,
}

impl Rung {
    pub(crate) fn limit_for(&self, reduction: i64) -> LimitSpec {
        self.splits.iter().find(|s| reduction < s.threshold).map(|s| s.limit).unwrap_or(self.limit)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ladder {
    pub(crate) rungs: Vec<Rung>,
}

impl Ladder {
    pub(crate) fn limit(&self, output: i64, reduction: i64) -> LimitSpec {
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
pub(crate) struct Rule {
    /// Values of the tuning constants the early returns compare with.
    pub(crate) constants: BTreeMap<String, i64>,
    pub(crate) ladder: Ladder,
    /// Early returns (by position among the function's conditions) the
    /// rule no longer takes for the measured outputs; they still apply
    /// beyond them.
    #[serde(default)]
    pub(crate) off: Vec<usize>,
}

impl LimitSpec {
    /// The leaf's value in words: "no split" or "limit N".
    pub(crate) fn words(self) -> String {
        if self == LimitSpec::NO_SPLIT {
            "no split".to_string()
        } else {
            format!("limit {self}")
        }
    }
}

impl Rule {
    /// The rule in words, one line per rung, and the early-return constants
    /// it changes (`before` holds their current values).
    /// The rule in words; `conditions` are the early returns' conditions
    /// as written.
    pub(crate) fn describe(&self, ladder_var: &str, before: &BTreeMap<String, i64>, conditions: &[String]) -> String {
        let mut out = self.ladder.describe(ladder_var);
        for &i in &self.off {
            let cond = conditions.get(i).map(|c| format!("`{c}`")).unwrap_or_else(|| format!("#{}", i + 1));
            let _ = writeln!(out, "- early return {cond}: no longer taken for the measured {ladder_var}s");
        }
        let changed: Vec<String> = self
            .constants
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} {} -> {v}", before.get(k).map(|b| b.to_string()).unwrap_or("?".into())))
            .collect();
        if !changed.is_empty() {
            let _ = writeln!(out, "- early-return constants: {}", changed.join(", "));
        }
        out
    }
}

impl Ladder {
    /// One line per rung: its `var` range and its limit or buckets.
    pub(crate) fn describe(&self, var: &str) -> String {
        let mut out = String::new();
        let mut lower: Option<i64> = None;
        for r in &self.rungs {
            let range = match (lower, r.upper) {
                (None, Some(u)) => format!("{var} < {u}"),
                (Some(l), Some(u)) => format!("{l} <= {var} < {u}"),
                (Some(l), None) => format!("{var} >= {l}"),
                (None, None) => "every size".to_string(),
            };
            if r.splits.is_empty() {
                let _ = writeln!(out, "- {range}: {}", r.limit.words());
            } else {
                let mut parts: Vec<String> = Vec::new();
                let mut from: Option<i64> = None;
                for s in &r.splits {
                    let when = match from {
                        None => format!("reductionSize < {}", s.threshold),
                        Some(f) => format!("{f} <= reductionSize < {}", s.threshold),
                    };
                    parts.push(format!("{} when {when}", s.limit.words()));
                    from = Some(s.threshold);
                }
                parts.push(format!("{} otherwise", r.limit.words()));
                let _ = writeln!(out, "- {range}: {}", parts.join("; "));
            }
            lower = r.upper;
        }
        out
    }
}
