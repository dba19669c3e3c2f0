//! Workloads: iree-boo-driver (MIOpen-style) command lines parsed into shapes
//! and the features the split-reduction heuristic computes from them.
//!
//! This module owns the mapping from a benchmark command to the numbers the
//! compiler compares its thresholds with (BRIEF.md section 2): `outputSize`,
//! `reductionSize`, the early-return quantities and the reduction dims that the
//! tile walk splits. It is pure: text in, shapes out. Reading the commands file
//! and deciding what to do with bad lines is the caller's business.

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
    /// Input spatial sizes, outermost first (`[H, W]` or `[D, H, W]`).
    pub(crate) input: Vec<i64>,
    /// Filter spatial sizes, same order.
    pub(crate) filter: Vec<i64>,
    pub(crate) pad: Vec<i64>,
    pub(crate) stride: Vec<i64>,
    pub(crate) dilation: Vec<i64>,
    pub(crate) groups: i64,
    /// `true` for NHWC-style layouts (channels last), `false` for NCHW.
    pub(crate) channels_last: bool,
    pub(crate) element_bytes: i64,
}

impl ConvParams {
    /// Output spatial sizes: `floor((H + 2P - L(Y-1) - 1)/U) + 1`.
    pub(crate) fn output_spatial(&self) -> Vec<i64> {
        (0..self.input.len())
            .map(|i| {
                (self.input[i] + 2 * self.pad[i] - self.dilation[i] * (self.filter[i] - 1) - 1)
                    .div_euclid(self.stride[i])
                    + 1
            })
            .collect()
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
    pub(crate) line: usize,
    pub(crate) text: String,
    pub(crate) error: String,
}

/// Parses a whole commands file. Comment (`#`) and blank lines are skipped;
/// every other line becomes a shape or a bad line.
pub(crate) fn parse_commands(text: &str) -> (Vec<Shape>, Vec<BadLine>) {
    let mut shapes = Vec::new();
    let mut bad = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_command(line) {
            Ok(op) => {
                let features = features(&op);
                shapes.push(Shape { line: idx + 1, command: line.to_string(), op, features });
            }
            Err(error) => bad.push(BadLine { line: idx + 1, text: line.to_string(), error }),
        }
    }
    (shapes, bad)
}

/// Parses one command line into an op. Errors are short sentences that say
/// what is wrong and, where there is one, the fix.
pub(crate) fn parse_command(line: &str) -> Result<Op, String> {
    let tokens = shlex::split(line).ok_or_else(|| "unbalanced quotes".to_string())?;
    let Some(first) = tokens.first() else {
        return Err("empty command".into());
    };
    match first.as_str() {
        "conv" | "convfp16" | "convbfp16" => parse_conv(first, &tokens[1..]),
        "gemm" | "gemmfp16" | "gemmbfp16" => parse_gemm(first, &tokens[1..]),
        "aten::mm" | "aten::bmm" | "aten::addmm" => parse_aten(first, &tokens[1..]),
        other => Err(format!(
            "unsupported op `{other}`: the split-reduction heuristics see convolutions \
             (conv, convfp16, convbfp16), GEMMs (gemm, gemmfp16, gemmbfp16) and \
             aten::mm/bmm/addmm; remove the line or pass --skip-bad-lines"
        )),
    }
}

/// MIOpen's default value per convolution flag: a flag at its default says
/// nothing about the shape, so [`short_command`] leaves it out.
const CONV_DEFAULTS: &[(&[&str], &str)] = &[
    (&["-m", "--mode"], "conv"),
    (&["-g", "--group_count"], "1"),
    (&["-_", "--spatial_dim"], "2"),
    (&["-$", "--pad_d", "-p", "--pad_h", "-q", "--pad_w"], "0"),
    (&["-#", "--conv_stride_d", "-u", "--conv_stride_h", "-v", "--conv_stride_w"], "1"),
    (&["-^", "--dilation_d", "-l", "--dilation_h", "-j", "--dilation_w"], "1"),
    (&["-%", "--trans_output_pad_d", "-Y", "--trans_output_pad_h", "-X", "--trans_output_pad_w"], "0"),
];

const LAYOUT_FLAGS: &[&str] = &["-I", "--in_layout", "-O", "--out_layout", "-f", "--fil_layout"];

/// A command as tables show it: the op and the flags that make its shape.
/// Flags that do not change the shape (timing, iterations) and flags at
/// MIOpen's default are left out, and a layout shared by every operand is
/// written once at the end (`... -F 4 NHWC`); an ATen op keeps its operand
/// shapes only. Two different shapes never read the same; a line that does
/// not parse is returned as it is.
pub(crate) fn short_command(line: &str) -> String {
    let Some(tokens) = shlex::split(line) else {
        return line.to_string();
    };
    let Some((op, args)) = tokens.split_first() else {
        return line.to_string();
    };
    if op.starts_with("aten::") {
        return match args.first() {
            Some(shapes) => format!("{op} {}", shlex::try_quote(shapes).unwrap_or_default()),
            None => op.clone(),
        };
    }
    let Ok(pairs) = flag_pairs(args) else {
        return line.to_string();
    };
    let is_default = |flag: &str, value: &str| {
        CONV_DEFAULTS.iter().any(|(flags, default)| flags.contains(&flag) && value == *default)
    };
    let conv = op.starts_with("conv");
    let mut out = vec![op.clone()];
    let mut layouts: Vec<&str> = Vec::new();
    for (flag, value) in &pairs {
        if SHAPE_NEUTRAL_FLAGS.contains(&flag.as_str()) || (conv && is_default(flag, value)) {
            continue;
        }
        if conv && LAYOUT_FLAGS.contains(&flag.as_str()) {
            layouts.push(value);
            continue;
        }
        out.push(flag.clone());
        out.push(value.clone());
    }
    match layouts.split_first() {
        Some((first, rest)) if rest.iter().all(|l| l.eq_ignore_ascii_case(first)) => out.push(first.to_string()),
        Some(_) => out.extend(layouts.iter().map(|l| l.to_string())),
        None => {}
    }
    out.join(" ")
}

/// Splits `--flag value`, `--flag=value` and `-f value` pairs.
fn flag_pairs(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if !arg.starts_with('-') || arg.len() < 2 {
            return Err(format!("unexpected argument `{arg}` (expected a flag)"));
        }
        if let Some((flag, value)) = arg.split_once('=').filter(|_| arg.starts_with("--")) {
            pairs.push((flag.to_string(), value.to_string()));
            i += 1;
            continue;
        }
        let Some(value) = args.get(i + 1) else {
            return Err(format!("flag `{arg}` has no value"));
        };
        pairs.push((arg.clone(), value.clone()));
        i += 2;
    }
    Ok(pairs)
}

fn int_value(flag: &str, value: &str) -> Result<i64, String> {
    value.parse::<i64>().map_err(|_| format!("flag `{flag}` needs an integer, got `{value}`"))
}

/// Flags that do not change the shape (timing, verification, search).
const SHAPE_NEUTRAL_FLAGS: &[&str] =
    &["-t", "--time", "--iter", "-i", "-b", "--bias", "-V", "--verify", "-s", "--search", "-w", "--wall"];

fn parse_conv(command: &str, args: &[String]) -> Result<Op, String> {
    let element_bytes = match command {
        "conv" => 4,
        _ => 2,
    };
    // MIOpenDriver's defaults.
    let mut spatial_dims = 2usize;
    let (mut n, mut c, mut k, mut g, mut forw) = (100i64, 3i64, 32i64, 1i64, 1i64);
    let (mut d, mut h, mut w) = (32i64, 32i64, 32i64);
    let (mut z, mut y, mut x) = (3i64, 3i64, 3i64);
    let (mut pd, mut ph, mut pw) = (0i64, 0i64, 0i64);
    let (mut sd, mut sh, mut sw) = (1i64, 1i64, 1i64);
    let (mut dd, mut dh, mut dw) = (1i64, 1i64, 1i64);
    let mut layouts: Vec<String> = Vec::new();
    for (flag, value) in flag_pairs(args)? {
        let v = || int_value(&flag, &value);
        match flag.as_str() {
            "-_" | "--spatial_dim" => {
                spatial_dims = match v()? {
                    2 => 2,
                    3 => 3,
                    other => return Err(format!("--spatial_dim {other} is not supported (2 or 3)")),
                }
            }
            "-n" | "--batchsize" => n = v()?,
            "-c" | "--in_channels" => c = v()?,
            "-k" | "--out_channels" => k = v()?,
            "-g" | "--group_count" => g = v()?,
            "-F" | "--forw" => forw = v()?,
            "-!" | "--in_d" => d = v()?,
            "-H" | "--in_h" => h = v()?,
            "-W" | "--in_w" => w = v()?,
            "-@" | "--fil_d" => z = v()?,
            "-y" | "--fil_h" => y = v()?,
            "-x" | "--fil_w" => x = v()?,
            "-$" | "--pad_d" => pd = v()?,
            "-p" | "--pad_h" => ph = v()?,
            "-q" | "--pad_w" => pw = v()?,
            "-#" | "--conv_stride_d" => sd = v()?,
            "-u" | "--conv_stride_h" => sh = v()?,
            "-v" | "--conv_stride_w" => sw = v()?,
            "-^" | "--dilation_d" => dd = v()?,
            "-l" | "--dilation_h" => dh = v()?,
            "-j" | "--dilation_w" => dw = v()?,
            "-I" | "--in_layout" | "-O" | "--out_layout" | "-f" | "--fil_layout" => layouts.push(value.clone()),
            "-m" | "--mode" => {
                if value != "conv" {
                    return Err(format!("convolution mode `{value}` is not supported (only `-m conv`)"));
                }
            }
            "-%" | "--trans_output_pad_d" | "-Y" | "--trans_output_pad_h" | "-X" | "--trans_output_pad_w" => {}
            f if SHAPE_NEUTRAL_FLAGS.contains(&f) => {}
            other => return Err(format!("unknown convolution flag `{other}`")),
        }
    }
    let mode = conv_mode(forw)?;
    let channels_last = channels_last(&layouts)?;
    let (input, filter, pad, stride, dilation) = if spatial_dims == 3 {
        (vec![d, h, w], vec![z, y, x], vec![pd, ph, pw], vec![sd, sh, sw], vec![dd, dh, dw])
    } else {
        (vec![h, w], vec![y, x], vec![ph, pw], vec![sh, sw], vec![dh, dw])
    };
    let params =
        ConvParams { mode, n, c, k, input, filter, pad, stride, dilation, groups: g, channels_last, element_bytes };
    check_conv(&params)?;
    Ok(Op::Conv(params))
}

/// MIOpen's `-F`: one direction per line.
fn conv_mode(forw: i64) -> Result<ConvMode, String> {
    match forw {
        1 => Ok(ConvMode::Forward),
        2 => Ok(ConvMode::BackwardData),
        4 => Ok(ConvMode::BackwardWeight),
        other => Err(format!(
            "-F {other} combines several directions; write one line per direction \
             (-F 1 forward, -F 2 backward data, -F 4 backward weight)"
        )),
    }
}

/// Whether the layouts given are channels-last (NCHW when none is given).
fn channels_last(layouts: &[String]) -> Result<bool, String> {
    let mut channels_last = None;
    for l in layouts {
        let cl = match l.to_ascii_uppercase().as_str() {
            "NHWC" | "NDHWC" => true,
            "NCHW" | "NCDHW" => false,
            other => return Err(format!("layout `{other}` is not supported (NHWC or NCHW)")),
        };
        if channels_last.is_some_and(|prev| prev != cl) {
            return Err(format!(
                "mixed layouts ({}) are not supported; use one layout for input, filter and output",
                layouts.join(", ")
            ));
        }
        channels_last = Some(cl);
    }
    Ok(channels_last.unwrap_or(false))
}

/// Sizes that make a convolution: positive, divisible by the groups, and a
/// non-empty output.
fn check_conv(p: &ConvParams) -> Result<(), String> {
    for (name, value) in [("-n", p.n), ("-c", p.c), ("-k", p.k), ("-g", p.groups)] {
        if value <= 0 {
            return Err(format!("{name} must be positive, got {value}"));
        }
    }
    let positive = p.input.iter().chain(&p.filter).chain(&p.stride).chain(&p.dilation).all(|&v| v > 0);
    if !positive || p.pad.iter().any(|&v| v < 0) {
        return Err("spatial sizes, strides and dilations must be positive, pads non-negative".into());
    }
    if p.c % p.groups != 0 || p.k % p.groups != 0 {
        return Err(format!("-c {} and -k {} must both be divisible by -g {}", p.c, p.k, p.groups));
    }
    if p.output_spatial().iter().any(|&o| o <= 0) {
        return Err("the filter is larger than the padded input: empty output".into());
    }
    Ok(())
}

fn parse_gemm(command: &str, args: &[String]) -> Result<Op, String> {
    let element_bytes = if command == "gemm" { 4 } else { 2 };
    // boo's GEMM defaults; `--a_w` is M, `--a_h` is K, `--b_w` is N.
    let (mut m, mut k, mut n) = (256i64, 256i64, 256i64);
    for (flag, value) in flag_pairs(args)? {
        let v = || int_value(&flag, &value);
        match flag.as_str() {
            "--a_w" | "-k" => m = v()?,
            "--a_h" | "-m" => k = v()?,
            "--b_w" | "-n" => n = v()?,
            "--transA" | "-u" | "--transB" | "-v" => {
                v()?;
            }
            "-F" | "--forw" => {
                if v()? != 1 {
                    return Err("only forward GEMMs (-F 1) are supported".into());
                }
            }
            f if SHAPE_NEUTRAL_FLAGS.contains(&f) => {}
            other => return Err(format!("unknown GEMM flag `{other}`")),
        }
    }
    if m <= 0 || n <= 0 || k <= 0 {
        return Err(format!("GEMM sizes must be positive (M={m}, N={n}, K={k})"));
    }
    Ok(Op::Matmul(MatmulParams { batch: 1, m, n, k, element_bytes }))
}

/// `aten::mm "[[M, K], [K, N]]" "['t', 't']" ...`: the first argument gives
/// the operand shapes, the second the element types.
fn parse_aten(command: &str, args: &[String]) -> Result<Op, String> {
    let dims = args.first().ok_or_else(|| format!("{command} needs its operand shapes"))?;
    let shapes = parse_nested_ints(dims)
        .ok_or_else(|| format!("cannot read operand shapes `{dims}` (expected [[M, K], [K, N]])"))?;
    let element_bytes = args.get(1).map(|t| aten_element_bytes(t)).unwrap_or(4);
    let operand = |i: usize, rank: usize| -> Result<&Vec<i64>, String> {
        shapes
            .get(i)
            .filter(|s| s.len() == rank)
            .ok_or_else(|| format!("{command}: operand {i} must have rank {rank} in `{dims}`"))
    };
    // (batch, M, K of A, K of B, N)
    let (batch, m, k, k2, n) = match command {
        "aten::mm" => {
            let (a, b) = (operand(0, 2)?, operand(1, 2)?);
            (1, a[0], a[1], b[0], b[1])
        }
        "aten::addmm" => {
            let (a, b) = (operand(1, 2)?, operand(2, 2)?);
            (1, a[0], a[1], b[0], b[1])
        }
        _ => {
            let (a, b) = (operand(0, 3)?, operand(1, 3)?);
            if a[0] != b[0] {
                return Err(format!("{command}: batch sizes differ in `{dims}`"));
            }
            (a[0], a[1], a[2], b[1], b[2])
        }
    };
    if k != k2 {
        return Err(format!("{command}: inner dimensions differ ({k} vs {k2}) in `{dims}`"));
    }
    if [batch, m, n, k].iter().any(|&v| v <= 0) {
        return Err(format!("{command}: sizes must be positive in `{dims}`"));
    }
    Ok(Op::Matmul(MatmulParams { batch, m, n, k, element_bytes }))
}

fn aten_element_bytes(types: &str) -> i64 {
    if types.contains("BFloat16") || types.contains("Half") {
        2
    } else if types.contains("double") {
        8
    } else {
        4
    }
}

/// Reads `[[1, 2], [3, 4], []]`.
fn parse_nested_ints(text: &str) -> Option<Vec<Vec<i64>>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let body_start = rest.strip_prefix('[')?;
        let end = body_start.find(']')?;
        let body = &body_start[..end];
        let values = body
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()?;
        out.push(values);
        rest = body_start[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

/// `ratio` as the C++ computes it: integer division by a double square root,
/// truncated back to `int64_t`.
fn cpp_ratio(numerator: i64, parallel: i64, divisor: i64) -> i64 {
    ((numerator as f64) / (parallel as f64).sqrt() / divisor as f64) as i64
}

/// Features of an op, exactly as IREE's heuristic computes them.
pub(crate) fn features(op: &Op) -> Features {
    match op {
        Op::Conv(p) => conv_features(p),
        Op::Matmul(p) => matmul_features(p),
    }
}

fn product(values: &[i64]) -> i64 {
    values.iter().product()
}

/// A 1x1 convolution without padding is folded into a contraction and takes
/// the matmul path (backward data only at stride 1: a strided one scatters).
fn folds_to_matmul(p: &ConvParams) -> bool {
    let one_by_one = p.filter.iter().all(|&f| f == 1) && p.pad.iter().all(|&v| v == 0);
    one_by_one && (p.mode != ConvMode::BackwardData || p.stride.iter().all(|&s| s == 1))
}

fn conv_features(p: &ConvParams) -> Features {
    let out_spatial = p.output_spatial();
    let (cg, kg) = (p.c / p.groups, p.k / p.groups);
    let in_img = product(&p.input);
    let out_img = product(&out_spatial);
    let filt = product(&p.filter);
    let flops_macs = match p.mode {
        ConvMode::BackwardData => p.n * in_img * cg * p.groups * filt * kg,
        _ => p.n * out_img * p.k * filt * cg,
    };
    let bytes = (p.n * in_img * p.c + p.k * filt * cg + p.n * out_img * p.k) * p.element_bytes;
    let flops = 2.0 * flops_macs as f64;
    let bytes = bytes as f64;

    if folds_to_matmul(p) {
        let (m_dims, n_size, k_dims): (Vec<i64>, i64, Vec<i64>) = match p.mode {
            ConvMode::Forward => ([vec![p.n], out_spatial.clone()].concat(), kg, vec![cg]),
            ConvMode::BackwardData => ([vec![p.n], p.input.clone()].concat(), cg, vec![kg]),
            ConvMode::BackwardWeight => (vec![kg], cg, [vec![p.n], out_spatial.clone()].concat()),
        };
        return matmul_like(p.groups, product(&m_dims), n_size, k_dims, flops, bytes);
    }

    // Sizes by role, as inferConvolutionDims sees the op IREE lowers it to.
    let (output_channel, batch, image, reduction_dims, batch_first) = match p.mode {
        ConvMode::Forward => {
            let red = if p.channels_last {
                [p.filter.clone(), vec![cg]].concat()
            } else {
                [vec![cg], p.filter.clone()].concat()
            };
            (kg, p.n, out_img, red, true)
        }
        ConvMode::BackwardData => {
            let red = if p.channels_last {
                [p.filter.clone(), vec![kg]].concat()
            } else {
                [vec![kg], p.filter.clone()].concat()
            };
            (cg, p.n, in_img, red, true)
        }
        ConvMode::BackwardWeight => (kg, cg, filt, [vec![p.n], out_spatial.clone()].concat(), false),
    };
    let depth = p.groups;
    let output_size = output_channel * batch * image * depth;
    let reduction_size = product(&reduction_dims);
    let main_distributed = if batch_first { image } else { batch };
    let parallel_size = output_channel * main_distributed;
    let ratio = cpp_ratio(reduction_size, parallel_size, 1);
    let (walk, start_tile_size) = if batch_first {
        (Walk::InnerToOuter, *reduction_dims.last().unwrap())
    } else {
        (Walk::OuterToInner, reduction_dims[0])
    };
    let mut vars = BTreeMap::new();
    for (name, value) in [
        ("outputSize", output_size),
        ("reductionSize", reduction_size),
        ("parallelSize", parallel_size),
        ("ratio", ratio),
        ("outputChannelSize", output_channel),
        ("batchSize", batch),
        ("imageSize", image),
        ("depthSize", depth),
        ("mainDistributedSize", main_distributed),
        ("startTileSize", start_tile_size),
    ] {
        vars.insert(name.to_string(), value);
    }
    Features {
        heuristic: Heuristic::Conv,
        output_size,
        reduction_size,
        reduction_dims,
        walk,
        start_tile_size,
        vars,
        flops,
        bytes,
    }
}

fn matmul_features(p: &MatmulParams) -> Features {
    let flops = 2.0 * (p.batch * p.m * p.n * p.k) as f64;
    let bytes = ((p.m * p.k + p.k * p.n + p.m * p.n) * p.batch * p.element_bytes) as f64;
    matmul_like(p.batch, p.m, p.n, vec![p.k], flops, bytes)
}

fn matmul_like(batch: i64, m: i64, n: i64, k_dims: Vec<i64>, flops: f64, bytes: f64) -> Features {
    let k = product(&k_dims);
    let output_size = m * n * batch;
    let ratio = cpp_ratio(k, m * n, batch);
    let start_tile_size = k_dims[0];
    let mut vars = BTreeMap::new();
    for (name, value) in [
        ("outputSize", output_size),
        ("reductionSize", k),
        ("kSize", k),
        ("mSize", m),
        ("nSize", n),
        ("batchSize", batch),
        ("ratio", ratio),
        ("startTileSize", start_tile_size),
    ] {
        vars.insert(name.to_string(), value);
    }
    Features {
        heuristic: Heuristic::Matmul,
        output_size,
        reduction_size: k,
        reduction_dims: k_dims,
        walk: Walk::OuterToInner,
        start_tile_size,
        vars,
        flops,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(cmd: &str) -> Features {
        features(&parse_command(cmd).unwrap())
    }

    // The BRIEF's pinned example: weight backward, batch-last.
    #[test]
    fn weight_backward_conv_features() {
        let f = feat("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        assert_eq!(f.heuristic, Heuristic::Conv);
        // outputSize = K*Y*X*Cg, reductionSize = N*Ho*Wo, parallelSize = Kg*Cg.
        assert_eq!(f.output_size, 64 * 3 * 3 * 16);
        assert_eq!(f.reduction_size, 16 * 225 * 225);
        assert_eq!(f.vars["parallelSize"], 64 * 16);
        assert_eq!(f.reduction_dims, vec![16, 225, 225]);
        assert_eq!(f.walk, Walk::OuterToInner);
        assert_eq!(f.start_tile_size, 16);
        // 810000 / sqrt(1024) = 25312.5, truncated.
        assert_eq!(f.vars["ratio"], 25312);
    }

    #[test]
    fn strided_weight_backward_uses_output_spatial() {
        // Ho = floor((56 + 2 - 2 - 1)/2) + 1 = 28.
        let f = feat("convbfp16 -n 16 -c 128 -H 56 -W 56 -k 128 -y 3 -x 3 -p 1 -q 1 -u 2 -v 2 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        assert_eq!(f.output_size, 128 * 3 * 3 * 128);
        assert_eq!(f.reduction_size, 16 * 28 * 28);
        assert_eq!(f.reduction_dims, vec![16, 28, 28]);
    }

    #[test]
    fn forward_conv_features() {
        // 7x7 stride 2 pad 3 on 224: Ho = floor((224 + 6 - 6 - 1)/2) + 1 = 112.
        let f = feat("convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -F 1 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        assert_eq!(f.output_size, 16 * 112 * 112 * 64);
        assert_eq!(f.reduction_size, 7 * 7 * 3);
        assert_eq!(f.vars["parallelSize"], 64 * 112 * 112);
        assert_eq!(f.reduction_dims, vec![7, 7, 3]);
        assert_eq!(f.walk, Walk::InnerToOuter);
        assert_eq!(f.start_tile_size, 3);
    }

    #[test]
    fn backward_data_conv_features() {
        let f = feat("convbfp16 -n 16 -c 64 -H 56 -W 56 -k 128 -y 3 -x 3 -p 1 -q 1 -F 2 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        // outputSize = N*H*W*C, reductionSize = Y*X*Kg, parallelSize = Cg*H*W.
        assert_eq!(f.output_size, 16 * 56 * 56 * 64);
        assert_eq!(f.reduction_size, 3 * 3 * 128);
        assert_eq!(f.vars["parallelSize"], 64 * 56 * 56);
        assert_eq!(f.start_tile_size, 128);
    }

    #[test]
    fn grouped_conv_divides_channels() {
        let f = feat("convbfp16 -n 8 -c 64 -H 32 -W 32 -k 128 -y 3 -x 3 -p 1 -q 1 -g 4 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        // Cg = 16, Kg = 32; outputSize = K*Y*X*Cg.
        assert_eq!(f.output_size, 128 * 9 * 16);
        assert_eq!(f.vars["parallelSize"], 32 * 16);
        assert_eq!(f.reduction_size, 8 * 32 * 32);
    }

    #[test]
    fn nchw_forward_walks_filter_last() {
        let f = feat("convbfp16 -n 2 -c 8 -H 16 -W 16 -k 4 -y 3 -x 5 -F 1");
        assert_eq!(f.reduction_dims, vec![8, 3, 5]);
        assert_eq!(f.start_tile_size, 5);
    }

    #[test]
    fn one_by_one_convs_take_the_matmul_path() {
        let f = feat("convbfp16 -n 16 -c 256 -H 56 -W 56 -k 64 -y 1 -x 1 -p 0 -q 0 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        assert_eq!(f.heuristic, Heuristic::Matmul);
        // M*N = Kg*Cg, K = N*Ho*Wo.
        assert_eq!(f.output_size, 64 * 256);
        assert_eq!(f.reduction_size, 16 * 56 * 56);
        assert_eq!(f.reduction_dims, vec![16, 56, 56]);
        // K / sqrt(M*N) = 50176 / 128 = 392.
        assert_eq!(f.vars["ratio"], 392);

        let f = feat("convbfp16 -n 16 -c 256 -H 56 -W 56 -k 512 -y 1 -x 1 -u 2 -v 2 -F 1 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
        assert_eq!(f.heuristic, Heuristic::Matmul);
        // M = N*Ho*Wo, N = Kg, K = Cg.
        assert_eq!(f.vars["mSize"], 16 * 28 * 28);
        assert_eq!(f.vars["nSize"], 512);
        assert_eq!(f.reduction_size, 256);
    }

    #[test]
    fn gemm_features() {
        let f = feat("gemmfp16 --a_w 768 --a_h 16384 --b_w 3072 -t 1 --iter 100");
        assert_eq!(f.heuristic, Heuristic::Matmul);
        assert_eq!(f.output_size, 768 * 3072);
        assert_eq!(f.reduction_size, 16384);
        // 16384 / sqrt(768*3072) = 16384 / 1536 = 10.67 -> 10.
        assert_eq!(f.vars["ratio"], 10);
        assert_eq!(f.vars["mSize"], 768);
        assert_eq!(f.vars["nSize"], 3072);
    }

    #[test]
    fn aten_mm_and_bmm() {
        let f = feat(r#"aten::mm "[[64, 65536], [65536, 32]]" "['c10::BFloat16', 'c10::BFloat16']""#);
        assert_eq!(f.output_size, 64 * 32);
        assert_eq!(f.reduction_size, 65536);
        let f = feat(r#"aten::bmm "[[4, 64, 8192], [4, 8192, 16]]" "['float', 'float']""#);
        assert_eq!(f.output_size, 4 * 64 * 16);
        assert_eq!(f.vars["batchSize"], 4);
        // 8192 / sqrt(1024) / 4 = 64.
        assert_eq!(f.vars["ratio"], 64);
    }

    #[test]
    fn short_commands_keep_what_makes_the_shape() {
        let conv = "convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC";
        assert_eq!(
            short_command(conv),
            "convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -F 4 NHWC"
        );
        // Defaults dropped, the rest kept: the short form parses to the
        // same shape.
        let short = short_command(conv).replace(" NHWC", " --in_layout NHWC");
        assert_eq!(feat(&short), feat(conv));
        let unit = "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 1 -x 1 -p 0 -q 0 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC";
        assert_eq!(short_command(unit), "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 1 -x 1 -F 4 NHWC");
        assert_eq!(short_command("convbfp16 -n 2 -c 8 -g 2 -F 1"), "convbfp16 -n 2 -c 8 -g 2 -F 1");
        assert_eq!(
            short_command("gemmfp16 --a_w 768 --a_h 16384 --b_w 768 -t 1 --iter 100"),
            "gemmfp16 --a_w 768 --a_h 16384 --b_w 768"
        );
        assert_eq!(
            short_command(r#"aten::mm "[[64, 65536], [65536, 32]]" "['c10::BFloat16', 'c10::BFloat16']""#),
            "aten::mm '[[64, 65536], [65536, 32]]'"
        );
        assert_eq!(short_command("convbfp16 -n"), "convbfp16 -n");
    }

    #[test]
    fn bad_lines_say_why() {
        let (shapes, bad) = parse_commands(
            "# comment\n\nconvbfp16 -n 16 -c 3 -F 4\nlayernorm -n 3\nconvbfp16 -n x\nconvbfp16 -c 6 -k 4 -g 4\n",
        );
        assert_eq!(shapes.len(), 1);
        assert_eq!(shapes[0].line, 3);
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![4, 5, 6]);
        assert!(bad[0].error.contains("unsupported op `layernorm`"), "{}", bad[0].error);
        assert!(bad[1].error.contains("-n"), "{}", bad[1].error);
        assert!(bad[2].error.contains("divisible"), "{}", bad[2].error);
        assert!(parse_command("convbfp16 -F 3").unwrap_err().contains("one line per direction"));
    }
}
