//! Patch text: the recommended change as a `git format-patch` mail that
//! `git am` (three-way included) and `git apply` accept at the tuned
//! revision, with the evidence in its message.
//!
//! The diff comes from [`crate::core::difftext`]; this module adds what
//! `git am` reads: the mbox `From` line, author, date, subject, the message,
//! a diffstat, `index` lines with the real blob ids (which `git am -3` uses
//! to find the preimage), and git's `base-commit:` trailer. The date is an
//! input: the core never reads the clock.

use crate::core::difftext;
use sha1::{Digest, Sha1};
use std::fmt::Write;

/// A file the patch changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileChange {
    pub(crate) path: String,
    pub(crate) old: String,
    pub(crate) new: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) author_name: String,
    pub(crate) author_email: String,
    /// Seconds since the Unix epoch.
    pub(crate) date: i64,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) base_commit: String,
    pub(crate) tool_version: String,
}

/// Git's blob id of `content`.
pub(crate) fn blob_id(content: &str) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 2822 date in UTC, as `git format-patch` writes it.
pub(crate) fn rfc2822(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_date(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{weekday}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// algorithm).
pub(crate) fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The diff of one file with git's `index` line.
fn file_diff(c: &FileChange) -> String {
    let d = difftext::unified(&c.path, &c.old, &c.new);
    if d.is_empty() {
        return d;
    }
    let (first, rest) = d.split_once('\n').unwrap_or((&d, ""));
    format!("{first}\nindex {}..{} 100644\n{rest}", &blob_id(&c.old)[..12], &blob_id(&c.new)[..12])
}

fn diffstat(changes: &[FileChange]) -> String {
    let mut out = String::new();
    let stats: Vec<(&str, usize, usize)> = changes
        .iter()
        .map(|c| {
            let (a, r) = difftext::stat(&difftext::unified(&c.path, &c.old, &c.new));
            (c.path.as_str(), a, r)
        })
        .filter(|(_, a, r)| a + r > 0)
        .collect();
    let width = stats.iter().map(|s| s.0.len()).max().unwrap_or(0);
    for (path, a, r) in &stats {
        let _ = writeln!(out, " {path:<width$} | {} {}{}", a + r, "+".repeat(*a), "-".repeat(*r));
    }
    let (files, adds, dels) = stats.iter().fold((0, 0, 0), |acc, s| (acc.0 + 1, acc.1 + s.1, acc.2 + s.2));
    let plural = |n: usize, one: &str, many: &str| if n == 1 { one.to_string() } else { many.to_string() };
    let _ = writeln!(
        out,
        " {files} {} changed, {adds} {}(+), {dels} {}(-)",
        plural(files, "file", "files"),
        plural(adds, "insertion", "insertions"),
        plural(dels, "deletion", "deletions")
    );
    out
}

/// Wraps the message's paragraphs at 72 columns, as git's conventions ask;
/// list items, tables and indented lines are kept as they are.
pub(crate) fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut String| {
        if paragraph.is_empty() {
            return;
        }
        let words: Vec<&str> = paragraph.iter().flat_map(|l| l.split_whitespace()).collect();
        let mut line = String::new();
        for w in words {
            if !line.is_empty() && line.len() + 1 + w.len() > 72 {
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(w);
        }
        out.push_str(&line);
        out.push('\n');
        paragraph.clear();
    };
    for l in text.lines() {
        let verbatim = l.starts_with("- ") || l.starts_with('|') || l.starts_with(' ') || l.trim().is_empty();
        if verbatim {
            flush(&mut paragraph, &mut out);
            out.push_str(l);
            out.push('\n');
        } else {
            paragraph.push(l);
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

/// The whole mail.
pub(crate) fn format_patch(meta: &Meta, changes: &[FileChange]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001");
    let _ = writeln!(out, "From: {} <{}>", meta.author_name, meta.author_email);
    let _ = writeln!(out, "Date: {}", rfc2822(meta.date));
    let _ = writeln!(out, "Subject: [PATCH] {}", meta.subject);
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", wrap(&meta.body).trim_end());
    let _ = writeln!(out, "---");
    out.push_str(&diffstat(changes));
    let _ = writeln!(out);
    for c in changes {
        out.push_str(&file_diff(c));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "base-commit: {}", meta.base_commit);
    let _ = writeln!(out, "-- ");
    let _ = writeln!(out, "split-reduction-tuner {}", meta.tool_version);
    let _ = writeln!(out);
    out
}

/// The `base-commit:` of a patch written by [`format_patch`].
pub(crate) fn base_commit(patch: &str) -> Option<&str> {
    patch.lines().find_map(|l| l.strip_prefix("base-commit: ")).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_blob_ids_match_git() {
        assert_eq!(rfc2822(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_795_449_600), "Mon, 23 Nov 2026 16:00:00 +0000");
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(blob_id("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn wraps_paragraphs_not_lists() {
        let long = "word ".repeat(30);
        let w = wrap(&format!("{long}\n\n- a list item that is long {long}\n| a | table |\n"));
        assert!(w.lines().all(|l| l.len() <= 72 || l.starts_with("- ")), "{w}");
        assert!(w.contains("| a | table |"));
    }

    #[test]
    fn mail_layout() {
        let meta = Meta {
            author_name: "A U Thor".into(),
            author_email: "a@example.com".into(),
            date: 0,
            subject: "Retune".into(),
            body: "Why.\n".into(),
            base_commit: "abc".into(),
            tool_version: "0.1.0".into(),
        };
        let p = format_patch(&meta, &[FileChange { path: "x.cpp".into(), old: "a\nb\n".into(), new: "a\nc\n".into() }]);
        assert!(p.starts_with(
            "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: A U Thor <a@example.com>\n"
        ));
        assert!(
            p.contains(
                "Subject: [PATCH] Retune\n\nWhy.\n---\n x.cpp | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n"
            ),
            "{p}"
        );
        assert!(p.contains(&format!(
            "diff --git a/x.cpp b/x.cpp\nindex {}..{} 100644\n--- a/x.cpp",
            &blob_id("a\nb\n")[..12],
            &blob_id("a\nc\n")[..12]
        )));
        assert_eq!(base_commit(&p), Some("abc"));
    }
}
