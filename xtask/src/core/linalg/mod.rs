//! The op the split-reduction pass sees: a `linalg.generic`'s loops, its
//! operands' shapes and indexing maps.
//!
//! IREE's heuristic does not read benchmark commands; it asks MLIR about an
//! op: is it a convolution and which loops play which role
//! (`inferConvolutionDims`), which loops are a contraction's batch, M, N and K
//! (`inferContractionDims`), how many loops are parallel, which shapes are
//! dynamic. This module holds the op in that form and answers those
//! questions the way MLIR answers them (written from MLIR's documented
//! rules), plus the rewrite IREE
//! applies before the pass: loops of extent one are dropped
//! (`FoldUnitExtentDims`). Printing the op as MLIR is [`mlir`]'s; reading
//! it back (IREE's lit tests, for the behaviour audit and the tests) is
//! `read`'s. Pure: data in,
//! data out.

pub(crate) mod mlir;
pub(crate) mod read;

use std::collections::BTreeSet;

/// A dynamic size (`?`), as MLIR spells `ShapedType::kDynamic`.
pub(crate) const DYNAMIC: i64 = i64::MIN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Iter {
    Parallel,
    Reduction,
}

/// One loop of the op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loop {
    /// What the loop iterates over (`n`, `oh`, `k`, ...), for people.
    pub(crate) name: String,
    /// The loop's range; [`DYNAMIC`] when unknown.
    pub(crate) extent: i64,
    pub(crate) iter: Iter,
}

/// One result of an indexing map: a sum of `loop * coefficient` terms
/// (`d1 * 2 + d4`); the only form convolutions and contractions use.
pub(crate) type MapResult = Vec<(usize, i64)>;

/// An operand: its tensor shape and its indexing map's results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operand {
    pub(crate) shape: Vec<i64>,
    pub(crate) map: Vec<MapResult>,
}

impl Operand {
    /// The loop a result is, when it is a bare `dN`.
    fn bare(result: &MapResult) -> Option<usize> {
        match result.as_slice() {
            [(l, 1)] => Some(*l),
            _ => None,
        }
    }

    /// MLIR's `getResultPosition(dN)`: the first result that is exactly `dN`.
    pub(crate) fn position_of(&self, l: usize) -> Option<usize> {
        self.map.iter().position(|r| Self::bare(r) == Some(l))
    }

    /// Whether result `r` reads loop `l` (`isFunctionOfDim`).
    pub(crate) fn is_function_of(&self, r: usize, l: usize) -> bool {
        self.map[r].iter().any(|(x, _)| *x == l)
    }

    fn uses(&self, l: usize) -> usize {
        (0..self.map.len()).filter(|&r| self.is_function_of(r, l)).count()
    }

    pub(crate) fn is_dynamic(&self) -> bool {
        self.shape.contains(&DYNAMIC)
    }
}

/// A contraction or convolution with two inputs and one output (init).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinalgOp {
    pub(crate) loops: Vec<Loop>,
    pub(crate) inputs: [Operand; 2],
    pub(crate) output: Operand,
    /// Element type of the inputs (`bf16`, `f16`, `f32`); the output
    /// accumulates in `f32`. The heuristic never looks at it.
    pub(crate) element: String,
}

/// Loops by convolution role, as `inferConvolutionDims` returns them (each
/// sorted by loop index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConvDims {
    pub(crate) batch: Vec<usize>,
    pub(crate) output_image: Vec<usize>,
    pub(crate) output_channel: Vec<usize>,
    pub(crate) filter_loop: Vec<usize>,
    pub(crate) input_channel: Vec<usize>,
    pub(crate) depth: Vec<usize>,
}

/// Loops by contraction role, as `inferContractionDims` returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContractionDims {
    pub(crate) batch: Vec<usize>,
    pub(crate) m: Vec<usize>,
    pub(crate) n: Vec<usize>,
    pub(crate) k: Vec<usize>,
}

/// The input map's loops as MLIR's convolution matcher classifies them:
/// used bare (`unconvolved`) or inside a `a + b` sum (`convolved`).
#[derive(Default)]
struct InputWalk {
    unconvolved: BTreeSet<usize>,
    convolved: BTreeSet<usize>,
    /// The partner of each convolved loop in its sum.
    pairs: Vec<(usize, usize)>,
}

impl InputWalk {
    /// A sum's operand: a loop, or a loop times a constant.
    fn convolved_term(&mut self, term: (usize, i64)) -> Option<usize> {
        let (l, _) = term;
        if self.convolved.contains(&l) || self.unconvolved.contains(&l) {
            return None;
        }
        self.convolved.insert(l);
        Some(l)
    }

    /// MLIR visits each result: a bare loop is unconvolved; `x + y` makes
    /// both convolved (both sides are looked at before either can fail, as
    /// in MLIR); anything else (a lone `d * 2`) is ignored.
    fn visit(&mut self, result: &MapResult) {
        match result.as_slice() {
            [(l, 1)] if !self.convolved.contains(l) && !self.unconvolved.contains(l) => {
                self.unconvolved.insert(*l);
            }
            [(_, 1)] => {}
            [.., (_, _)] if result.len() >= 2 => {
                // `a + b + c` parses as `(a + b) + c`: the left side is a sum,
                // which is not a term, so only the right one is recorded.
                let lhs = if result.len() == 2 { self.convolved_term(result[0]) } else { None };
                let rhs = self.convolved_term(result[result.len() - 1]);
                if let (Some(a), Some(b)) = (lhs, rhs) {
                    self.pairs.push((a, b));
                }
            }
            _ => {}
        }
    }

    /// Loops read by more than one input result are neither (and take
    /// their sum partner with them).
    fn clear_multi_use(&mut self, input: &Operand, loops: usize) {
        for l in 0..loops {
            if input.uses(l) <= 1 {
                continue;
            }
            self.convolved.remove(&l);
            self.unconvolved.remove(&l);
            if let Some(i) = self.pairs.iter().position(|(a, b)| *a == l || *b == l) {
                let (a, b) = self.pairs.remove(i);
                let partner = if a == l { b } else { a };
                self.convolved.remove(&partner);
                self.unconvolved.remove(&partner);
            }
        }
    }
}

impl LinalgOp {
    pub(crate) fn operands(&self) -> [&Operand; 3] {
        [&self.inputs[0], &self.inputs[1], &self.output]
    }

    /// Extents of the reduction loops, in loop order (what the heuristic
    /// calls `tileSizes` before it splits them).
    pub(crate) fn reduction_extents(&self) -> Vec<i64> {
        self.loops.iter().filter(|l| l.iter == Iter::Reduction).map(|l| l.extent).collect()
    }

    pub(crate) fn num_parallel(&self) -> usize {
        self.loops.iter().filter(|l| l.iter == Iter::Parallel).count()
    }

    pub(crate) fn has_dynamic_loop(&self) -> bool {
        self.loops.iter().any(|l| l.extent == DYNAMIC)
    }

    /// MLIR's `findPermutationsIndexingOperand`: loops of kind `iter` that
    /// an operand reads as a bare `dN` and in no other result.
    fn bare_loops(&self, operand: &Operand, iter: Iter) -> BTreeSet<usize> {
        operand
            .map
            .iter()
            .filter_map(Operand::bare)
            .filter(|&l| self.loops[l].iter == iter && operand.uses(l) == 1)
            .collect()
    }

    fn is_projected_permutation(operand: &Operand) -> bool {
        let bare: Vec<usize> = operand.map.iter().filter_map(Operand::bare).collect();
        let distinct: BTreeSet<usize> = bare.iter().copied().collect();
        bare.len() == operand.map.len() && distinct.len() == bare.len()
    }

    /// `isaConvolutionOpInterface` followed by `inferConvolutionDims`; the
    /// error says why the op is not a convolution.
    pub(crate) fn conv_dims(&self) -> Result<ConvDims, String> {
        let [input, filter, output] = self.operands();
        let mut walk = InputWalk::default();
        for r in &input.map {
            walk.visit(r);
        }
        walk.clear_multi_use(input, self.loops.len());
        if !Self::is_projected_permutation(filter) || !Self::is_projected_permutation(output) {
            return Err("the filter or output map is not a projected permutation".into());
        }
        let out_dims: BTreeSet<usize> = output.map.iter().filter_map(Operand::bare).collect();
        let filter_dims: BTreeSet<usize> = filter.map.iter().filter_map(Operand::bare).collect();
        self.classify_loops(&walk, &out_dims, &filter_dims)?;
        if walk.convolved.is_empty() {
            return Err("no loop is convolved".into());
        }
        let par_filter = self.bare_loops(filter, Iter::Parallel);
        let par_output = self.bare_loops(output, Iter::Parallel);
        let red_filter = self.bare_loops(filter, Iter::Reduction);
        let sorted = |s: BTreeSet<usize>| s.into_iter().collect::<Vec<_>>();
        let both: BTreeSet<usize> = par_filter.intersection(&par_output).copied().collect();
        Ok(ConvDims {
            batch: sorted(&(&walk.unconvolved & &par_output) - &par_filter),
            output_image: sorted(&walk.convolved & &par_output),
            output_channel: sorted(&both - &walk.unconvolved),
            filter_loop: sorted(&walk.convolved & &red_filter),
            input_channel: sorted(&walk.unconvolved & &red_filter),
            depth: sorted(&both & &walk.unconvolved),
        })
    }

    /// Every loop must be one of MLIR's convolution roles, read off the
    /// output and filter maps.
    fn classify_loops(
        &self,
        walk: &InputWalk,
        out_dims: &BTreeSet<usize>,
        filter_dims: &BTreeSet<usize>,
    ) -> Result<(), String> {
        let (unc, conv) = (&walk.unconvolved, &walk.convolved);
        let mut all = BTreeSet::new();
        let not_a_role = |l: usize| Err(format!("loop `{}` has no convolution role", self.loops[l].name));
        for &l in out_dims {
            let role = (unc.contains(&l) && !filter_dims.contains(&l))
                || (conv.contains(&l) && !filter_dims.contains(&l))
                || (!conv.contains(&l) && !unc.contains(&l) && filter_dims.contains(&l))
                || (unc.contains(&l) && filter_dims.contains(&l));
            if !role || self.loops[l].iter != Iter::Parallel {
                return not_a_role(l);
            }
            all.insert(l);
        }
        for &l in filter_dims {
            if out_dims.contains(&l) && (!unc.contains(&l) && !conv.contains(&l) || unc.contains(&l)) {
                continue;
            }
            let reduced = (conv.contains(&l) || unc.contains(&l)) && !out_dims.contains(&l);
            if !reduced || self.loops[l].iter != Iter::Reduction || all.contains(&l) {
                return not_a_role(l);
            }
            all.insert(l);
        }
        if all.len() != self.loops.len() {
            return Err("a loop appears in neither the output nor the filter".into());
        }
        Ok(())
    }

    /// `inferContractionDims`: M reads the first input and the output, N the
    /// second input and the output, batch all three (bare, once each), K the
    /// reductions both inputs read bare.
    pub(crate) fn contraction_dims(&self) -> ContractionDims {
        let [a, b, c] = self.operands();
        let (pa, pb, pc) = (
            self.bare_loops(a, Iter::Parallel),
            self.bare_loops(b, Iter::Parallel),
            self.bare_loops(c, Iter::Parallel),
        );
        let sorted = |s: BTreeSet<usize>| s.into_iter().collect::<Vec<_>>();
        let ac = &pa & &pc;
        let bc = &pb & &pc;
        ContractionDims {
            batch: sorted(&ac & &pb),
            m: sorted(&ac - &pb),
            n: sorted(&bc - &pa),
            k: sorted(&self.bare_loops(a, Iter::Reduction) & &self.bare_loops(b, Iter::Reduction)),
        }
    }

    /// Product of the extents of `loops` (1 for none); `None` on overflow.
    pub(crate) fn size_of(&self, loops: &[usize]) -> Option<i64> {
        loops.iter().try_fold(1i64, |acc, &l| acc.checked_mul(self.loops[l].extent))
    }

    /// IREE's `FoldUnitExtentDims` as it shows in the op the pass sees:
    /// loops of extent one disappear; a sum loses its unit term; a result
    /// left with no loop goes (its tensor dim is sliced away); a result left
    /// as a lone `d * s` (a strided 1x1) reads a strided slice, so it becomes
    /// a plain `d` over that loop's extent.
    pub(crate) fn fold_unit_loops(&self) -> LinalgOp {
        let keep: Vec<usize> = (0..self.loops.len()).filter(|&l| self.loops[l].extent != 1).collect();
        let renumber = |l: usize| keep.iter().position(|&k| k == l);
        let fold = |operand: &Operand| {
            let mut out = Operand { shape: Vec::new(), map: Vec::new() };
            for (result, &size) in operand.map.iter().zip(&operand.shape) {
                let terms: MapResult = result.iter().filter_map(|&(l, c)| renumber(l).map(|n| (n, c))).collect();
                match terms.as_slice() {
                    [] => {}
                    [(n, c)] if *c != 1 || result.len() > 1 => {
                        out.map.push(vec![(*n, 1)]);
                        out.shape.push(self.loops[keep[*n]].extent);
                    }
                    _ => {
                        out.map.push(terms);
                        out.shape.push(size);
                    }
                }
            }
            out
        };
        LinalgOp {
            loops: keep.iter().map(|&l| self.loops[l].clone()).collect(),
            inputs: [fold(&self.inputs[0]), fold(&self.inputs[1])],
            output: fold(&self.output),
            element: self.element.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
