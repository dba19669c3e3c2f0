//! The one exact dynamic program behind every fitted partition: cut a
//! sequence of groups (shapes sorted by a size, equal sizes grouped, since a
//! threshold cannot separate them) into consecutive segments, give each
//! segment a label (a limit column), and minimise the summed cost.
//!
//! Ladders on `outputSize` use it with [`Order::Decreasing`] (a larger
//! output never gets a larger limit); `reductionSize` buckets inside a rung
//! use [`Order::Any`] with a minimum bucket size. Backtracking gives the
//! segments. What a cost is and how segments become thresholds is the
//! callers' business.

/// How the labels of consecutive segments may relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Each segment's label index is strictly below the previous one's.
    Decreasing,
    /// Any labels, equal ones included.
    Any,
}

/// An optimal partition: its cost and its segments as (end group,
/// exclusive; label).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Partition {
    pub(crate) cost: f64,
    pub(crate) segments: Vec<(usize, usize)>,
}

/// For every segment count `m` in `1..=max_segments`, the best partition
/// into exactly `m` segments (`None` when there is none). `prefix[i][k]` is
/// the cost of groups `[0, i)` at label `k`; `valid(j, i)` says whether
/// groups `[j, i)` may form a segment. Ties keep the first candidate found
/// (smaller cut, then the label the order visits first).
pub(crate) fn partitions(
    prefix: &[Vec<f64>],
    max_segments: usize,
    order: Order,
    valid: impl Fn(usize, usize) -> bool,
) -> Vec<Option<Partition>> {
    let n = prefix.len().saturating_sub(1);
    let nk = prefix.first().map(Vec::len).unwrap_or(0);
    if n == 0 || nk == 0 || max_segments == 0 {
        return vec![None; max_segments];
    }
    let inf = f64::INFINITY;
    let seg = |j: usize, i: usize, k: usize| prefix[i][k] - prefix[j][k];
    // dp[m][i][k]: groups [0, i) in m segments, the last labelled k;
    // back[m][i][k] = (previous end, previous label).
    let mut dp = vec![vec![vec![inf; nk]; n + 1]; max_segments + 1];
    let mut back = vec![vec![vec![(0usize, 0usize); nk]; n + 1]; max_segments + 1];
    for (i, row) in dp[1].iter_mut().enumerate().skip(1) {
        if valid(0, i) {
            for (k, cell) in row.iter_mut().enumerate() {
                *cell = seg(0, i, k);
            }
        }
    }
    for m in 2..=max_segments {
        for i in m..=n {
            for j in (m - 1)..i {
                if !valid(j, i) {
                    continue;
                }
                match order {
                    Order::Decreasing => {
                        // The best previous segment with a strictly larger
                        // label: a suffix minimum over labels.
                        let (mut best, mut best_k) = (inf, 0);
                        for k in (0..nk).rev() {
                            if best < inf {
                                let c = best + seg(j, i, k);
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
                    Order::Any => {
                        let Some((best_k, best)) = first_min(&dp[m - 1][j]) else { continue };
                        for k in 0..nk {
                            let c = best + seg(j, i, k);
                            if c < dp[m][i][k] {
                                dp[m][i][k] = c;
                                back[m][i][k] = (j, best_k);
                            }
                        }
                    }
                }
            }
        }
    }
    (1..=max_segments)
        .map(|m| {
            let (k, cost) = first_min(&dp[m][n])?;
            let mut segments = Vec::with_capacity(m);
            let (mut i, mut kk) = (n, k);
            for mm in (1..=m).rev() {
                segments.push((i, kk));
                (i, kk) = back[mm][i][kk];
            }
            segments.reverse();
            Some(Partition { cost, segments })
        })
        .collect()
}

/// The first index holding the smallest finite value.
fn first_min(values: &[f64]) -> Option<(usize, f64)> {
    let (k, &c) = values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    c.is_finite().then_some((k, c))
}

/// Cumulative costs: `prefix[i][k]` is the sum of `cost(group, k)` over the
/// first `i` groups.
pub(crate) fn prefix_costs<G>(groups: &[G], labels: usize, cost: impl Fn(&G, usize) -> f64) -> Vec<Vec<f64>> {
    let mut prefix = vec![vec![0.0; labels]; groups.len() + 1];
    for (i, g) in groups.iter().enumerate() {
        let row: Vec<f64> = (0..labels).map(|k| prefix[i][k] + cost(g, k)).collect();
        prefix[i + 1] = row;
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decreasing_labels_follow_the_cheapest_steps() {
        // Four groups; label 2 is cheap for the first two, label 0 for the rest.
        let costs = [[5.0, 5.0, 1.0], [5.0, 5.0, 1.0], [1.0, 5.0, 5.0], [1.0, 5.0, 5.0]];
        let prefix = prefix_costs(&costs, 3, |g, k| g[k]);
        let p = partitions(&prefix, 3, Order::Decreasing, |_, _| true);
        assert_eq!(p[0], Some(Partition { cost: 12.0, segments: vec![(4, 0)] }));
        assert_eq!(p[1], Some(Partition { cost: 4.0, segments: vec![(2, 2), (4, 0)] }));
        // The order forbids an increase: label 0 then 2 is not allowed, so
        // two segments cost more than one.
        let rising = [[1.0, 5.0, 5.0], [5.0, 5.0, 1.0]];
        let p = partitions(&prefix_costs(&rising, 3, |g, k| g[k]), 2, Order::Decreasing, |_, _| true);
        assert_eq!(p[0].as_ref().unwrap().cost, 6.0);
        assert_eq!(p[1].as_ref().unwrap().cost, 10.0);
        let p = partitions(&prefix_costs(&rising, 3, |g, k| g[k]), 2, Order::Any, |_, _| true);
        assert_eq!(p[1], Some(Partition { cost: 2.0, segments: vec![(1, 0), (2, 2)] }));
    }

    #[test]
    fn invalid_segments_are_never_used() {
        let costs = [[1.0, 9.0], [9.0, 1.0], [9.0, 1.0]];
        let prefix = prefix_costs(&costs, 2, |g, k| g[k]);
        // Segments of at least two groups: three groups make one segment only.
        let p = partitions(&prefix, 3, Order::Any, |j, i| i - j >= 2);
        assert!(p[0].is_some() && p[1].is_none() && p[2].is_none());
    }
}
