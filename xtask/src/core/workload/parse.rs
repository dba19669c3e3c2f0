//! One benchmark command line to an [`Op`], as iree-boo-driver reads it.
//!
//! Convolutions take MIOpen's flags (short and long) with boo's defaults:
//! one to three spatial dims (`--spatial_dim`, or the layouts' length), any
//! order of N, C and the spatial letters in each of `--in_layout`,
//! `--fil_layout` and `--out_layout` (mixed layouts included), groups, and
//! the three directions. GEMMs take boo's GEMM flags (all three modes).
//! `aten::` lines take the operand shapes of a profiler trace. Sizes are
//! checked the way the compiler will compute with them: every tensor's
//! element count must fit `int64_t`, and an error names the flags whose
//! sizes overflow. Dynamic sizes are refused by name: the heuristic never
//! splits an op with one, and the benchmark needs numbers.

use super::{default_layout, ConvMode, ConvParams, MatmulParams, Op};
use std::collections::BTreeMap;

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
        "aten::mm" | "aten::bmm" | "aten::addmm" | "aten::baddbmm" | "aten::matmul" | "aten::linear" => {
            parse_aten(first, &tokens[1..])
        }
        other => Err(format!(
            "unsupported op `{other}`: the split-reduction heuristics see convolutions \
             (conv, convfp16, convbfp16), GEMMs (gemm, gemmfp16, gemmbfp16) and \
             aten::mm/bmm/addmm/baddbmm/matmul/linear; remove the line or pass --skip-bad-lines"
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

fn dynamic(what: &str) -> String {
    format!(
        "{what} is a dynamic size: the split-reduction heuristic never splits an op with a dynamic dim, \
         and the benchmark needs every size as a number; write the size the op runs with"
    )
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
    if value == "?" || value == "-1" {
        return Err(dynamic(&format!("`{flag} {value}`")));
    }
    value.parse::<i64>().map_err(|_| format!("flag `{flag}` needs an integer, got `{value}`"))
}

/// Flags that do not change the shape (timing, verification, search).
const SHAPE_NEUTRAL_FLAGS: &[&str] =
    &["-t", "--time", "--iter", "-i", "-b", "--bias", "-V", "--verify", "-s", "--search", "-w", "--wall"];

/// MIOpen's integer convolution flags: short form, long form, boo's default.
const CONV_FLAGS: &[(&str, &str, i64)] = &[
    ("-_", "--spatial_dim", 2),
    ("-n", "--batchsize", 100),
    ("-c", "--in_channels", 3),
    ("-k", "--out_channels", 32),
    ("-g", "--group_count", 1),
    ("-F", "--forw", 1),
    ("-!", "--in_d", 32),
    ("-H", "--in_h", 32),
    ("-W", "--in_w", 32),
    ("-@", "--fil_d", 3),
    ("-y", "--fil_h", 3),
    ("-x", "--fil_w", 3),
    ("-$", "--pad_d", 0),
    ("-p", "--pad_h", 0),
    ("-q", "--pad_w", 0),
    ("-#", "--conv_stride_d", 1),
    ("-u", "--conv_stride_h", 1),
    ("-v", "--conv_stride_w", 1),
    ("-^", "--dilation_d", 1),
    ("-l", "--dilation_h", 1),
    ("-j", "--dilation_w", 1),
];

/// Per spatial letter, the short flags of its input size, filter size, pad,
/// stride and dilation.
const SPATIAL_FLAGS: [(char, [&str; 5]); 3] = [
    ('D', ["-!", "-@", "-$", "-#", "-^"]),
    ('H', ["-H", "-y", "-p", "-u", "-l"]),
    ('W', ["-W", "-x", "-q", "-v", "-j"]),
];

/// A convolution command's flags: values by short flag, and how each given
/// one was written (for messages).
struct ConvFlags {
    values: BTreeMap<&'static str, i64>,
    written: BTreeMap<&'static str, String>,
    /// Input, filter, output layouts as given.
    layouts: [Option<String>; 3],
}

impl ConvFlags {
    fn get(&self, short: &str) -> i64 {
        self.values[short]
    }

    /// A size with the flag it came from, for overflow messages.
    fn sized(&self, short: &'static str) -> (String, i64) {
        let text = self.written.get(short).cloned().unwrap_or_else(|| format!("{short} {} (default)", self.get(short)));
        (text, self.get(short))
    }
}

fn conv_flags(args: &[String]) -> Result<ConvFlags, String> {
    let mut values: BTreeMap<&'static str, i64> = CONV_FLAGS.iter().map(|(s, _, d)| (*s, *d)).collect();
    let mut written = BTreeMap::new();
    let mut layouts: [Option<String>; 3] = Default::default();
    for (flag, value) in flag_pairs(args)? {
        if let Some((short, _, _)) = CONV_FLAGS.iter().find(|(s, l, _)| flag == *s || flag == *l) {
            values.insert(short, int_value(&flag, &value)?);
            written.insert(*short, format!("{flag} {value}"));
            continue;
        }
        match flag.as_str() {
            "-I" | "--in_layout" => layouts[0] = Some(value),
            "-f" | "--fil_layout" => layouts[1] = Some(value),
            "-O" | "--out_layout" => layouts[2] = Some(value),
            "-m" | "--mode" if value != "conv" => {
                return Err(format!("convolution mode `{value}` is not supported (only `-m conv`)"))
            }
            "-m" | "--mode" => {}
            "-%" | "--trans_output_pad_d" | "-Y" | "--trans_output_pad_h" | "-X" | "--trans_output_pad_w" => {}
            f if SHAPE_NEUTRAL_FLAGS.contains(&f) => {}
            other => return Err(format!("unknown convolution flag `{other}`")),
        }
    }
    Ok(ConvFlags { values, written, layouts })
}

/// The number of spatial dims: the layouts' length when given (they must
/// agree), else `--spatial_dim`.
fn conv_rank(flags: &ConvFlags) -> Result<usize, String> {
    let given: Vec<&String> = flags.layouts.iter().flatten().collect();
    if let Some(first) = given.first() {
        if given.iter().any(|l| l.len() != first.len()) {
            return Err(format!(
                "layouts {} have different ranks; give every layout the same number of dims",
                given.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        return match first.len() {
            3..=5 => Ok(first.len() - 2),
            _ => Err(format!("layout `{first}` has {} letters; 1-D to 3-D layouts have 3 to 5", first.len())),
        };
    }
    match flags.get("-_") {
        r @ 1..=3 => Ok(r as usize),
        other => Err(format!("--spatial_dim {other} is not supported (1, 2 or 3)")),
    }
}

/// The spatial letters of a rank, outermost first (1-D convolutions use H).
fn spatial_letters(rank: usize) -> &'static str {
    match rank {
        1 => "H",
        2 => "HW",
        _ => "DHW",
    }
}

/// A layout must be an order of N, C and the spatial letters of its rank.
fn check_layout(layout: &str, rank: usize) -> Result<String, String> {
    let upper = layout.to_ascii_uppercase();
    let mut expected: Vec<char> = format!("NC{}", spatial_letters(rank)).chars().collect();
    let mut got: Vec<char> = upper.chars().collect();
    expected.sort();
    got.sort();
    if got != expected {
        return Err(format!(
            "layout `{layout}` is not an order of the letters {} ({rank} spatial dim(s): N, C and {})",
            expected.iter().collect::<String>(),
            spatial_letters(rank)
        ));
    }
    Ok(upper)
}

fn parse_conv(command: &str, args: &[String]) -> Result<Op, String> {
    let flags = conv_flags(args)?;
    let rank = conv_rank(&flags)?;
    let letters: Vec<char> = spatial_letters(rank).chars().collect();
    let spatial = |which: usize| -> Vec<i64> {
        letters.iter().map(|l| flags.get(SPATIAL_FLAGS.iter().find(|(c, _)| c == l).unwrap().1[which])).collect()
    };
    let layout = flags
        .layouts
        .iter()
        .map(|l| check_layout(l.as_deref().unwrap_or(default_layout(rank)), rank))
        .collect::<Result<Vec<_>, _>>()?;
    let params = ConvParams {
        mode: conv_mode(flags.get("-F"))?,
        n: flags.get("-n"),
        c: flags.get("-c"),
        k: flags.get("-k"),
        input: spatial(0),
        filter: spatial(1),
        pad: spatial(2),
        stride: spatial(3),
        dilation: spatial(4),
        groups: flags.get("-g"),
        channels_last: layout[0].ends_with('C'),
        element_bytes: if command == "conv" { 4 } else { 2 },
        layout: [layout[0].clone(), layout[1].clone(), layout[2].clone()],
    };
    check_conv(&params, &flags, &letters)?;
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

/// The product of sizes, each with the flag it came from; an overflow of
/// `int64_t` names them.
fn checked_product(what: &str, factors: &[(String, i64)]) -> Result<i64, String> {
    factors.iter().try_fold(1i64, |acc, (_, v)| acc.checked_mul(*v)).ok_or_else(|| {
        format!(
            "the {what} ({}) has more elements than int64_t holds, the type IREE's heuristic computes \
             sizes in; use smaller sizes",
            factors.iter().map(|(f, _)| format!("`{f}`")).collect::<Vec<_>>().join(" x ")
        )
    })
}

/// Sizes that make a convolution: positive, divisible by the groups, a
/// non-empty output, tensors whose sizes fit `int64_t`.
fn check_conv(p: &ConvParams, flags: &ConvFlags, letters: &[char]) -> Result<(), String> {
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
    let flag_of = |l: char, which: usize| SPATIAL_FLAGS.iter().find(|(c, _)| *c == l).unwrap().1[which];
    let mut input = vec![flags.sized("-n"), flags.sized("-c")];
    let mut filter = vec![flags.sized("-k"), flags.sized("-c")];
    let mut output = vec![flags.sized("-n"), flags.sized("-k")];
    for (i, &l) in letters.iter().enumerate() {
        let [h, y, pad, u, d] = [0, 1, 2, 3, 4].map(|w| flags.sized(flag_of(l, w)));
        let reach = d.1.checked_mul(y.1 - 1).and_then(|r| r.checked_add(1));
        let padded = p.input[i].checked_add(p.pad[i]).and_then(|v| v.checked_add(p.pad[i]));
        // Backward data convolves an output gradient padded to H + L(Y-1).
        let gradient = reach.and_then(|r| p.input[i].checked_add(r - 1));
        let out = match (padded, reach, gradient) {
            (Some(a), Some(b), Some(_)) if a >= b => (a - b) / u.1 + 1,
            (Some(_), Some(_), Some(_)) => {
                return Err("the filter is larger than the padded input: empty output".into())
            }
            _ => {
                return Err(format!(
                    "`{}`, `{}`, `{}` and `{}` overflow int64_t when the output size is computed; use smaller sizes",
                    h.0, y.0, pad.0, d.0
                ))
            }
        };
        if p.mode == ConvMode::BackwardData && reach.is_some_and(|r| r - 1 < p.pad[i]) {
            return Err(format!(
                "boo cannot run backward data with `{}` larger than the filter's reach (dilation x (filter - 1), `{}`)",
                pad.0, y.0
            ));
        }
        input.push(h);
        filter.push(y);
        output.push((format!("{} (output)", u.0), out));
    }
    checked_product("input tensor", &input)?;
    checked_product("filter tensor", &filter)?;
    checked_product("output tensor", &output)?;
    Ok(())
}

fn parse_gemm(command: &str, args: &[String]) -> Result<Op, String> {
    let element_bytes = if command == "gemm" { 4 } else { 2 };
    // boo's GEMM defaults; `--a_w` is M, `--a_h` is K, `--b_w` is N.
    let mut sizes = [("--a_w 256".to_string(), 256i64), ("--a_h 256".to_string(), 256), ("--b_w 256".to_string(), 256)];
    let mut mode = 1;
    for (flag, value) in flag_pairs(args)? {
        let v = || int_value(&flag, &value);
        let slot = match flag.as_str() {
            "--a_w" | "-k" => Some(0),
            "--a_h" | "-m" => Some(1),
            "--b_w" | "-n" => Some(2),
            _ => None,
        };
        match (slot, flag.as_str()) {
            (Some(i), _) => sizes[i] = (format!("{flag} {value}"), v()?),
            (None, "--transA" | "-u" | "--transB" | "-v") => {
                v()?;
            }
            (None, "-F" | "--forw") => mode = v()?,
            (None, f) if SHAPE_NEUTRAL_FLAGS.contains(&f) => {}
            (None, other) => return Err(format!("unknown GEMM flag `{other}`")),
        }
    }
    let [(_, m), (_, k), (_, n)] = sizes.clone();
    if m <= 0 || n <= 0 || k <= 0 {
        return Err(format!("GEMM sizes must be positive (M={m}, N={n}, K={k})"));
    }
    let [a, kk, b] = sizes;
    checked_product("A operand", &[a.clone(), kk.clone()])?;
    checked_product("B operand", &[kk, b.clone()])?;
    checked_product("output", &[a, b])?;
    // -F 2 is dA = dC * B^T (output M x K, reduction N); -F 3 is
    // dB = A^T * dC (output K x N, reduction M).
    let (m, n, k) = match mode {
        1 => (m, n, k),
        2 => (m, k, n),
        3 => (k, n, m),
        other => return Err(format!("GEMM mode -F {other} is not one of 1 (forward), 2 (dA), 3 (dB)")),
    };
    Ok(Op::Matmul(MatmulParams { batch: 1, m, n, k, element_bytes }))
}

/// `aten::mm "[[M, K], [K, N]]" "['t', 't']" ...`: the first argument gives
/// the operand shapes, the second the element types.
fn parse_aten(command: &str, args: &[String]) -> Result<Op, String> {
    let dims = args.first().ok_or_else(|| format!("{command} needs its operand shapes"))?;
    let shapes = parse_nested_ints(dims).map_err(|e| match e {
        NestedError::Dynamic(d) => dynamic(&format!("`{d}` in `{dims}`")),
        NestedError::Syntax => format!("cannot read operand shapes `{dims}` (expected [[M, K], [K, N]])"),
    })?;
    let element_bytes = args.get(1).map(|t| aten_element_bytes(t)).unwrap_or(4);
    let operand = |i: usize, ranks: &[usize]| -> Result<&Vec<i64>, String> {
        shapes.get(i).filter(|s| ranks.contains(&s.len())).ok_or_else(|| {
            format!(
                "{command}: operand {i} must have rank {} in `{dims}`",
                ranks.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" or ")
            )
        })
    };
    // (batch, M, K of A, K of B, N)
    let (batch, m, k, k2, n) = match command {
        "aten::mm" => {
            let (a, b) = (operand(0, &[2])?, operand(1, &[2])?);
            (1, a[0], a[1], b[0], b[1])
        }
        "aten::addmm" => {
            let (a, b) = (operand(1, &[2])?, operand(2, &[2])?);
            (1, a[0], a[1], b[0], b[1])
        }
        "aten::bmm" | "aten::baddbmm" => {
            let first = usize::from(command == "aten::baddbmm");
            let (a, b) = (operand(first, &[3])?, operand(first + 1, &[3])?);
            if a[0] != b[0] {
                return Err(format!("{command}: batch sizes differ in `{dims}`"));
            }
            (a[0], a[1], a[2], b[1], b[2])
        }
        "aten::linear" => {
            // x [..., K] times weight [N, K] transposed; leading dims of x
            // flatten into M, as torch does.
            let (a, w) = (operand(0, &[2, 3])?, operand(1, &[2])?);
            let rows =
                checked_product("input", &a[..a.len() - 1].iter().map(|&d| (d.to_string(), d)).collect::<Vec<_>>())?;
            (1, rows, a[a.len() - 1], w[1], w[0])
        }
        _ => matmul_operands(command, dims, operand(0, &[2, 3])?, operand(1, &[2, 3])?)?,
    };
    if k != k2 {
        return Err(format!("{command}: inner dimensions differ ({k} vs {k2}) in `{dims}`"));
    }
    if [batch, m, n, k].iter().any(|&v| v <= 0) {
        return Err(format!("{command}: sizes must be positive in `{dims}`"));
    }
    for (what, sizes) in
        [("A operand", vec![batch, m, k]), ("B operand", vec![batch, k, n]), ("output", vec![batch, m, n])]
    {
        checked_product(what, &sizes.iter().map(|&d| (d.to_string(), d)).collect::<Vec<_>>())?;
    }
    Ok(Op::Matmul(MatmulParams { batch, m, n, k, element_bytes }))
}

/// `aten::matmul` of rank-2 or rank-3 operands: a 3-D times a 2-D operand
/// flattens its batch into M (torch folds it), two 3-D ones are a batch
/// matmul.
fn matmul_operands(command: &str, dims: &str, a: &[i64], b: &[i64]) -> Result<(i64, i64, i64, i64, i64), String> {
    match (a.len(), b.len()) {
        (2, 2) => Ok((1, a[0], a[1], b[0], b[1])),
        (3, 2) => {
            let rows = a[0].checked_mul(a[1]).ok_or_else(|| format!("{command}: `{dims}` overflows int64_t"))?;
            Ok((1, rows, a[2], b[0], b[1]))
        }
        (3, 3) if a[0] == b[0] => Ok((a[0], a[1], a[2], b[1], b[2])),
        (3, 3) => Err(format!("{command}: batch sizes differ in `{dims}`")),
        _ => Err(format!("{command}: operands of ranks {} and {} are not supported in `{dims}`", a.len(), b.len())),
    }
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

enum NestedError {
    Syntax,
    /// A size that is not a number: `-1`, `?`, or a symbol such as `s0`.
    Dynamic(String),
}

/// Reads `[[1, 2], [3, 4], []]`.
fn parse_nested_ints(text: &str) -> Result<Vec<Vec<i64>>, NestedError> {
    let inner = text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or(NestedError::Syntax)?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let body_start = rest.strip_prefix('[').ok_or(NestedError::Syntax)?;
        let end = body_start.find(']').ok_or(NestedError::Syntax)?;
        let body = &body_start[..end];
        let values = body
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<i64>() {
                Ok(-1) => Err(NestedError::Dynamic(s.to_string())),
                Ok(v) => Ok(v),
                Err(_) if s == "?" || s.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                    Err(NestedError::Dynamic(s.to_string()))
                }
                Err(_) => Err(NestedError::Syntax),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(values);
        rest = body_start[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}
