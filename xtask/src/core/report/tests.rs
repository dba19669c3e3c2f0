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
        subject: super::subject(Heuristic::Conv),
        body: super::commit_body(&results, &a, &v, &v.rounds[0], conv, false),
        base_commit: results.target.commit.clone(),
        tool_version: "0.1.0".into(),
    };
    let change =
        FileChange { path: results.target.heuristic_file.clone(), old: CURRENT.into(), new: conv.source.clone() };
    insta::assert_snapshot!("patch_mail_conv", patchtext::format_patch(&meta, &[change]));
}
