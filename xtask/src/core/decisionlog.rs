//! The probe build's decision log, checked against the tuner's predictions.
//! Each tuned heuristic of a probe build appends one line per decision that
//! reaches its ladder (heuristic, output and reduction sizes, limit, the
//! function's integer locals; see
//! [`crate::core::cpp::patch::LoggedDecision`]). Here those lines are read
//! and compared with what the tuner's model predicted for the shapes the
//! benchmark compiled: the same limit where it predicted the ladder, no
//! line where it predicted an early return. A difference means the model
//! (or the feature parsing) and the compiler disagree, so the measurement
//! may not be of the split the analysis assumes.
//!
//! It also owns the features the compiler computed ([`features`]): each
//! shape compiled by a process of its own, with the early returns off, so
//! every line of that process's log is that shape's, whatever the
//! benchmark named its kernel. Where the compiler's sizes or integer
//! locals differ from the parsed ones they replace them ([`replace`]),
//! and where a condition reads them the shape's predicted splits are in
//! doubt ([`FeatureLog::doubtful`]); a shape whose ladder the
//! compiler never reached, or that it decided as several ops, is reported
//! and keeps its parsed features. Pure: text, features and predictions
//! in, findings out; reading the files and running the processes is the
//! caller's.

use crate::core::cpp::patch::LoggedDecision;
use crate::core::decide::tile_sizes;
use crate::core::workload::{Features, Walk};
use std::collections::{BTreeMap, BTreeSet};

/// What the model predicted for one benchmarked shape.
pub(crate) struct Expected<'a> {
    /// The shape's index in the results.
    pub(crate) shape: usize,
    pub(crate) command: &'a str,
    pub(crate) heuristic: &'a str,
    pub(crate) output_size: i64,
    pub(crate) reduction_size: i64,
    /// The ladder's limit; `None`: no split (an early return, or a tile
    /// walk that finds no factor after the ladder).
    pub(crate) limit: Option<i64>,
    /// The reduction dims and their walk: whether a logged limit splits.
    pub(crate) reduction_dims: &'a [i64],
    pub(crate) walk: Walk,
}

/// The comparison's findings.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LogCheck {
    /// Shapes compared.
    pub(crate) checked: usize,
    /// One sentence per shape the compiler decided otherwise, and per
    /// logged decision no benchmarked shape accounts for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) differ: Vec<String>,
    /// The shapes the compiler decided otherwise: no other candidate may
    /// share this one's measurement of them on the strength of a predicted
    /// split, since the prediction was wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) shapes: Vec<usize>,
    /// Lines that are not decisions (a truncated write, say).
    #[serde(default)]
    pub(crate) unreadable: usize,
}

/// The decisions in a log's text, and how many lines were not one.
pub(crate) fn parse(text: &str) -> (Vec<LoggedDecision>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(d) => out.push(d),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// Compares `logged` (every process of one benchmark) with `expected` (the
/// shapes it compiled), for the heuristics in `logging` (those whose probe
/// code logs).
pub(crate) fn check(logged: &[LoggedDecision], expected: &[Expected], logging: &[&str]) -> LogCheck {
    let mut limits: BTreeMap<(String, i64, i64), BTreeSet<i64>> = BTreeMap::new();
    for d in logged {
        limits.entry((d.heuristic.clone(), d.output_size, d.reduction_size)).or_default().insert(d.limit);
    }
    let key = |e: &Expected<'_>| -> (String, i64, i64) { (e.heuristic.to_string(), e.output_size, e.reduction_size) };
    let expected: Vec<&Expected> = expected.iter().filter(|e| logging.contains(&e.heuristic)).collect();
    // A size some shape predicts the ladder for: another shape of the same
    // sizes predicted to return early cannot be told apart by the log.
    let reaching: BTreeSet<(String, i64, i64)> =
        expected.iter().filter(|e| e.limit.is_some()).map(|e| key(e)).collect();
    let mut out = LogCheck { checked: expected.len(), ..LogCheck::default() };
    // A line without a reduction size (the code had none in scope) stands
    // for every reduction size of its output size.
    let lookup =
        |h: &str, o: i64, r: i64| limits.get(&(h.to_string(), o, r)).or_else(|| limits.get(&(h.to_string(), o, -1)));
    for e in &expected {
        let got = lookup(e.heuristic, e.output_size, e.reduction_size);
        let finding = match (e.limit, got) {
            (Some(l), Some(set)) if set.len() == 1 && set.contains(&l) => None,
            (Some(l), Some(set)) => {
                Some(format!("`{}`: the compiler chose limit {}, the tuner predicted {l}", e.command, words(set)))
            }
            (Some(l), None) => Some(format!(
                "`{}`: the compiler never reached the {} ladder (an early return), the tuner predicted limit {l}",
                e.command, e.heuristic
            )),
            // A ladder reached whose limit the tile walk then cannot use
            // is no split either; one it can use is a split not predicted.
            (None, Some(set))
                if !reaching.contains(&key(e))
                    && set.iter().any(|&l| tile_sizes(e.reduction_dims, l, e.walk).is_some()) =>
            {
                Some(format!(
                    "`{}`: the compiler reached the {} ladder (limit {}) and splits, the tuner predicted no split",
                    e.command,
                    e.heuristic,
                    words(set)
                ))
            }
            (None, _) => None,
        };
        if let Some(f) = finding {
            out.shapes.push(e.shape);
            out.differ.push(f);
        }
    }
    out.differ.extend(unaccounted(&limits, &expected, logging));
    out
}

/// Limits as a list: `8`, `8 and 16`.
fn words(set: &BTreeSet<i64>) -> String {
    set.iter().map(i64::to_string).collect::<Vec<_>>().join(" and ")
}

/// Logged decisions for sizes no expected shape has (as the tuner reads
/// them): the compiler computes the sizes otherwise than the tuner does.
fn unaccounted(
    limits: &BTreeMap<(String, i64, i64), BTreeSet<i64>>,
    expected: &[&Expected],
    logging: &[&str],
) -> Vec<String> {
    let known: BTreeSet<(&str, i64, i64)> =
        expected.iter().map(|e| (e.heuristic, e.output_size, e.reduction_size)).collect();
    let known_output: BTreeSet<(&str, i64)> = expected.iter().map(|e| (e.heuristic, e.output_size)).collect();
    let mut out = Vec::new();
    for ((h, o, r), set) in limits {
        // A line without a reduction size is accounted for by its output.
        let accounted =
            if *r == -1 { known_output.contains(&(h.as_str(), *o)) } else { known.contains(&(h.as_str(), *o, *r)) };
        if logging.contains(&h.as_str()) && !accounted {
            out.push(format!(
                "the compiler decided {h} for outputSize {o}, reductionSize {r} (limit {}), sizes no benchmarked \
                 shape has as the tuner reads it",
                words(set)
            ));
        }
    }
    out
}

/// One line for the sweep's output.
pub(crate) fn summary(candidate: &str, c: &LogCheck) -> String {
    let mut out = if c.differ.is_empty() {
        format!("{candidate}: the compiler's logged decisions match the predictions on all {} shapes", c.checked)
    } else {
        format!(
            "{candidate}: the compiler's logged decisions differ from the predictions ({} finding(s) over {} shapes)",
            c.differ.len(),
            c.checked
        )
    };
    if !c.shapes.is_empty() {
        out.push_str("; no candidate shares this one's measurement of those shapes (each measures its own)");
    }
    if c.unreadable > 0 {
        out.push_str(&format!("; {} log line(s) unreadable", c.unreadable));
    }
    for d in c.differ.iter().take(5) {
        out.push_str(&format!("\n  {d}"));
    }
    out
}

/// One shape as the tuner parsed it, for [`features`].
pub(crate) struct Parsed<'a> {
    pub(crate) shape: usize,
    pub(crate) command: &'a str,
    pub(crate) features: &'a Features,
    /// Whether the tuner predicts that, with the early returns off, the
    /// shape reaches a logging heuristic's ladder (a candidate's decision
    /// for it has a limit).
    pub(crate) reaches: bool,
}

/// The compiler's features of one shape where they differ from the parsed
/// ones, which they replaced in `results.json`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Replaced {
    pub(crate) shape: usize,
    pub(crate) command: String,
    pub(crate) heuristic: String,
    /// `[outputSize, reductionSize]` as the tuner parsed them.
    pub(crate) parsed: [i64; 2],
    /// As the compiler logged them (`reductionSize` -1: not in scope, the
    /// parsed one kept).
    pub(crate) logged: [i64; 2],
    /// The other quantities the C++ reads that differ: parsed, then logged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) vars: BTreeMap<String, [i64; 2]>,
    /// Whether the heuristic's early returns or ladder read any of the
    /// quantities that differ (the sizes always count): else the predicted
    /// splits do not rest on them.
    #[serde(default = "yes")]
    pub(crate) decisive: bool,
}

fn yes() -> bool {
    true
}

impl Replaced {
    /// `matmul outputSize 4096, reductionSize 65600 (parsed: 4096, 65536)`.
    pub(crate) fn describe(&self) -> String {
        let reduction = match self.logged[1] {
            -1 => "reductionSize not logged".to_string(),
            r => format!("reductionSize {r}"),
        };
        let mut out = format!(
            "{} outputSize {}, {reduction} (parsed: {}, {})",
            self.heuristic, self.logged[0], self.parsed[0], self.parsed[1]
        );
        let sizes = ["outputSize", "reductionSize"];
        for (name, [parsed, logged]) in self.vars.iter().filter(|(n, _)| !sizes.contains(&n.as_str())) {
            out.push_str(&format!("; {name} {logged} (parsed: {parsed})"));
        }
        if !self.decisive {
            out.push_str("; the heuristic's conditions read none of these");
        }
        out
    }
}

/// What the compiler's own features said of a run's shapes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FeatureLog {
    /// Shapes compiled (one process each).
    pub(crate) shapes: usize,
    /// Shapes whose parsed features the compiler confirmed.
    pub(crate) confirmed: usize,
    /// Shapes no tuned ladder takes, as the tuner predicts (nothing to
    /// compare).
    #[serde(default)]
    pub(crate) untuned: usize,
    /// Shapes whose parsed features the compiler's replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) replaced: Vec<Replaced>,
    /// Shapes the tuner predicts reach a ladder the compiler never reached:
    /// their parsed features stay, and no candidate shares a measurement of
    /// them on the strength of a predicted split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) unreached: Vec<usize>,
    /// One sentence per shape the compiler's log leaves in doubt (another
    /// heuristic, several ops, a ladder the tuner did not predict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) findings: Vec<String>,
    /// Shapes whose process neither ran them nor logged anything (not
    /// compared).
    #[serde(default)]
    pub(crate) not_compiled: usize,
    /// Lines that are not decisions.
    #[serde(default)]
    pub(crate) unreadable: usize,
    /// Wall time of the processes.
    #[serde(default)]
    pub(crate) seconds: f64,
}

impl FeatureLog {
    /// The shapes whose predicted splits rest on quantities the compiler
    /// did not confirm: their measurements are never shared.
    pub(crate) fn doubtful(&self) -> BTreeSet<usize> {
        let replaced = self.replaced.iter().filter(|r| r.decisive).map(|r| r.shape);
        replaced.chain(self.unreached.iter().copied()).collect()
    }
}

/// The features `parsed` gives `heuristic` (its own, or the matmul-like
/// function's view of a convolution).
fn seen<'a>(parsed: &'a Features, heuristic: &str) -> Option<&'a Features> {
    std::iter::once(parsed).chain(parsed.fallback.as_deref()).find(|f| f.heuristic.name() == heuristic)
}

/// Compares each shape's parsed features with those its own process logged
/// (`logs`, by shape id), for the heuristics in `logging`; `reads` names,
/// per heuristic, the quantities its early returns and ladder read.
pub(crate) fn features(
    parsed: &[Parsed],
    logs: &BTreeMap<usize, Vec<LoggedDecision>>,
    logging: &[&str],
    reads: &BTreeMap<String, Vec<String>>,
) -> FeatureLog {
    let mut out = FeatureLog { shapes: parsed.len(), ..FeatureLog::default() };
    for p in parsed {
        // One line per op the compiler decided (its limit aside: the same
        // op decided at another limit has the same sizes).
        let lines: BTreeSet<(&str, i64, i64, &BTreeMap<String, i64>)> = logs
            .get(&p.shape)
            .into_iter()
            .flatten()
            .filter(|d| logging.contains(&d.heuristic.as_str()))
            .map(|d| (d.heuristic.as_str(), d.output_size, d.reduction_size, &d.vars))
            .collect();
        let agrees = |&(h, o, r, vars): &(&str, i64, i64, &BTreeMap<String, i64>)| {
            seen(p.features, h).is_some_and(|f| {
                f.output_size == o && (r == -1 || f.reduction_size == r) && differing(&f.vars, vars).is_empty()
            })
        };
        let list = || lines.iter().map(|(h, o, r, _)| format!("{h} {o}x{r}")).collect::<Vec<_>>().join(", ");
        match lines.iter().next() {
            None if p.reaches => {
                out.unreached.push(p.shape);
                out.findings.push(format!(
                    "`{}`: the compiler never reached a tuned ladder with the early returns off; the tuner \
                     predicted it would (its parsed features stay)",
                    p.command
                ));
            }
            None => out.untuned += 1,
            Some(_) if lines.iter().any(agrees) => {
                out.confirmed += 1;
                if lines.len() > 1 {
                    out.findings.push(format!("`{}`: the compiler decided several ops for it ({})", p.command, list()));
                }
            }
            Some(&(h, o, r, vars)) if lines.len() == 1 && seen(p.features, h).is_some() => {
                let f = seen(p.features, h).expect("checked in the guard");
                let vars = differing(&f.vars, vars);
                let sizes = f.output_size != o || (r != -1 && f.reduction_size != r);
                let read = reads.get(h).map(Vec::as_slice).unwrap_or_default();
                out.replaced.push(Replaced {
                    shape: p.shape,
                    command: p.command.to_string(),
                    heuristic: h.to_string(),
                    parsed: [f.output_size, f.reduction_size],
                    logged: [o, r],
                    decisive: sizes || vars.keys().any(|v| read.contains(v)),
                    vars,
                });
            }
            Some(_) => out.findings.push(format!(
                "`{}`: the compiler decided {}, which the tuner cannot tell from its parse ({} outputSize {}, \
                 reductionSize {}); its parsed features stay",
                p.command,
                list(),
                p.features.heuristic.name(),
                p.features.output_size,
                p.features.reduction_size
            )),
        }
    }
    out
}

/// The quantities both `parsed` and `logged` name whose values differ:
/// parsed, then logged. (The log also holds locals the tuner does not
/// compute, such as the code's constants: nothing to compare.)
fn differing(parsed: &BTreeMap<String, i64>, logged: &BTreeMap<String, i64>) -> BTreeMap<String, [i64; 2]> {
    logged
        .iter()
        .filter_map(|(name, &l)| parsed.get(name).filter(|&&p| p != l).map(|&p| (name.clone(), [p, l])))
        .collect()
}

/// `features` with the compiler's values of `r` in place of the parsed ones
/// (the named quantities the C++ reads them by included).
pub(crate) fn replace(features: &mut Features, r: &Replaced) {
    let f = if features.heuristic.name() == r.heuristic {
        features
    } else {
        match features.fallback.as_deref_mut().filter(|f| f.heuristic.name() == r.heuristic) {
            Some(f) => f,
            None => return,
        }
    };
    let [output, reduction] = r.logged;
    f.output_size = output;
    f.vars.insert("outputSize".into(), output);
    if reduction != -1 {
        f.reduction_size = reduction;
        f.vars.insert("reductionSize".into(), reduction);
    }
    for (name, [_, logged]) in &r.vars {
        f.vars.insert(name.clone(), *logged);
        if name == "startTileSize" {
            f.start_tile_size = *logged;
        }
    }
}

/// One line for the sweep's output, and the findings under it.
pub(crate) fn features_summary(log: &FeatureLog) -> String {
    let mut out = format!(
        "compiler features: {} shapes compiled one per process in {:.1} s: {} confirm the parsed features",
        log.shapes, log.seconds, log.confirmed
    );
    if !log.replaced.is_empty() {
        out.push_str(&format!(", {} replaced by the compiler's", log.replaced.len()));
    }
    if !log.unreached.is_empty() {
        out.push_str(&format!(", {} never reached a tuned ladder", log.unreached.len()));
    }
    if log.untuned > 0 {
        out.push_str(&format!(", {} reach no tuned ladder (as predicted)", log.untuned));
    }
    if log.not_compiled > 0 {
        out.push_str(&format!("; {} not compiled (their processes failed; not compared)", log.not_compiled));
    }
    if log.unreadable > 0 {
        out.push_str(&format!("; {} log line(s) unreadable", log.unreadable));
    }
    for r in log.replaced.iter().take(5) {
        out.push_str(&format!("\n  `{}`: {}", r.command, r.describe()));
    }
    for f in log.findings.iter().take(5) {
        out.push_str(&format!("\n  {f}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(h: &str, o: i64, r: i64, limit: i64) -> LoggedDecision {
        LoggedDecision { heuristic: h.into(), output_size: o, reduction_size: r, limit, vars: BTreeMap::new() }
    }

    /// `f`'s sizes as logged, with these locals.
    fn with_vars(f: &Features, vars: &[(&str, i64)]) -> LoggedDecision {
        let vars = vars.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        LoggedDecision { vars, ..d(f.heuristic.name(), f.output_size, f.reduction_size, 8) }
    }

    fn e(command: &'static str, o: i64, r: i64, limit: Option<i64>) -> Expected<'static> {
        Expected {
            shape: command.as_bytes()[0] as usize,
            command,
            heuristic: "conv",
            output_size: o,
            reduction_size: r,
            limit,
            reduction_dims: &[64, 64],
            walk: Walk::OuterToInner,
        }
    }

    #[test]
    fn logged_decisions_are_read_and_compared_with_the_predictions() {
        let text = "{\"heuristic\": \"conv\", \"outputSize\": 10, \"reductionSize\": 20, \"limit\": 64}\n{\"heur\n\n";
        let (logged, bad) = parse(text);
        assert_eq!((logged.clone(), bad), (vec![d("conv", 10, 20, 64)], 1));
        // As predicted: a limit where the ladder is reached, nothing where
        // an early return fires.
        let ok = check(&logged, &[e("a", 10, 20, Some(64)), e("b", 5, 5, None)], &["conv"]);
        assert_eq!(ok, LogCheck { checked: 2, ..LogCheck::default() });
        assert!(summary("limit-64", &ok).contains("match the predictions on all 2 shapes"));
        // Another limit, an unreached ladder, an unexpected reach, and
        // sizes no shape has are each named.
        let logged = [d("conv", 10, 20, 32), d("conv", 5, 5, 8), d("conv", 7, 7, 8)];
        let bad = check(&logged, &[e("a", 10, 20, Some(64)), e("b", 5, 5, None), e("c", 1, 1, Some(8))], &["conv"]);
        let all = bad.differ.join("\n");
        assert_eq!(bad.shapes, vec![b'a' as usize, b'b' as usize, b'c' as usize]);
        assert_eq!(bad.differ.len(), 4, "{all}");
        assert!(all.contains("`a`: the compiler chose limit 32, the tuner predicted 64"), "{all}");
        assert!(all.contains("`b`: the compiler reached the conv ladder (limit 8) and splits"), "{all}");
        // A limit the tile walk cannot use (no factor of 1 << 20 within the
        // search) is no split, as predicted.
        let huge = Expected { reduction_dims: &[1 << 20], ..e("h", 3, 3, None) };
        assert!(check(&[d("conv", 3, 3, 1)], &[huge], &["conv"]).differ.is_empty());
        assert!(all.contains("`c`: the compiler never reached the conv ladder"), "{all}");
        assert!(all.contains("outputSize 7, reductionSize 7"), "{all}");
        insta::assert_snapshot!(
            "decision_log_summary",
            format!("{}\n{}", summary("baseline", &ok), summary("limit-64", &bad))
        );
        // A line without a reduction size matches on the output size.
        assert!(check(&[d("conv", 10, -1, 64)], &[e("a", 10, 20, Some(64))], &["conv"]).differ.is_empty());
        // A heuristic whose probe does not log is not checked.
        assert_eq!(check(&[], &[e("a", 1, 1, Some(8))], &["matmul"]).checked, 0);
    }

    #[test]
    fn each_shape_s_own_log_confirms_replaces_or_questions_its_parsed_sizes() {
        let text = "gemmfp16 --a_w 64 --a_h 65536 --b_w 64\n\
                    gemmfp16 --a_w 768 --a_h 16384 --b_w 768\n\
                    gemmfp16 --a_w 32 --a_h 512 --b_w 32\n\
                    gemmfp16 --a_w 48 --a_h 4096 --b_w 48\n\
                    gemmfp16 --a_w 8 --a_h 8 --b_w 8\n\
                    gemmfp16 --a_w 16 --a_h 65536 --b_w 16\n";
        let (shapes, bad) = crate::core::workload::parse_commands(text);
        assert!(bad.is_empty(), "{bad:?}");
        let parsed: Vec<Parsed> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Parsed { shape: i, command: &s.command, features: &s.features, reaches: i != 4 })
            .collect();
        let f = |i: usize| &shapes[i].features;
        let logs: BTreeMap<usize, Vec<LoggedDecision>> = [
            // As parsed.
            (0, vec![d("matmul", f(0).output_size, f(0).reduction_size, 64)]),
            // Another reduction size: the compiler's replaces the parsed.
            (1, vec![LoggedDecision { reduction_size: 16448, ..with_vars(f(1), &[("kSize", 16448)]) }]),
            // Nothing logged although the tuner predicts the ladder (shape 2);
            // two ops, neither as parsed (shape 3).
            (3, vec![d("matmul", 1, 2, 8), d("matmul", 3, 4, 8)]),
            // Unpredicted, but as parsed: confirmed (shape 4).
            (4, vec![d("matmul", f(4).output_size, -1, 8), d("conv", 1, 1, 1)]),
            // The sizes as parsed, another ratio (and a constant the tuner
            // does not compute): the quantity is replaced.
            (5, vec![with_vars(f(5), &[("ratio", 1), ("kSize", 65536), ("smallKSize", 18000)])]),
        ]
        .into_iter()
        .collect();
        let reads: BTreeMap<String, Vec<String>> =
            [("matmul".to_string(), vec!["kSize".to_string(), "ratio".to_string()])].into_iter().collect();
        let log = features(&parsed, &logs, &["matmul"], &reads);
        assert_eq!((log.shapes, log.confirmed, log.untuned, log.unreached.clone()), (6, 2, 0, vec![2]));
        // A shape no ladder takes, as predicted, is only counted.
        let alone = Parsed { reaches: false, ..parsed[2] };
        assert_eq!(features(&[alone], &logs, &["matmul"], &reads).untuned, 1);
        // A quantity no condition reads is replaced, but the predicted
        // splits still hold.
        let nothing_read = BTreeMap::new();
        let quiet = features(&parsed, &logs, &["matmul"], &nothing_read);
        assert!(!quiet.replaced[1].decisive && quiet.replaced[0].decisive);
        assert_eq!(quiet.doubtful(), BTreeSet::from([1, 2]));
        assert!(quiet.replaced[1].describe().ends_with("; the heuristic's conditions read none of these"));
        let r = &log.replaced;
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].shape, r[0].parsed, r[0].logged), (1, [768 * 768, 16384], [768 * 768, 16448]));
        let ratio = shapes[5].features.vars["ratio"];
        assert_ne!(ratio, 1);
        assert_eq!((r[1].shape, r[1].vars.clone()), (5, [("ratio".to_string(), [ratio, 1])].into_iter().collect()));
        let mut five = shapes[5].features.clone();
        replace(&mut five, &r[1]);
        assert_eq!((five.vars["ratio"], five.reduction_size), (1, 65536));
        assert_eq!(log.findings.len(), 2, "{:?}", log.findings);
        assert!(log.findings[1].contains("matmul 1x2, matmul 3x4"), "{:?}", log.findings);
        assert_eq!(log.doubtful(), BTreeSet::from([1, 2, 5]));
        // The replacement reaches the quantities the C++ reads.
        let mut replaced = shapes[1].features.clone();
        replace(&mut replaced, &r[0]);
        assert_eq!(
            (replaced.reduction_size, replaced.vars["reductionSize"], replaced.vars["kSize"]),
            (16448, 16448, 16448)
        );
        // Another heuristic's sizes leave it as it was.
        let mut other = shapes[1].features.clone();
        replace(&mut other, &Replaced { heuristic: "conv".into(), ..r[0].clone() });
        assert_eq!(other, shapes[1].features);
        insta::assert_snapshot!("compiler_features_summary", features_summary(&FeatureLog { seconds: 1.5, ..log }));
    }
}
