//! report.html in headless Chromium: a copy of the page with a small script
//! that measures, in the browser's own layout, the box of every text of
//! every figure and writes them into the DOM as JSON; the test reads the
//! dumped DOM and checks that every figure is there, every axis has its
//! title, no text overlaps another and none spills out of its figure. And a
//! screenshot that is not blank.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| xtask::testkit::which(b))
        .expect("this test needs Chromium: `apt-get install -y chromium` (.ci/run installs it)")
}

/// Headless Chromium with the flags this machine's closed network needs.
fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,2400",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Measures every figure's texts once the page is laid out and writes them
/// into `<pre id="layout-report">`.
const MEASURE: &str = r#"<script>
(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; };
  const figures = [];
  for (const fig of document.querySelectorAll('figure[id^="fig-"]')) {
    const svg = fig.querySelector('svg');
    const texts = [...fig.querySelectorAll('svg text')].map((t) => ({ text: t.textContent.trim(), ...box(t) }));
    figures.push({
      id: fig.id,
      svgs: fig.querySelectorAll('svg').length,
      svg: svg ? box(svg) : null,
      titles: fig.querySelectorAll('svg title').length,
      texts,
    });
  }
  const pre = document.createElement('pre');
  pre.id = 'layout-report';
  pre.textContent = JSON.stringify(figures);
  document.body.appendChild(pre);
})();
</script>"#;

/// A box as the browser lays it out; `text` is empty for a box that is not
/// a text's (the figure's).
#[derive(Debug, Deserialize)]
pub struct TextBox {
    #[serde(default)]
    pub text: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, Deserialize)]
pub struct Figure {
    pub id: String,
    pub svgs: usize,
    pub svg: Option<TextBox>,
    pub titles: usize,
    pub texts: Vec<TextBox>,
}

/// Boxes closer than this overlap by rounding only (px).
const TOLERANCE: f64 = 0.5;

fn intersect(a: &TextBox, b: &TextBox) -> bool {
    a.x + TOLERANCE < b.x + b.w
        && b.x + TOLERANCE < a.x + a.w
        && a.y + TOLERANCE < b.y + b.h
        && b.y + TOLERANCE < a.y + a.h
}

/// The figures of `page` as Chromium lays them out, and the browser's log.
pub fn layout(page: &Path, scratch: &Path) -> Vec<Figure> {
    let html = std::fs::read_to_string(page).unwrap();
    let copy = scratch.join("report-measured.html");
    std::fs::write(&copy, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let out = headless(&scratch.join("chrome-profile-measure"))
        .arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(format!("file://{}", copy.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("Uncaught") && !log.contains(":ERROR:CONSOLE"), "{log}");
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"layout-report\">").expect("the measuring script did not run") + 24;
    let json = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let json = json.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Every figure `kinds` promises, for every heuristic, each with one SVG,
/// hover texts, its axis titles (texts that start so), and no text that
/// overlaps another or leaves the figure.
pub fn assert_readable(figures: &[Figure], heuristics: &[&str], kinds: &[(&str, &[&str])]) {
    for h in heuristics {
        for (kind, axes) in kinds {
            let id = format!("fig-{kind}-{h}");
            let f = figures.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("no figure {id}"));
            assert_eq!(f.svgs, 1, "{id}: {} svgs", f.svgs);
            assert!(f.titles > 0, "{id}: no hover texts");
            for axis in *axes {
                assert!(f.texts.iter().any(|t| t.text.starts_with(axis)), "{id}: no axis titled `{axis}`");
            }
            let svg = f.svg.as_ref().unwrap();
            let texts: Vec<&TextBox> = f.texts.iter().filter(|t| !t.text.is_empty() && t.w > 0.0).collect();
            for (i, a) in texts.iter().enumerate() {
                let inside = a.x + TOLERANCE >= svg.x
                    && a.y + TOLERANCE >= svg.y
                    && a.x + a.w <= svg.x + svg.w + TOLERANCE
                    && a.y + a.h <= svg.y + svg.h + TOLERANCE;
                assert!(inside, "{id}: `{}` {a:?} leaves the figure {svg:?}", a.text);
                for b in &texts[i + 1..] {
                    assert!(!intersect(a, b), "{id}: `{}` {a:?} overlaps `{}` {b:?}", a.text, b.text);
                }
            }
        }
    }
}

/// A screenshot of the page: a PNG with something drawn on it.
pub fn assert_screenshot(page: &Path, scratch: &Path) {
    let shot = scratch.join("report.png");
    let out = headless(&scratch.join("chrome-profile-shot"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot is {} bytes", png.len());
}

/// The figures of every analysed report, and their axis titles.
pub const SWEEP_FIGURES: [(&str, &[&str]); 3] = [
    ("heatmap", &["candidate", "shapes"]),
    ("regions", &["outputSize", "reductionSize"]),
    ("speedups", &["speedup over the baseline", "shapes"]),
];

/// The figure a validated report adds.
pub const VALIDATION_FIGURE: (&str, &[&str]) =
    ("validation", &["shapes, sorted by speedup", "speedup, baseline over patched"]);

/// The check itself: it passes a readable figure and fails, naming them,
/// two texts over each other, a missing axis title, a text off the figure.
#[test]
fn the_layout_check_finds_overlaps_missing_axis_titles_and_clipped_text() {
    let dir = tempfile::tempdir().unwrap();
    let check = |texts: &str| -> Result<(), String> {
        let page = dir.path().join("page.html");
        let svg = format!(
            "<svg width=\"300\" height=\"100\"><rect width=\"10\" height=\"10\"><title>t</title></rect>{texts}</svg>"
        );
        std::fs::write(
            &page,
            format!("<!DOCTYPE html><html><body><figure id=\"fig-heatmap-conv\">{svg}</figure></body></html>"),
        )
        .unwrap();
        let figures = layout(&page, dir.path());
        std::panic::catch_unwind(|| assert_readable(&figures, &["conv"], &[("heatmap", &["candidate", "shapes"])]))
            .map_err(|e| e.downcast_ref::<String>().cloned().unwrap_or_default())
    };
    let text = |x: u32, y: u32, s: &str| format!("<text x=\"{x}\" y=\"{y}\" font-size=\"12\">{s}</text>");
    assert_eq!(check(&(text(10, 30, "candidate") + &text(10, 60, "shapes"))), Ok(()));
    let err = check(&(text(10, 30, "candidate") + &text(20, 34, "shapes"))).unwrap_err();
    assert!(err.contains("`candidate`") && err.contains("overlaps `shapes`"), "{err}");
    let err = check(&text(10, 30, "candidate")).unwrap_err();
    assert!(err.contains("no axis titled `shapes`"), "{err}");
    let err = check(&(text(10, 30, "candidate") + &text(280, 60, "shapes"))).unwrap_err();
    assert!(err.contains("`shapes`") && err.contains("leaves the figure"), "{err}");
}
