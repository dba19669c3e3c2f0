//! Which (shape, candidate) pairs a sweep measures, and which share a
//! measurement: a shape whose predicted split at a candidate equals its
//! predicted split at a candidate scheduled earlier compiles to the same
//! kernels, so it takes that candidate's measurement instead of running
//! again (each boo measurement includes an `iree-compile` and the timed
//! launches). The baseline, scheduled first, measures every shape.
//!
//! Pure: predictions in, the schedule out. Running the measurements is the
//! sweep's (which also measures a shared pair itself when the candidate it
//! shares with has no good measurement of the shape); copying the shared
//! ones in is [`crate::core::results::Results::merge`]'s.

use crate::core::results::Decision;
use serde::{Deserialize, Serialize};

/// Per candidate (in scheduling order) and shape: `None` when the candidate
/// measures the shape itself, else the index of the candidate whose
/// measurement it takes (always one that measures it itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Schedule {
    pub(crate) owner: Vec<Vec<Option<usize>>>,
}

impl Schedule {
    /// Every pair measured (`--no-dedup`).
    pub(crate) fn all(candidates: usize, shapes: usize) -> Schedule {
        Schedule { owner: vec![vec![None; shapes]; candidates] }
    }

    /// The schedule from predictions: `decisions[c][s]` is candidate `c`'s
    /// predicted decision for shape `s` (`None` or unknown: measured).
    pub(crate) fn dedup(decisions: &[Vec<Option<&Decision>>]) -> Schedule {
        let shapes = decisions.first().map_or(0, Vec::len);
        let mut owner = vec![vec![None; shapes]; decisions.len()];
        for s in 0..shapes {
            for c in 1..decisions.len() {
                let Some(mine) = known(decisions[c][s]) else { continue };
                // The first earlier candidate that measures this split itself.
                owner[c][s] = (0..c)
                    .find(|&o| owner[o][s].is_none() && known(decisions[o][s]).is_some_and(|d| d.same_split(mine)));
            }
        }
        Schedule { owner }
    }

    /// The shapes candidate `c` measures itself.
    pub(crate) fn measured(&self, c: usize) -> Vec<usize> {
        self.owner.get(c).map_or(vec![], |o| (0..o.len()).filter(|&s| o[s].is_none()).collect())
    }

    /// How many (shape, candidate) pairs take another candidate's measurement.
    pub(crate) fn shared(&self) -> usize {
        self.owner.iter().flatten().filter(|o| o.is_some()).count()
    }
}

/// The shapes of one benchmark repeat per device: `order` (positions in
/// the job's shape list, in the order they run) split over `devices`, the
/// shape at position `j` of the list on device `(j + offset) % devices`,
/// each device's shapes in `order`'s order. Raising `offset` by one each
/// repeat (or validation round) moves every shape to the next device, so
/// over the repeats each build runs each shape on every device and device
/// and build are not confounded.
pub(crate) fn per_device(order: &[usize], devices: usize, offset: usize) -> Vec<Vec<usize>> {
    let devices = devices.max(1);
    let mut out = vec![Vec::new(); devices];
    for &j in order {
        out[device_of(j, devices, offset)].push(j);
    }
    out
}

/// The device [`per_device`] gives the shape at position `j` of the job's
/// list (validation reads per-device effects back with it).
pub(crate) fn device_of(j: usize, devices: usize, offset: usize) -> usize {
    (j + offset) % devices.max(1)
}

fn known(d: Option<&Decision>) -> Option<&Decision> {
    d.filter(|d| d.unknown.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(limit: Option<i64>, tiles: &[i64]) -> Decision {
        Decision { limit, tile_sizes: Some(tiles.to_vec()), unknown: None }
    }

    #[test]
    fn a_split_already_scheduled_is_shared_with_the_first_candidate_that_measures_it() {
        let base = split(None, &[16, 225, 225]);
        let a = split(Some(8), &[2, 225, 225]);
        let same_as_a = split(Some(16), &[2, 225, 225]);
        let b = split(Some(64), &[1, 45, 225]);
        let unknown = Decision { limit: Some(1), tile_sizes: None, unknown: Some("why".into()) };
        let limit_1 = split(Some(1), &[16, 225, 225]);
        // Shape 0 at baseline, limit-8, limit-16, limit-64, limit-1; shape 1
        // the baseline's split at every candidate but an unknown one.
        let d = [
            vec![Some(&base), Some(&base)],
            vec![Some(&a), Some(&base)],
            vec![Some(&same_as_a), Some(&base)],
            vec![Some(&b), Some(&unknown)],
            vec![Some(&limit_1), None],
        ];
        let s = Schedule::dedup(&d);
        assert_eq!(s.owner[0], vec![None, None], "the baseline measures everything");
        assert_eq!(s.owner[1], vec![None, Some(0)]);
        assert_eq!(s.owner[2], vec![Some(1), Some(0)]);
        assert_eq!(s.owner[3], vec![None, None], "new split; unknown prediction");
        // Limit 1 does not split: not the baseline's split (which is not
        // split either but is an unsplit decision with limit None) unless
        // both agree on "not split" with the same tiles.
        assert_eq!(s.owner[4], vec![None, None]);
        assert_eq!(s.shared(), 3);
        assert_eq!(s.measured(2), Vec::<usize>::new());
        assert_eq!(s.measured(3), vec![0, 1]);
        assert_eq!(Schedule::all(2, 3).shared(), 0);
    }

    #[test]
    fn shapes_rotate_over_the_devices_in_their_order() {
        let order = [4, 0, 3, 1, 2];
        assert_eq!(per_device(&order, 1, 7), vec![vec![4, 0, 3, 1, 2]]);
        assert_eq!(per_device(&order, 2, 0), vec![vec![4, 0, 2], vec![3, 1]]);
        assert_eq!(per_device(&order, 2, 1), vec![vec![3, 1], vec![4, 0, 2]]);
        // Every shape visits every device over `devices` offsets.
        for j in 0..5 {
            let seen: std::collections::BTreeSet<usize> =
                (0..3).map(|r| per_device(&order, 3, r).iter().position(|d| d.contains(&j)).unwrap()).collect();
            assert_eq!(seen.len(), 3, "shape {j}");
        }
        assert_eq!(per_device(&[0], 4, 0), vec![vec![0], vec![], vec![], vec![]]);
    }
}
