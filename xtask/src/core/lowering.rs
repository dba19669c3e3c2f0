//! From a parsed benchmark command to the op IREE's split-reduction pass
//! sees, as a [`LinalgOp`].
//!
//! Three steps, each what the real stack does (read from iree-turbine's boo
//! and IREE's preprocessing; checked against a real compiler by
//! `check-model`):
//!
//! 1. boo lowers each convolution direction to one `linalg.generic` over
//!    layout letters: the output's letters are the parallel loops (in
//!    order), then the filter operand's letters not seen yet (`c` and the
//!    filter's spatial letters are reductions), then the input's. Spatial
//!    input results are `stride * out + dilation * filter`. Backward data
//!    convolves the output gradient (padded to `H + L(Y-1)`) with the flipped
//!    filter at stride one; backward weight convolves the input with the
//!    output gradient, swapping stride and dilation. Groups insert a `g`
//!    letter before each grouped channel. GEMMs and batch matmuls are plain
//!    contractions (m, n, k) with parallel loops first.
//! 2. boo's HIP preprocessing pipeline (`ConvertGenericFilterToFhwc`)
//!    transposes a CHWF, CFHW or HWCF filter of a batch-first convolution and
//!    interchanges the loops so the filter loops precede the input channel:
//!    backward data then reduces over `[Y, X, Kg]`.
//! 3. Unit loops are dropped ([`LinalgOp::fold_unit_loops`]).

use crate::core::linalg::{Iter, LinalgOp, Loop, MapResult, Operand};
use crate::core::workload::{ConvMode, ConvParams, MatmulParams, Op};

/// Sizes above which the filter transpose pays even for a 1x1 filter (IREE
/// skips small 1x1 convolutions: the transpose would not fuse).
const FHWC_SMALL_MATMUL: i64 = 384;

/// The op the pass sees for a parsed command.
pub(crate) fn lower(op: &Op) -> LinalgOp {
    match op {
        Op::Conv(p) => conv(p).fold_unit_loops(),
        Op::Matmul(p) => matmul(p).fold_unit_loops(),
    }
}

/// Element type the MLIR is written with (the heuristic ignores it).
fn element(bytes: i64) -> &'static str {
    match bytes {
        4 => "f32",
        8 => "f64",
        _ => "bf16",
    }
}

/// A plain contraction: loops (batch?, m, n, k), parallel first.
pub(crate) fn matmul(p: &MatmulParams) -> LinalgOp {
    let batched = p.batch != 1;
    let mut loops = Vec::new();
    if batched {
        loops.push(Loop { name: "b".into(), extent: p.batch, iter: Iter::Parallel });
    }
    let o = loops.len();
    loops.push(Loop { name: "m".into(), extent: p.m, iter: Iter::Parallel });
    loops.push(Loop { name: "n".into(), extent: p.n, iter: Iter::Parallel });
    loops.push(Loop { name: "k".into(), extent: p.k, iter: Iter::Reduction });
    let (m, n, k) = (o, o + 1, o + 2);
    let with_batch = |dims: &[usize]| -> Vec<MapResult> {
        let lead: Vec<usize> = if batched { vec![0] } else { vec![] };
        lead.iter().chain(dims).map(|&l| vec![(l, 1)]).collect()
    };
    let operand = |dims: &[usize]| {
        let map = with_batch(dims);
        let shape = map.iter().map(|r| loops[r[0].0].extent).collect();
        Operand { shape, map }
    };
    let (a, b, c) = (operand(&[m, k]), operand(&[k, n]), operand(&[m, n]));
    LinalgOp { loops: loops.clone(), inputs: [a, b], output: c, element: element(p.element_bytes).into() }
}

/// One operand of boo's generic: its layout letters and sizes.
struct Tensor {
    letters: Vec<char>,
    sizes: Vec<i64>,
}

impl Tensor {
    /// A tensor in `layout` (upper-case letters) with `size` per letter,
    /// renamed to the lower-case letters boo's generic uses.
    fn new(layout: &str, size: &dyn Fn(char) -> i64, rename: &[(char, char)]) -> Tensor {
        let letters = layout
            .chars()
            .map(|c| rename.iter().find(|(from, _)| *from == c).map(|(_, to)| *to).unwrap_or(c.to_ascii_lowercase()))
            .collect();
        Tensor { letters, sizes: layout.chars().map(size).collect() }
    }

    /// Splits the dim `letter` into `[g, letter]`, `g` of size `groups`.
    fn group(&mut self, letter: char, groups: i64) {
        if groups == 1 {
            return;
        }
        let i = self.letters.iter().position(|&c| c == letter).expect("the grouped letter is in the layout");
        self.letters.insert(i, 'g');
        self.sizes.insert(i, groups);
        self.sizes[i + 1] /= groups;
    }
}

fn is_special(c: char) -> bool {
    matches!(c, 'n' | 'c' | 'f' | 'g')
}

/// boo's three operands, stride and dilation per spatial letter, for one
/// convolution direction (already padded).
fn operands(p: &ConvParams) -> ([Tensor; 3], Vec<(char, i64, i64)>) {
    let [in_l, fil_l, out_l] = p.layouts();
    let spatial: Vec<char> = p.spatial_letters();
    let at = |c: char, v: &[i64]| spatial.iter().position(|&s| s == c).map(|i| v[i]);
    let out_sp = p.output_spatial();
    let (n, c, k, g) = (p.n, p.c, p.k, p.groups);
    let in_size = |ch: char| match ch {
        'N' => n,
        'C' => c,
        s => at(s, &p.input).unwrap_or(1) + 2 * at(s, &p.pad).unwrap_or(0),
    };
    let fil_size = |ch: char| match ch {
        'N' => k,
        'C' => c / g,
        s => at(s, &p.filter).unwrap_or(1),
    };
    let out_size = |ch: char| match ch {
        'N' => n,
        'C' => k,
        s => at(s, &out_sp).unwrap_or(1),
    };
    let per_dim = |a: &[i64], b: &[i64]| -> Vec<(char, i64, i64)> {
        spatial.iter().enumerate().map(|(i, &s)| (s.to_ascii_lowercase(), a[i], b[i])).collect()
    };
    match p.mode {
        ConvMode::Forward => {
            let mut x = Tensor::new(&in_l, &in_size, &[]);
            let mut w = Tensor::new(&fil_l, &fil_size, &[('N', 'f')]);
            let mut o = Tensor::new(&out_l, &out_size, &[('C', 'f')]);
            x.group('c', g);
            w.group('f', g);
            o.group('f', g);
            ([x, w, o], per_dim(&p.stride, &p.dilation))
        }
        ConvMode::BackwardData => {
            // dLdy padded (or scattered) to H + L(Y-1) so that a stride-one
            // convolution with the flipped filter gives the input gradient.
            let dy_size = |ch: char| match ch {
                'N' | 'C' => out_size(ch),
                s => {
                    at(s, &p.input).unwrap_or(1) + at(s, &p.dilation).unwrap_or(1) * (at(s, &p.filter).unwrap_or(1) - 1)
                }
            };
            let in_plain = |ch: char| match ch {
                'N' | 'C' => in_size(ch),
                s => at(s, &p.input).unwrap_or(1),
            };
            let mut x = Tensor::new(&out_l, &dy_size, &[]);
            let mut w = Tensor::new(&fil_l, &fil_size, &[('N', 'c'), ('C', 'f')]);
            let mut o = Tensor::new(&in_l, &in_plain, &[('C', 'f')]);
            x.group('c', g);
            w.group('c', g);
            o.group('f', g);
            let ones = vec![1; spatial.len()];
            ([x, w, o], per_dim(&ones, &p.dilation))
        }
        ConvMode::BackwardWeight => {
            let mut x = Tensor::new(&in_l, &in_size, &[('N', 'c'), ('C', 'n')]);
            let mut w = Tensor::new(&out_l, &out_size, &[('N', 'c'), ('C', 'f')]);
            let mut o = Tensor::new(&fil_l, &fil_size, &[('N', 'f'), ('C', 'n')]);
            x.group('n', g);
            w.group('f', g);
            o.group('f', g);
            ([x, w, o], per_dim(&p.dilation, &p.stride))
        }
    }
}

/// boo's generic for a convolution, after IREE's filter transpose (unit
/// loops not yet dropped).
pub(crate) fn conv(p: &ConvParams) -> LinalgOp {
    let ([x, w, o], rates) = operands(p);
    let mut loops: Vec<Loop> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: String, extent: i64, iter: Iter, loops: &mut Vec<Loop>| {
        if !names.contains(&name) {
            names.push(name.clone());
            loops.push(Loop { name, extent, iter });
        }
    };
    for (&c, &s) in o.letters.iter().zip(&o.sizes) {
        add(c.to_string(), s, Iter::Parallel, &mut loops);
    }
    for (&c, &s) in w.letters.iter().zip(&w.sizes) {
        match c {
            'c' => add("c".into(), s, Iter::Reduction, &mut loops),
            c if is_special(c) => add(c.to_string(), s, Iter::Parallel, &mut loops),
            c => add(format!("w_{c}"), s, Iter::Reduction, &mut loops),
        }
    }
    for (&c, &s) in x.letters.iter().zip(&x.sizes) {
        if is_special(c) {
            add(c.to_string(), s, if c == 'c' { Iter::Reduction } else { Iter::Parallel }, &mut loops);
        }
    }
    let index = |name: &str| loops.iter().position(|l| l.name == name).expect("every letter has a loop");
    let x_map = x
        .letters
        .iter()
        .map(|&c| {
            if is_special(c) {
                return vec![(index(&c.to_string()), 1)];
            }
            let (_, stride, dilation) = rates.iter().find(|r| r.0 == c).copied().expect("a spatial letter");
            vec![(index(&c.to_string()), stride), (index(&format!("w_{c}")), dilation)]
        })
        .collect();
    let w_map = w
        .letters
        .iter()
        .map(|&c| vec![(if is_special(c) { index(&c.to_string()) } else { index(&format!("w_{c}")) }, 1)])
        .collect();
    let o_map = o.letters.iter().map(|&c| vec![(index(&c.to_string()), 1)]).collect();
    let op = LinalgOp {
        inputs: [Operand { shape: x.sizes, map: x_map }, Operand { shape: w.sizes, map: w_map }],
        output: Operand { shape: o.sizes, map: o_map },
        loops,
        element: element(p.element_bytes).into(),
    };
    filter_to_fhwc(&op).unwrap_or(op)
}

/// Result positions, in an operand's map, of the results that read any of
/// `loops` (in the order of `loops`, then of results).
fn positions(operand: &Operand, loops: &[usize]) -> Vec<usize> {
    loops.iter().flat_map(|&l| (0..operand.map.len()).filter(move |&r| operand.is_function_of(r, l))).collect()
}

/// IREE's `ConvertGenericFilterToFhwc`: `None` when it does not apply.
fn filter_to_fhwc(op: &LinalgOp) -> Option<LinalgOp> {
    let dims = op.conv_dims().ok()?;
    if dims.output_channel.is_empty() || dims.input_channel.is_empty() || dims.filter_loop.is_empty() {
        return None;
    }
    let [input, filter, output] = op.operands();
    if positions(input, &dims.batch).first().is_some_and(|&p| p != 0) {
        return None;
    }
    let f = positions(filter, &dims.output_channel);
    let c = positions(filter, &dims.input_channel);
    let k = positions(filter, &dims.filter_loop);
    let (fp, cp) = (*f.last()?, *c.last()?);
    let chwf = cp < k[0] && fp == filter.shape.len() - 1;
    let cfhw = cp < f[0] && fp < k[0];
    let hwcf = *k.last()? < cp && cp < fp;
    if !(chwf || cfhw || hwcf) {
        return None;
    }
    let product = |shape: &[i64], pos: &[usize]| pos.iter().map(|&i| shape[i]).product::<i64>();
    let m_pos: Vec<usize> =
        positions(output, &dims.output_image).into_iter().chain(positions(output, &dims.batch)).collect();
    let small = [product(&output.shape, &m_pos), product(&filter.shape, &f), product(&filter.shape, &c)]
        .iter()
        .any(|&s| s < FHWC_SMALL_MATMUL);
    if product(&filter.shape, &k) == 1 && small {
        return None;
    }
    let mut perm: Vec<usize> =
        (0..filter.shape.len()).filter(|i| !f.contains(i) && !c.contains(i) && !k.contains(i)).collect();
    perm.extend(f.iter().chain(&k).chain(&c));
    let mut out = op.clone();
    out.inputs[1] = Operand {
        shape: perm.iter().map(|&i| filter.shape[i]).collect(),
        map: perm.iter().map(|&i| filter.map[i].clone()).collect(),
    };
    // New loop order: the parallel loops as they are, then the filter
    // loops, then the input channels.
    let order: Vec<usize> = (0..op.num_parallel())
        .chain(dims.filter_loop.iter().copied())
        .chain(dims.input_channel.iter().copied())
        .collect();
    if order.len() != op.loops.len() {
        return None;
    }
    let new_index = |old: usize| order.iter().position(|&o| o == old).expect("a permutation");
    out.loops = order.iter().map(|&o| op.loops[o].clone()).collect();
    let [a, b] = &mut out.inputs;
    for operand in [a, b, &mut out.output] {
        for r in &mut operand.map {
            for t in r.iter_mut() {
                t.0 = new_index(t.0);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
