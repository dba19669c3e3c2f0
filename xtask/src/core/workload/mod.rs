//! Workloads: iree-boo-driver (MIOpen-style) command lines parsed into shapes
//! and the features the split-reduction heuristic computes from them.
//!
//! This module owns the mapping from a benchmark command to the numbers the
//! compiler compares its thresholds with (BRIEF.md section 2): `outputSize`,
//! `reductionSize`, the early-return quantities and the reduction dims that the
//! tile walk splits. They are read off the op the pass sees
//! ([`crate::core::lowering`]), the way the compiler reads them, so every
//! layout, rank, group count and unit dim gets the compiler's numbers. Parsing
//! a line is [`parse`]'s. Pure: text in, shapes out. Reading the commands file
//! and deciding what to do with bad lines is the caller's business.

mod parse;

pub(crate) use parse::{parse_command, short_command};

use crate::core::linalg::LinalgOp;
use crate::core::lowering;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which C++ heuristic sees an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Heuristic {
    Conv,
    Matmul,
}

impl Heuristic {
    pub(crate) const ALL: [Heuristic; 2] = [Heuristic::Conv, Heuristic::Matmul];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Heuristic::Conv => "conv",
            Heuristic::Matmul => "matmul",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Heuristic> {
        match s {
            "conv" => Some(Heuristic::Conv),
            "matmul" => Some(Heuristic::Matmul),
            _ => None,
        }
    }
}

impl fmt::Display for Heuristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Direction of the tile walk over the reduction dims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Walk {
    /// Outermost reduction dim first (batch-last convolutions, matmuls).
    OuterToInner,
    /// Innermost reduction dim first (batch-first convolutions).
    InnerToOuter,
}

/// Convolution direction, MIOpen's `-F`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConvMode {
    Forward,
    BackwardData,
    BackwardWeight,
}

/// The parsed operation, before feature extraction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    Conv(ConvParams),
    Matmul(MatmulParams),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConvParams {
    pub(crate) mode: ConvMode,
    pub(crate) n: i64,
    pub(crate) c: i64,
    pub(crate) k: i64,
    /// Input spatial sizes, outermost first (`[H]`, `[H, W]` or `[D, H, W]`).
    pub(crate) input: Vec<i64>,
    /// Filter spatial sizes, same order.
    pub(crate) filter: Vec<i64>,
    pub(crate) pad: Vec<i64>,
    pub(crate) stride: Vec<i64>,
    pub(crate) dilation: Vec<i64>,
    pub(crate) groups: i64,
    /// Whether the input layout has its channels last (NHWC-style).
    pub(crate) channels_last: bool,
    pub(crate) element_bytes: i64,
    /// Input, filter and output layouts as written (`NHWC`, `NCHW`, any
    /// order of N, C and the spatial letters); empty in runs recorded before
    /// layouts were kept, where `channels_last` says which of the two.
    #[serde(default)]
    pub(crate) layout: [String; 3],
}

/// boo's default layouts by number of spatial dims.
pub(crate) fn default_layout(rank: usize) -> &'static str {
    match rank {
        1 => "NCH",
        3 => "NCDHW",
        _ => "NCHW",
    }
}

impl ConvParams {
    /// Output spatial sizes: `floor((H + 2P - L(Y-1) - 1)/U) + 1` (checked
    /// when parsed).
    pub(crate) fn output_spatial(&self) -> Vec<i64> {
        (0..self.input.len())
            .map(|i| {
                (self.input[i] + 2 * self.pad[i] - self.dilation[i] * (self.filter[i] - 1) - 1)
                    .div_euclid(self.stride[i])
                    + 1
            })
            .collect()
    }

    /// The spatial letters of the layouts, outermost first.
    pub(crate) fn spatial_letters(&self) -> Vec<char> {
        match self.input.len() {
            1 => vec!['H'],
            3 => vec!['D', 'H', 'W'],
            _ => vec!['H', 'W'],
        }
    }

    /// Input, filter and output layouts.
    pub(crate) fn layouts(&self) -> [String; 3] {
        let letters: String = self.spatial_letters().into_iter().collect();
        let legacy = if self.channels_last { format!("N{letters}C") } else { format!("NC{letters}") };
        self.layout.clone().map(|l| if l.is_empty() { legacy.clone() } else { l })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MatmulParams {
    pub(crate) batch: i64,
    pub(crate) m: i64,
    pub(crate) n: i64,
    pub(crate) k: i64,
    pub(crate) element_bytes: i64,
}

/// Everything the heuristic (and the analysis) needs to know about a shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Features {
    pub(crate) heuristic: Heuristic,
    /// Product of the parallel (output) dims.
    pub(crate) output_size: i64,
    /// Product of the reduction dims (`kSize` for matmuls).
    pub(crate) reduction_size: i64,
    /// Reduction dims in loop order, as the tile walk sees them.
    pub(crate) reduction_dims: Vec<i64>,
    pub(crate) walk: Walk,
    /// The dim the last ladder rung clamps with (`startTileSize`/`tileSizes[0]`).
    pub(crate) start_tile_size: i64,
    /// Named quantities the C++ conditions refer to (`parallelSize`, `ratio`,
    /// `mSize`, ...), so that rules and early returns can be evaluated.
    pub(crate) vars: BTreeMap<String, i64>,
    /// Useful work, for the roofline column.
    pub(crate) flops: f64,
    /// Compulsory memory traffic (inputs and output once), for the roofline.
    pub(crate) bytes: f64,
    /// How the matmul-like function sees a convolution: every revision
    /// offers it a convolution the convolution function turned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fallback: Option<Box<Features>>,
}

impl Features {
    /// The features `heuristic` computes for this op, if it sees it.
    pub(crate) fn seen_by(&self, heuristic: Heuristic) -> Option<&Features> {
        if self.heuristic == heuristic {
            return Some(self);
        }
        self.fallback.as_deref().filter(|f| f.heuristic == heuristic)
    }
}

/// One command of a commands file with its features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Shape {
    /// 1-based line number in the commands file.
    pub(crate) line: usize,
    /// The command as written (trimmed).
    pub(crate) command: String,
    pub(crate) op: Op,
    pub(crate) features: Features,
}

/// A line that could not be parsed, with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BadLine {
    /// The commands file's name (set by whoever read the file; runs of
    /// earlier versions, one file each, lack it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) text: String,
    pub(crate) error: String,
}

/// Editors on Windows start UTF-8 files with a byte-order mark; it is not
/// part of the first command.
const BOM: char = '\u{feff}';

/// Parses a whole commands file. Comment (`#`) and blank lines are skipped;
/// every other line becomes a shape or a bad line.
pub(crate) fn parse_commands(text: &str) -> (Vec<Shape>, Vec<BadLine>) {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut shapes = Vec::new();
    let mut bad = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_command(line).and_then(|op| Ok((features(&op)?, op))) {
            Ok((features, op)) => shapes.push(Shape { line: idx + 1, command: line.to_string(), op, features }),
            Err(error) => bad.push(BadLine { file: String::new(), line: idx + 1, text: line.to_string(), error }),
        }
    }
    (shapes, bad)
}

/// `ratio` as the C++ computes it: integer division by a double square root,
/// truncated back to `int64_t`.
fn cpp_ratio(numerator: i64, parallel: i64, divisor: i64) -> i64 {
    ((numerator as f64) / (parallel as f64).sqrt() / divisor as f64) as i64
}

/// Useful work and compulsory traffic, in floating point: they only feed
/// the roofline column, and a product of seven sizes may pass `i64`.
fn roofline(op: &Op) -> (f64, f64) {
    let prod = |v: &[i64]| v.iter().map(|&x| x as f64).product::<f64>();
    match op {
        Op::Conv(p) => {
            let (n, c, k, g) = (p.n as f64, p.c as f64, p.k as f64, p.groups as f64);
            let (img_in, img_out, filt) = (prod(&p.input), prod(&p.output_spatial()), prod(&p.filter));
            let macs = match p.mode {
                ConvMode::BackwardData => n * img_in * c * filt * (k / g),
                _ => n * img_out * k * filt * (c / g),
            };
            let elements = n * img_in * c + k * filt * (c / g) + n * img_out * k;
            (2.0 * macs, elements * p.element_bytes as f64)
        }
        Op::Matmul(p) => {
            let (b, m, n, k) = (p.batch as f64, p.m as f64, p.n as f64, p.k as f64);
            (2.0 * b * m * n * k, (m * k + k * n + m * n) * b * p.element_bytes as f64)
        }
    }
}

/// Features of an op, exactly as IREE's heuristic computes them on the op
/// it sees. Errors only when a size overflows `int64_t`.
pub(crate) fn features(op: &Op) -> Result<Features, String> {
    let (flops, bytes) = roofline(op);
    of_linalg(&lowering::lower(op), flops, bytes)
}

/// Features of a lowered op: the convolution function's view when it is a
/// convolution with batch, output channel and filter loops (what every
/// revision requires), the matmul-like function's otherwise, and that one as
/// the fallback of a convolution.
pub(crate) fn of_linalg(op: &LinalgOp, flops: f64, bytes: f64) -> Result<Features, String> {
    let matmul = matmul_view(op, flops, bytes)?;
    match conv_view(op, flops, bytes)? {
        Some(mut conv) => {
            conv.fallback = Some(Box::new(matmul));
            Ok(conv)
        }
        None => Ok(matmul),
    }
}

fn overflow(what: &str) -> String {
    format!("`{what}` overflows int64_t, the type IREE's heuristic computes it in; use smaller sizes")
}

fn vars(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn conv_view(op: &LinalgOp, flops: f64, bytes: f64) -> Result<Option<Features>, String> {
    let Ok(dims) = op.conv_dims() else { return Ok(None) };
    if dims.output_channel.is_empty() || dims.batch.is_empty() || dims.filter_loop.is_empty() {
        return Ok(None);
    }
    let out = &op.output;
    let positions = |loops: &[usize]| -> Vec<usize> {
        let mut p: Vec<usize> = loops.iter().filter_map(|&l| out.position_of(l)).collect();
        p.sort();
        p
    };
    let size_at = |loops: &[usize], what: &str| -> Result<i64, String> {
        positions(loops).iter().try_fold(1i64, |a, &p| a.checked_mul(out.shape[p])).ok_or_else(|| overflow(what))
    };
    let oc = size_at(&dims.output_channel, "outputChannelSize")?;
    let sizes = ConvSizes {
        oc,
        batch: size_at(&dims.batch, "batchSize")?,
        image: size_at(&dims.output_image, "imageSize")?,
        depth: size_at(&dims.depth, "depthSize")?,
        batch_first: positions(&dims.batch).first() == Some(&0),
        reduction_size: op.size_of(&reduction_loops(op)).ok_or_else(|| overflow("reductionSize"))?,
        reduction_dims: op.reduction_extents(),
    };
    conv_features(sizes, flops, bytes).map(Some)
}

/// What the convolution function reads off a convolution, in both
/// descriptions of an op (linalg, roles).
struct ConvSizes {
    oc: i64,
    batch: i64,
    image: i64,
    depth: i64,
    batch_first: bool,
    reduction_size: i64,
    reduction_dims: Vec<i64>,
}

/// The convolution function's quantities from its sizes.
fn conv_features(s: ConvSizes, flops: f64, bytes: f64) -> Result<Features, String> {
    let main = if s.batch_first { s.image } else { s.batch };
    let parallel = s.oc.checked_mul(main).ok_or_else(|| overflow("parallelSize"))?;
    let output_size = [s.batch, s.image, s.depth]
        .iter()
        .try_fold(s.oc, |a, &b| a.checked_mul(b))
        .ok_or_else(|| overflow("outputSize"))?;
    let (walk, start) = match s.batch_first {
        true => (Walk::InnerToOuter, *s.reduction_dims.last().unwrap_or(&1)),
        false => (Walk::OuterToInner, *s.reduction_dims.first().unwrap_or(&1)),
    };
    let vars = vars(&[
        ("outputSize", output_size),
        ("reductionSize", s.reduction_size),
        ("parallelSize", parallel),
        ("ratio", cpp_ratio(s.reduction_size, parallel, 1)),
        ("outputChannelSize", s.oc),
        ("batchSize", s.batch),
        ("imageSize", s.image),
        ("depthSize", s.depth),
        ("mainDistributedSize", main),
        ("startTileSize", start),
    ]);
    Ok(Features {
        heuristic: Heuristic::Conv,
        output_size,
        reduction_size: s.reduction_size,
        reduction_dims: s.reduction_dims,
        walk,
        start_tile_size: start,
        vars,
        flops,
        bytes,
        fallback: None,
    })
}

/// The matmul-like function's quantities from its sizes.
fn matmul_features(
    (batch, m, n, k): (i64, i64, i64, i64),
    reduction_dims: Vec<i64>,
    flops: f64,
    bytes: f64,
) -> Result<Features, String> {
    let mn = m.checked_mul(n).ok_or_else(|| overflow("mSize * nSize"))?;
    let output_size = mn.checked_mul(batch).ok_or_else(|| overflow("outputSize"))?;
    let start = *reduction_dims.first().unwrap_or(&1);
    let vars = vars(&[
        ("outputSize", output_size),
        ("reductionSize", k),
        ("kSize", k),
        ("mSize", m),
        ("nSize", n),
        ("batchSize", batch),
        ("ratio", cpp_ratio(k, mn, batch)),
        ("startTileSize", start),
    ]);
    Ok(Features {
        heuristic: Heuristic::Matmul,
        output_size,
        reduction_size: k,
        reduction_dims,
        walk: Walk::OuterToInner,
        start_tile_size: start,
        vars,
        flops,
        bytes,
        fallback: None,
    })
}

/// A loop of an op described by roles (the bundled fixture's IR: `64
/// parallel outputChannel`): its extent, whether it is a reduction, and
/// its role as MLIR's `inferConvolutionDims`/`inferContractionDims` would
/// name it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RoleLoop {
    pub(crate) size: i64,
    pub(crate) reduction: bool,
    pub(crate) role: String,
}

/// Features of an op given by its loops' roles and the output positions
/// of its loops (`output[p]` is the loop at output dim `p`): what the
/// convolution function computes for `conv`, the matmul-like one
/// otherwise, by the same rules as [`of_linalg`].
pub(crate) fn of_roles(conv: bool, loops: &[RoleLoop], output: &[usize]) -> Result<Features, String> {
    let product = |role: &str, what: &str| {
        loops
            .iter()
            .filter(|l| l.role == role)
            .try_fold(1i64, |a, l| a.checked_mul(l.size))
            .ok_or_else(|| overflow(what))
    };
    let reduction_dims: Vec<i64> = loops.iter().filter(|l| l.reduction).map(|l| l.size).collect();
    let reduction_size =
        reduction_dims.iter().try_fold(1i64, |a, &b| a.checked_mul(b)).ok_or_else(|| overflow("reductionSize"))?;
    if !conv {
        let sizes = (product("batch", "batchSize")?, product("m", "mSize")?, product("n", "nSize")?, reduction_size);
        return matmul_features(sizes, reduction_dims, 0.0, 0.0);
    }
    let sizes = ConvSizes {
        oc: product("outputChannel", "outputChannelSize")?,
        batch: product("batch", "batchSize")?,
        image: product("outputImage", "imageSize")?,
        depth: product("depth", "depthSize")?,
        batch_first: output.first().and_then(|&l| loops.get(l)).is_some_and(|l| l.role == "batch"),
        reduction_size,
        reduction_dims,
    };
    conv_features(sizes, 0.0, 0.0)
}

fn reduction_loops(op: &LinalgOp) -> Vec<usize> {
    (0..op.loops.len()).filter(|&l| op.loops[l].iter == crate::core::linalg::Iter::Reduction).collect()
}

fn matmul_view(op: &LinalgOp, flops: f64, bytes: f64) -> Result<Features, String> {
    let dims = op.contraction_dims();
    let size = |loops: &[usize], what: &str| op.size_of(loops).ok_or_else(|| overflow(what));
    let (batch, m, n, k) =
        (size(&dims.batch, "batchSize")?, size(&dims.m, "mSize")?, size(&dims.n, "nSize")?, size(&dims.k, "kSize")?);
    matmul_features((batch, m, n, k), op.reduction_extents(), flops, bytes)
}

#[cfg(test)]
mod tests;
