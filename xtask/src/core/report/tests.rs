//! Snapshots of every document a user or a reviewer reads, made from a
//! synthetic sweep and its synthetic validation: report.md (with Part 6),
//! the patch mail and the PR description.

use crate::core::analysis::analyze;
use crate::core::patchtext::{self, FileChange};
use crate::core::testdata::{self, settings, synthetic, CURRENT, FULL};
use crate::core::workload::Heuristic;

#[test]
fn documents_of_a_validated_run() {
    let results = synthetic(CURRENT, &FULL);
    let (mut a, patches) = analyze(&results, CURRENT, &settings());
    let v = testdata::validation(&results, &a, &patches);
    a.validation = Some(v.clone());
    insta::assert_snapshot!("report_md", super::markdown(&a));
    insta::assert_snapshot!("validation_part6", super::part6(&v));
    insta::assert_snapshot!("pr_description", super::pr_description(&results, &a, &v, &patches));
    let conv = patches.iter().find(|p| p.heuristic == Heuristic::Conv).expect("a conv patch");
    let meta = patchtext::Meta {
        author_name: "A U Thor".into(),
        author_email: "author@example.com".into(),
        date: 1_795_449_600,
        subject: super::subject(Heuristic::Conv, &a),
        body: super::commit_body(&results, &a, &v, &v.rounds[0], conv, false),
        base_commit: results.target.commit.clone(),
        tool_version: "0.1.0".into(),
    };
    let change =
        FileChange { path: results.target.heuristic_file.clone(), old: CURRENT.into(), new: conv.source.clone() };
    insta::assert_snapshot!("patch_mail_conv", patchtext::format_patch(&meta, &[change]));
}

/// The first patch of a two-target series: its subject names its target
/// and its caveats say what the later patches do.
#[test]
fn the_first_patch_of_a_series_names_its_target_and_the_patches_after_it() {
    let results = synthetic(CURRENT, &FULL);
    let mut settings = settings();
    settings.series = Some(crate::core::analysis::Series { earlier: vec![], later: vec![true] });
    let (mut a, patches) = analyze(&results, CURRENT, &settings);
    let v = testdata::validation(&results, &a, &patches);
    a.validation = Some(v.clone());
    let conv = patches.iter().find(|p| p.heuristic == Heuristic::Conv).expect("a conv patch");
    let subject = super::subject(Heuristic::Conv, &a);
    let body = super::commit_body(&results, &a, &v, &v.rounds[0], conv, false);
    insta::assert_snapshot!("patch_series_first_conv", format!("Subject: {subject}\n\n{body}"));
}

#[test]
fn part6_lists_regressions_first_then_improvements_and_folds_the_neutral_shapes() {
    use crate::core::stats::Verdict;
    let results = synthetic(CURRENT, &FULL);
    let (mut a, patches) = analyze(&results, CURRENT, &settings());
    let mut v = testdata::validation(&results, &a, &patches);
    let shapes = &mut v.rounds[0].shapes;
    for (i, speedup) in [(0, 0.9), (1, 0.8)] {
        shapes[i].verdict = Verdict::Regressed;
        shapes[i].speedup = speedup;
    }
    a.validation = Some(v.clone());
    let md = super::part6(&v);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    let cmd = |i: usize| format!("| `{}` |", crate::core::workload::short_command(&v.rounds[0].shapes[i].command));
    // The worst regression first, then the second, then the best improvement.
    assert!(rows[0].starts_with(&cmd(1)) && rows[0].contains("0.800x") && rows[0].contains("**regressed**"), "{md}");
    assert!(rows[1].starts_with(&cmd(0)), "{md}");
    let best = v.rounds[0].shapes.iter().map(|s| s.speedup).fold(0.0, f64::max);
    let best = format!("{best:.3}x");
    // Then any regression the rule itself makes (the fit lets through
    // regressions under `MIN_REGRESSION_EFFECT`, validation calls them from
    // 0.5%), then the best improvement.
    let improved = rows.iter().position(|r| r.contains(" improved |")).expect("an improvement");
    assert!(rows[2..improved].iter().all(|r| r.contains("**regressed**")), "{md}");
    assert!(rows[improved].contains(&best), "{md}");
    let folded = md.find("neutral shape(s)</summary>").expect("neutral shapes folded");
    assert!(!md[..folded].lines().any(|l| l.starts_with("| `") && l.ends_with("| neutral |")), "{md}");
    // The pull request shows the regressions and folds the improvements.
    let public = super::validation::part6_public(&v);
    assert!(public.contains("improved shape(s)</summary>") && public.find(&cmd(1)) < public.find(&best));
}

#[test]
fn the_report_says_how_many_ambiguous_pairs_were_measured_again_and_what_it_cost() {
    let mut results = synthetic(CURRENT, &FULL);
    let md = |r: &crate::core::results::Results| super::markdown(&analyze(r, CURRENT, &settings()).0);
    assert!(!md(&results).contains("ambiguous"));
    let again = crate::core::results::Measurement { samples: vec![1.0; 6], ..Default::default() };
    results.absorb_extra("limit-64", &[(0, again.clone()), (1, again.clone())]);
    results.absorb_extra("baseline", &[(0, again)]);
    let text = md(&results);
    assert!(
        text.contains("2 (shape, candidate) pairs whose regression evidence was ambiguous")
            && text.contains("the baseline's side of 1 shape(s): 18 more benchmark runs"),
        "{text}"
    );
}

#[test]
fn the_report_shows_each_candidate_s_drift_when_the_sweep_anchored() {
    let mut results = synthetic(CURRENT, &FULL);
    let md = |r: &crate::core::results::Results| super::markdown(&analyze(r, CURRENT, &settings()).0);
    assert!(!md(&results).contains("drift (anchors)"));
    for (i, c) in results.candidates.iter_mut().enumerate() {
        if c.limit != Some(1) {
            c.anchoring.factors = vec![1.0, 0.99 + 0.001 * i as f64, 1.02];
        }
    }
    let text = md(&results);
    let row = |name: &str| text.lines().find(|l| l.starts_with(&format!("| {name} |"))).unwrap_or_default().to_string();
    assert!(text.contains("| total | drift (anchors) |"), "{text}");
    assert!(row("baseline").ends_with("| 3 anchored, -1.0% to +2.0% |"), "{}", row("baseline"));
    assert!(row("limit-1").contains("| not anchored; assumed drift "), "{}", row("limit-1"));
    assert!(text.contains("Drift: each benchmark process's samples were divided"), "{text}");
    let start = text.find("## Part 1").unwrap();
    let end = text[start..].find("## Part 2").map_or(text.len(), |e| start + e);
    insta::assert_snapshot!("part1_anchored", &text[start..end]);
}

#[test]
fn the_report_says_which_sizes_the_compiler_replaced() {
    use crate::core::decisionlog::{FeatureLog, Replaced};
    let mut results = synthetic(CURRENT, &FULL);
    let md = |r: &crate::core::results::Results| super::markdown(&analyze(r, CURRENT, &settings()).0);
    assert!(!md(&results).contains("Features:"));
    let command = results.shapes[2].command.clone();
    let parsed = [results.shapes[2].features.output_size, results.shapes[2].features.reduction_size];
    results.compiler_features = Some(FeatureLog {
        shapes: results.shapes.len(),
        confirmed: results.shapes.len() - 3,
        untuned: 1,
        replaced: vec![Replaced {
            shape: 2,
            command,
            heuristic: "conv".into(),
            parsed,
            logged: [parsed[0], parsed[1] + 64],
            vars: [("ratio".to_string(), [12, 13])].into_iter().collect(),
            decisive: true,
        }],
        unreached: vec![3],
        findings: vec!["`conv ...`: the compiler never reached a tuned ladder with the early returns off".into()],
        ..FeatureLog::default()
    });
    let text = md(&results);
    let start = text.find("\nFeatures:").expect("the paragraph");
    let end = text[start + 1..].find("\n\n").map_or(text.len(), |e| start + 1 + e);
    insta::assert_snapshot!("compiler_features", &text[start..end]);
}

#[test]
fn a_series_description_nests_each_target_s_and_reproduces_the_one_sweep() {
    let own = |run: &str, low: &str| {
        format!(
            "# Retune split-reduction heuristics (`{run}`)\n\n## Summary\n\n### conv\n\n- outputSize < 8192: limit 64\n\n\
             ## Reproduce\n\n```sh\n# tuner.toml: your checkout\ncargo xtask sweep --name {run}\n```\n\n{low}"
        )
    };
    let parts = [
        super::SeriesPart { low: false, run: "w".into(), description: Some(own("w", "")) },
        super::SeriesPart {
            low: true,
            run: "w-low-parallelism".into(),
            description: Some(own(
                "w-low-parallelism",
                "With `heuristics.low_parallelism = true` in the configuration.\n",
            )),
        },
    ];
    insta::assert_snapshot!("pr_series", super::pr_series("w", &parts));
    let nothing = [super::SeriesPart { low: true, run: "w-low-parallelism".into(), description: None }];
    assert!(super::pr_series("w", &nothing).contains("No change recommended"));
}
