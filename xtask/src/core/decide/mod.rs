//! What the heuristic decides for a shape, computed without a build.
//!
//! A mirror of the compiler's logic (BRIEF.md section 1): early returns, then
//! the limit from the ladder, then the tile walk that picks, per reduction dim,
//! the smallest factor of the dim that is at least `ceil(dim / limit)`,
//! divides the remaining budget and stops at the first dim whose tile is
//! larger than one. The ladder and early returns are the ones read from the
//! C++ ([`crate::core::cpp`]), so the mirror follows the file at any revision.
//! This module holds the ladder-level pieces the analysis fits and checks
//! (a ladder and its early returns on a shape's features); [`pass`] runs a
//! whole revision's file on an op, every structural check and the
//! convolution-to-matmul fallthrough included, with [`facts`] answering what
//! the C++ asks about the op.

pub(crate) mod facts;
pub(crate) mod pass;
#[cfg(test)]
pub(crate) mod revisions;

use crate::core::cpp::rules::{eval_ladder, Env, Expr, Stmt};
use crate::core::cpp::Site;
use crate::core::results::Decision;
use crate::core::workload::{Features, Walk};

/// The parts of a located heuristic that decide a shape's limit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    pub(crate) ladder: Vec<Stmt>,
    pub(crate) early_returns: Vec<Expr>,
    /// The tuning constants on default targets.
    pub(crate) constants: Env,
    /// The tuning constants on low-parallelism targets (they differ where
    /// the file writes `lowParallelism ? a : b`).
    pub(crate) constants_low: Env,
}

impl Model {
    pub(crate) fn from_site(site: &Site) -> Model {
        Model {
            ladder: site.ladder.clone(),
            early_returns: site.early_returns.iter().filter_map(|e| e.condition_expr.clone()).collect(),
            constants: site.constants.iter().filter_map(|c| Some((c.name.clone(), c.value?))).collect(),
            constants_low: site.constants.iter().filter_map(|c| Some((c.name.clone(), c.value_low?))).collect(),
        }
    }

    /// The constants of a target.
    pub(crate) fn constants_for(&self, low: bool) -> &Env {
        if low {
            &self.constants_low
        } else {
            &self.constants
        }
    }

    pub(crate) fn constants_for_mut(&mut self, low: bool) -> &mut Env {
        if low {
            &mut self.constants_low
        } else {
            &mut self.constants
        }
    }

    /// What the code can read for `features` on a target.
    pub(crate) fn env(&self, features: &Features, low: bool) -> Env {
        env(features, self.constants_for(low), low)
    }

    /// Every quantity the early returns and the ladder read, by name.
    pub(crate) fn reads(&self) -> Vec<String> {
        let mut vars = Vec::new();
        for e in &self.early_returns {
            e.vars(&mut vars);
        }
        crate::core::cpp::rules::stmt_vars(&self.ladder, &mut vars);
        vars
    }

    /// Whether the code tells default and low-parallelism targets apart.
    pub(crate) fn reads_flag(&self) -> bool {
        self.reads().iter().any(|v| v == "lowParallelism") || self.constants != self.constants_low
    }
}

/// The values a ladder or an early return can read for this shape.
pub(crate) fn env(features: &Features, constants: &Env, low_parallelism: bool) -> Env {
    let mut env: Env = features.vars.clone();
    env.insert("lowParallelism".into(), i64::from(low_parallelism));
    for (k, v) in constants {
        env.insert(k.clone(), *v);
    }
    env
}

fn smallest_factor_at_least(x: i64, lower: i64) -> Option<i64> {
    // Same bound as the compiler's trial division.
    let upper = x.min(1 << 15);
    (lower.max(1)..=upper).find(|i| x % i == 0)
}

/// The tile walk: split sizes for `dims` under `limit`.
pub(crate) fn tile_sizes(dims: &[i64], limit: i64, walk: Walk) -> Option<Vec<i64>> {
    let mut tiles = dims.to_vec();
    let mut budget = limit.max(1);
    let order: Vec<usize> = match walk {
        Walk::OuterToInner => (0..dims.len()).collect(),
        Walk::InnerToOuter => (0..dims.len()).rev().collect(),
    };
    for i in order {
        let lower = (tiles[i] + budget - 1) / budget;
        let tile = smallest_factor_at_least(tiles[i], lower)?;
        budget /= tiles[i] / tile;
        tiles[i] = tile;
        if tile > 1 {
            break;
        }
    }
    Some(tiles)
}

/// Number of partial reductions a split gives: prod(dim / tile).
#[cfg(test)]
pub(crate) fn split_factor(dims: &[i64], tiles: &[i64]) -> i64 {
    dims.iter().zip(tiles).map(|(d, t)| d / t).product()
}

/// The decision of a sweep candidate: limit fixed, early returns disabled.
pub(crate) fn fixed(features: &Features, limit: i64) -> Decision {
    Decision {
        limit: Some(limit),
        tile_sizes: tile_sizes(&features.reduction_dims, limit, features.walk),
        unknown: None,
    }
}

/// The decision of the heuristic as written in the file.
pub(crate) fn modelled(features: &Features, model: &Model, low_parallelism: bool) -> Decision {
    let env = model.env(features, low_parallelism);
    for cond in &model.early_returns {
        match cond.eval(&env) {
            Ok(v) if v.truthy() => return Decision { limit: None, tile_sizes: None, unknown: None },
            Ok(_) => {}
            Err(e) => return Decision { limit: None, tile_sizes: None, unknown: Some(format!("early return: {e}")) },
        }
    }
    match eval_ladder(&model.ladder, &env) {
        Ok(Some(limit)) => fixed(features, limit),
        Ok(None) => Decision { limit: None, tile_sizes: None, unknown: None },
        Err(e) => Decision { limit: None, tile_sizes: None, unknown: Some(format!("ladder: {e}")) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::workload::{features, parse_command};

    #[test]
    fn walk_matches_the_brief_example() {
        // -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -F 4 at limit 128.
        assert_eq!(tile_sizes(&[16, 225, 225], 128, Walk::OuterToInner), Some(vec![1, 45, 225]));
        assert_eq!(split_factor(&[16, 225, 225], &[1, 45, 225]), 80);
        // Limit 1 never splits.
        assert_eq!(tile_sizes(&[16, 225, 225], 1, Walk::OuterToInner), Some(vec![16, 225, 225]));
        // Inner to outer for batch-first layouts.
        assert_eq!(tile_sizes(&[3, 3, 64], 16, Walk::InnerToOuter), Some(vec![3, 3, 4]));
    }

    #[test]
    fn fixed_limit_decision() {
        let f = features(&parse_command("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC").unwrap()).unwrap();
        assert_eq!(fixed(&f, 128).tile_sizes, Some(vec![1, 45, 225]));
    }
}
