//! The report's pages as positioned items — text, filled rectangles, lines and
//! the film image — in points from the top-left of an A4 page. The PDF and the
//! PNG draw the same items, so both look the same.

use image::RgbImage;

use super::content::{Report, region_title};
use super::font::{text_width, wrap};
use crate::grading::{GRADE_NAMES, GRADES};

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 40.0;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// The footer's baseline; content stops above it.
const FOOTER_BASELINE: f32 = PAGE_HEIGHT - 24.0;
const CONTENT_BOTTOM: f32 = FOOTER_BASELINE - 16.0;
/// Tallest the film may be drawn, so the grade charts fit below it on page one.
const FILM_MAX_HEIGHT: f32 = 240.0;
/// How far the film may shrink (from [`FILM_MAX_HEIGHT`]) to keep the report on one page.
const FILM_MIN_HEIGHT: f32 = 160.0;

pub type Rgb = [f32; 3];
pub const INK: Rgb = [0.12, 0.12, 0.14];
pub const MUTED: Rgb = [0.38, 0.38, 0.42];
const RULE: Rgb = [0.75, 0.75, 0.78];
const NOTICE_FILL: Rgb = [1.0, 0.95, 0.80];
const NOTICE_INK: Rgb = [0.45, 0.28, 0.0];
const PROBABILITY_BAR: Rgb = [0.26, 0.45, 0.72];
const GRADED_BAR: Rgb = [0.85, 0.42, 0.10];
const SIMILARITY_BAR: Rgb = [0.20, 0.60, 0.55];
const NEGATIVE_BAR: Rgb = [0.70, 0.35, 0.35];
const BAR_TRACK: Rgb = [0.92, 0.92, 0.94];
const GRADED_ROW: Rgb = [1.0, 0.93, 0.86];

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `y` is the baseline.
    Text { x: f32, y: f32, size: f32, color: Rgb, text: String },
    /// `y` is the top edge.
    Rect { x: f32, y: f32, w: f32, h: f32, color: Rgb },
    /// The film image, stretched to the box (the box keeps its aspect).
    Film { x: f32, y: f32, w: f32, h: f32 },
    /// A straight line `width` points wide, with round ends.
    Line { x0: f32, y0: f32, x1: f32, y1: f32, width: f32, color: Rgb },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
}

/// Lays out `report` with the film image `film` (for its aspect ratio): on
/// one page when a smaller film makes it fit (cautions, notes, two knees and
/// the flip check add lines), else at full size over more pages.
pub fn pages(report: &Report, film: &RgbImage) -> Vec<Page> {
    let lay_out = |film_max: f32| {
        let mut flow = Flow::new();
        header(&mut flow, report);
        film_block(&mut flow, report, film, film_max);
        charts(&mut flow, report);
        anchors(&mut flow, report);
        details(&mut flow, report);
        flow.finish(report)
    };
    let mut film_max = FILM_MAX_HEIGHT;
    while film_max >= FILM_MIN_HEIGHT {
        let pages = lay_out(film_max);
        if pages.len() == 1 {
            return pages;
        }
        film_max -= 10.0;
    }
    lay_out(FILM_MAX_HEIGHT)
}

/// Places blocks top to bottom, starting a new page when one does not fit.
struct Flow {
    pages: Vec<Page>,
    y: f32,
}

impl Flow {
    fn new() -> Self {
        Self { pages: vec![Page::default()], y: MARGIN }
    }

    fn items(&mut self) -> &mut Vec<Item> {
        &mut self.pages.last_mut().expect("a page").items
    }

    /// Makes room for `height` points, on a new page if needed.
    fn reserve(&mut self, height: f32) {
        if self.y + height > CONTENT_BOTTOM && self.y > MARGIN {
            self.pages.push(Page::default());
            self.y = MARGIN;
        }
    }

    fn text(&mut self, x: f32, baseline: f32, size: f32, color: Rgb, text: impl Into<String>) {
        self.items().push(Item::Text { x, y: baseline, size, color, text: text.into() });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        self.items().push(Item::Rect { x, y, w, h, color });
    }

    /// A line of text at the cursor, moving it down by `leading`.
    fn line(&mut self, size: f32, leading: f32, color: Rgb, text: impl Into<String>) {
        self.reserve(leading);
        let baseline = self.y + size;
        self.text(MARGIN, baseline, size, color, text);
        self.y += leading;
    }

    /// Wrapped text at `x`, `width` wide.
    fn paragraph(&mut self, x: f32, width: f32, size: f32, leading: f32, color: Rgb, text: &str) {
        for line in wrap(text, size, width) {
            self.reserve(leading);
            let baseline = self.y + size;
            self.text(x, baseline, size, color, line);
            self.y += leading;
        }
    }

    fn heading(&mut self, text: &str) {
        self.reserve(40.0); // never a heading alone at the foot of a page
        self.y += 8.0;
        self.line(11.0, 16.0, INK, text);
        let y = self.y - 3.0;
        self.rect(MARGIN, y, CONTENT_WIDTH, 0.6, RULE);
        self.y += 2.0;
    }

    /// The footer on every page, now that the page count is known.
    fn finish(mut self, report: &Report) -> Vec<Page> {
        let count = self.pages.len();
        for (i, page) in self.pages.iter_mut().enumerate() {
            let left = format!("kneeclip {} · {}", report.kneeclip_version, report.statement);
            let right = format!("page {} of {count}", i + 1);
            page.items.push(Item::Rect { x: MARGIN, y: FOOTER_BASELINE - 11.0, w: CONTENT_WIDTH, h: 0.6, color: RULE });
            page.items.push(Item::Text { x: MARGIN, y: FOOTER_BASELINE, size: 7.5, color: MUTED, text: left });
            let x = PAGE_WIDTH - MARGIN - text_width(&right, 7.5);
            page.items.push(Item::Text { x, y: FOOTER_BASELINE, size: 7.5, color: MUTED, text: right });
        }
        self.pages
    }
}

/// "Left knee, AP", "Right knee", "AP" for the film's title; `None` when the
/// file states neither (a film of two knees names each half's side instead).
fn film_side_and_view(report: &Report) -> Option<String> {
    let side = report.film.side.filter(|_| report.regions.len() == 1).map(|s| crate::grading::side::side_words(s, report.film.other_region));
    let label = side.into_iter().chain(report.film.view.clone()).collect::<Vec<_>>().join(", ");
    (!label.is_empty()).then(|| crate::grading::side::capitalised(&label))
}

/// "Left half of the image (right knee)": a region's title with its side when known.
fn region_heading(region: &super::content::RegionReport) -> String {
    crate::grading::side::with_side(region_title(region.region), region.side)
}

fn header(flow: &mut Flow, report: &Report) {
    let title = film_side_and_view(report).map_or_else(|| "Knee radiograph: Kellgren–Lawrence grade".to_string(), |s| format!("{s} — Kellgren–Lawrence grade"));
    flow.line(17.0, 24.0, INK, title);
    flow.line(9.0, 14.0, MUTED, format!("Report created {} (UTC) by kneeclip {}", report.created.replace(['T', 'Z'], " ").trim_end(), report.kneeclip_version));
    // The decision-aid statement, on a tinted band so it cannot be missed.
    let lines = wrap(&format!("{} {}", report.statement, report.disclaimer), 10.0, CONTENT_WIDTH - 16.0);
    let height = 10.0 + 13.0 * lines.len() as f32;
    flow.y += 4.0;
    let top = flow.y;
    flow.rect(MARGIN, top, CONTENT_WIDTH, height, NOTICE_FILL);
    for (i, line) in lines.into_iter().enumerate() {
        flow.text(MARGIN + 8.0, top + 15.0 + 13.0 * i as f32, 10.0, NOTICE_INK, line);
    }
    flow.y = top + height + 6.0;
    // Wrapped: the burned-in caveat ran off the page's edge (privacy QA); one line spaces as before.
    flow.paragraph(MARGIN, CONTENT_WIDTH, 9.0, 12.0, INK, &patient_line(report));
    flow.y += 4.0;
    for region in &report.regions {
        let place = if report.regions.len() > 1 { format!("{}: ", region_heading(region)) } else { String::new() };
        let border = region
            .borderline
            .map(|[l, h]| format!("   (borderline KL {l}/{h})"))
            .or_else(|| region.uncertain.map(|[l, h]| format!("   (uncertain: KL {l} and KL {h} score alike)")))
            .unwrap_or_default();
        flow.line(14.0, 18.0, INK, format!("{place}KL {} — {}{border}", region.grade, region.grade_name));
    }
    flip_check(flow, report);
    for caution in &report.film.cautions {
        flow.paragraph(MARGIN, CONTENT_WIDTH, 10.0, 13.0, NOTICE_INK, &format!("Caution: {caution}."));
    }
    for warning in &report.warnings {
        flow.paragraph(MARGIN, CONTENT_WIDTH, 10.0, 13.0, NOTICE_INK, &format!("Warning: {warning}."));
    }
}

/// One line for the flip check of every region: muted when each mirrored
/// knee keeps its grade, a notice naming those that do not.
fn flip_check(flow: &mut Flow, report: &Report) {
    let checked: Vec<_> = report.regions.iter().filter_map(|r| Some((r, r.mirrored_grade?))).collect();
    if checked.is_empty() {
        return;
    }
    let unsure: Vec<String> = checked
        .iter()
        .filter(|(r, other)| *other != r.grade)
        .map(|(r, other)| {
            let whose = if report.regions.len() > 1 { format!("the {} grades", region_title(r.region).to_lowercase()) } else { "this knee grades".into() };
            format!("{whose} KL {other} ({})", GRADE_NAMES[*other])
        })
        .collect();
    if unsure.is_empty() {
        let same = if checked.len() > 1 { "each knee keeps its grade" } else { "the same grade" };
        flow.line(9.0, 13.0, MUTED, format!("Flip check: mirrored left–right, {same}."));
    } else {
        let text = format!("Flip check: mirrored left–right, {}: the model is unsure.", unsure.join("; "));
        flow.paragraph(MARGIN, CONTENT_WIDTH, 10.0, 13.0, NOTICE_INK, &text);
    }
}

fn film_block(flow: &mut Flow, report: &Report, film: &RgbImage, film_max: f32) {
    let aspect = film.width() as f32 / film.height().max(1) as f32;
    let (mut w, mut h) = (CONTENT_WIDTH, CONTENT_WIDTH / aspect);
    if h > film_max {
        (w, h) = (film_max * aspect, film_max);
    }
    flow.y += 4.0;
    // The caption, the heatmap's legend and the lengths under it stay with the film.
    let turned = report.film.transform().describe();
    flow.reserve(h + 16.0 + if report.film.heatmap_opacity.is_some() { 13.0 } else { 0.0 } + if turned.is_some() { 12.0 } else { 0.0 } + 12.0 * report.measurements.len() as f32);
    let x = MARGIN + (CONTENT_WIDTH - w) / 2.0;
    flow.rect(x - 0.5, flow.y - 0.5, w + 1.0, h + 1.0, INK);
    let y = flow.y;
    flow.items().push(Item::Film { x, y, w, h });
    flow.items().extend(super::edge_letters::on_film(report, x, y, w, h));
    flow.items().extend(super::lines::over_film(report, x, y, w, h));
    flow.y += h + 4.0;
    let f = &report.film;
    let mut caption = format!(
        "{} × {} px · window centre {} width {}",
        f.width,
        f.height,
        number(f.window.center),
        number(f.window.width)
    );
    if f.inverted {
        caption.push_str(" · inverted");
    }
    if let Some(opacity) = f.heatmap_opacity {
        caption.push_str(&format!(" · attention heatmap at {:.0}% over the square the model saw", opacity * 100.0));
    }
    let cx = MARGIN + (CONTENT_WIDTH - text_width(&caption, 8.0)) / 2.0;
    flow.text(cx, flow.y + 8.0, 8.0, MUTED, caption);
    flow.y += 14.0;
    // Said, not left to the letters: a mirrored film misleads on left and right.
    if let Some(turned) = turned {
        flow.paragraph(MARGIN, CONTENT_WIDTH, 9.0, 12.0, INK, &turned);
    }
    if let Some(opacity) = f.heatmap_opacity {
        heatmap_legend(flow, opacity);
    }
    for m in &report.measurements {
        flow.paragraph(MARGIN, CONTENT_WIDTH, 9.0, 12.0, INK, &m.text());
    }
}

/// The heatmap's colours, as the film shows them at `opacity` over a mid-grey
/// film: "least" (no tint) to "most" (yellow). Each knee's map is scaled to its
/// own range (explain::rollout), so the colours rank places within a knee only.
fn heatmap_legend(flow: &mut Flow, opacity: f32) {
    const STEPS: usize = 40;
    const BAR_W: f32 = 120.0;
    let (title, least, most) = (HEATMAP_LEGEND_TITLE, "least", "most");
    let width = text_width(title, 8.0) + 6.0 + text_width(least, 8.0) + 4.0 + BAR_W + 4.0 + text_width(most, 8.0);
    let mut x = MARGIN + (CONTENT_WIDTH - width) / 2.0;
    let baseline = flow.y + 8.0;
    flow.text(x, baseline, 8.0, MUTED, title);
    x += text_width(title, 8.0) + 6.0;
    flow.text(x, baseline, 8.0, MUTED, least);
    x += text_width(least, 8.0) + 4.0;
    let step = BAR_W / STEPS as f32;
    for i in 0..STEPS {
        let (rgb, alpha) = super::film::colormap((i as f32 + 0.5) / STEPS as f32);
        let a = alpha * opacity.clamp(0.0, 1.0);
        let color = rgb.map(|c| 0.5 * (1.0 - a) + c * a);
        // A hair wider than its step, so no seams show between the cells.
        flow.rect(x + i as f32 * step, flow.y + 1.5, step + 0.3, 7.0, color);
    }
    x += BAR_W + 4.0;
    flow.text(x, baseline, 8.0, MUTED, most);
    flow.y += 13.0;
}

/// The heatmap legend's title in the report, as in the viewer.
pub const HEATMAP_LEGEND_TITLE: &str = "Attention (relative, per knee):";

/// One chart per region, side by side: five rows of grade, probability bar and
/// anchor-similarity bar.
fn charts(flow: &mut Flow, report: &Report) {
    const ROW: f32 = 15.0;
    const GAP: f32 = 18.0;
    let columns = report.regions.len().max(1);
    let width = (CONTENT_WIDTH - GAP * (columns - 1) as f32) / columns as f32;
    flow.heading("Grade probabilities and anchor similarities");
    flow.reserve(20.0 + ROW * (GRADES as f32 + 1.0) + 12.0);
    let top = flow.y;
    let label_w = 78.0;
    let value_w = 34.0;
    let bar_w = (width - label_w - 2.0 * value_w - 12.0) / 2.0;
    for (column, region) in report.regions.iter().enumerate() {
        let x = MARGIN + column as f32 * (width + GAP);
        let mut y = top;
        if columns > 1 {
            flow.text(x, y + 10.0, 10.0, INK, format!("{}: KL {}", region_heading(region), region.grade));
            y += 16.0;
        }
        let prob_x = x + label_w;
        let sim_x = prob_x + bar_w + value_w + 12.0;
        flow.text(prob_x, y + 8.0, 8.0, MUTED, "probability");
        flow.text(sim_x, y + 8.0, 8.0, MUTED, "similarity (cosine)");
        y += ROW;
        let axis = SimilarityAxis::new(&region.similarities);
        for grade in 0..GRADES {
            let graded = grade == region.grade;
            if graded {
                flow.rect(x - 2.0, y - 1.0, width + 4.0, ROW - 1.0, GRADED_ROW);
            }
            let baseline = y + 10.0;
            flow.text(x, baseline, 9.0, INK, format!("KL {grade} {}", GRADE_NAMES[grade]));
            let p = region.probabilities[grade].clamp(0.0, 1.0);
            flow.rect(prob_x, y + 2.0, bar_w, 9.0, BAR_TRACK);
            flow.rect(prob_x, y + 2.0, bar_w * p, 9.0, if graded { GRADED_BAR } else { PROBABILITY_BAR });
            flow.text(prob_x + bar_w + 4.0, baseline, 8.5, INK, format!("{:.3}", region.probabilities[grade]));
            let s = region.similarities[grade];
            flow.rect(sim_x, y + 2.0, bar_w, 9.0, BAR_TRACK);
            let (from, to) = axis.bar(s);
            flow.rect(sim_x + bar_w * from, y + 2.0, bar_w * (to - from), 9.0, if s < 0.0 { NEGATIVE_BAR } else { SIMILARITY_BAR });
            if axis.zero > 0.0 {
                // The zero line, so that a short bar reads as near zero, not as least similar.
                flow.rect(sim_x + bar_w * axis.zero - 0.4, y + 1.0, 0.8, 11.0, MUTED);
            }
            flow.text(sim_x + bar_w + 4.0, baseline, 8.5, INK, format!("{s:.3}"));
            y += ROW;
        }
        flow.y = flow.y.max(y);
    }
    flow.y += 2.0;
    flow.line(7.5, 11.0, MUTED, "Probability: softmax over the five anchors (bars 0 to 1). Similarity: bars from 0, negative ones (red) to the left of the line.");
}

/// Where the similarity bars start and end, as shares of the bar's track: a
/// zero-based axis over the range of the five cosines (with 0 in it), as the
/// viewer's chart draws them. Bars scaled by |cosine| from the left had made
/// the least similar of five negative cosines the longest bar.
struct SimilarityAxis {
    low: f32,
    span: f32,
    /// The zero line's place on the track (0: its left end).
    zero: f32,
}

impl SimilarityAxis {
    fn new(similarities: &[f32]) -> SimilarityAxis {
        let low = similarities.iter().fold(0.0f32, |m, &s| m.min(s));
        let high = similarities.iter().fold(0.0f32, |m, &s| m.max(s));
        let span = (high - low).max(f32::EPSILON);
        SimilarityAxis { low, span, zero: -low / span }
    }

    /// The bar of `s`: from the zero line to its value, left to right.
    fn bar(&self, s: f32) -> (f32, f32) {
        let at = ((s - self.low) / self.span).clamp(0.0, 1.0);
        (at.min(self.zero), at.max(self.zero))
    }
}

fn anchors(flow: &mut Flow, report: &Report) {
    let a = &report.anchors;
    let state = if a.edited { "edited: not those the probabilities were calibrated with" } else { "as calibrated" };
    flow.heading(&format!("Text anchors (hash {}, {state})", a.hash));
    for (grade, text) in a.texts.iter().enumerate() {
        let label = format!("KL {grade}");
        flow.reserve(12.0);
        let y = flow.y;
        flow.text(MARGIN, y + 8.5, 8.5, MUTED, label);
        flow.paragraph(MARGIN + 32.0, CONTENT_WIDTH - 32.0, 8.5, 11.0, INK, text);
        flow.y += 1.5;
    }
}

/// The paper's texts count the grades from 1 ("Grade 1 (none)" is KL 0), as
/// the viewer's anchors panel says; said in the provenance's anchors row,
/// which has room on its line (a line of its own would shrink the film).
fn numbered_from_one(a: &super::content::AnchorsInfo) -> bool {
    a.texts.iter().enumerate().any(|(g, t)| t.trim_start().starts_with(&format!("Grade {} ", g + 1)))
}

fn details(flow: &mut Flow, report: &Report) {
    flow.heading("Provenance");
    let f = &report.film;
    let film = match (&f.file, &f.sha256) {
        (Some(name), Some(hash)) => format!("{name} (SHA-256 {hash}…)"),
        (Some(name), None) => name.clone(),
        (None, Some(hash)) => format!("file name withheld with the patient data; SHA-256 {hash}…"),
        (None, None) => "file name withheld with the patient data".into(),
    };
    let rows = [
        ("Model", report.model.clone()),
        ("Fine-tuned head", report.head.clone().unwrap_or_else(|| "none (base CLIP)".into())),
        ("Anchors", format!(
            "hash {}{}{}",
            report.anchors.hash,
            if report.anchors.edited { ", edited" } else { "" },
            if numbered_from_one(&report.anchors) { "; their texts number the grades 1–5 (Grade 1 is KL 0)" } else { "" }
        )),
        ("Arithmetic", report.arithmetic.clone()),
        ("kneeclip", report.kneeclip_version.to_owned()),
        ("Created", report.created.clone()),
        ("Film", film),
    ];
    key_values(flow, &rows);
    if !f.notes.is_empty() {
        key_values(flow, &[("Read as", f.notes.join("; "))]);
    }
    // Where each side and the view came from, so a reader can judge them.
    let mut sources: Vec<String> = report.regions.iter().filter_map(|r| {
        let side = r.side?;
        let whose = if report.regions.len() > 1 { format!("{}: ", region_title(r.region)) } else { String::new() };
        Some(format!("{whose}{}, from {}", crate::grading::side::side_words(side, f.other_region), r.side_source.as_deref().unwrap_or("?")))
    }).collect();
    sources.extend(f.view.as_ref().map(|v| format!("{v}, from {}", f.view_source.as_deref().unwrap_or("?"))));
    if !sources.is_empty() {
        key_values(flow, &[("Side and view", sources.join("; "))]);
    }
}

/// "Patient: NAME · ID 123 · born 1950-01-01", or that it was left out.
fn patient_line(report: &Report) -> String {
    match &report.patient {
        // The film's pixels go into every report: "not included" is only the text's (privacy QA: a burned-in label sat under that line).
        None => match report.film.burned_in_annotation {
            Some(true) => "Patient data not included in this report's text; the film itself carries burned-in annotation (its Burned In Annotation is YES), which may identify the patient.".into(),
            Some(false) => "Patient data not included in this report.".into(),
            None => "Patient data not included in this report's text; the film's pixels may still show burned-in text (its file does not say it has none).".into(),
        },
        Some(p) => {
            let parts: Vec<String> = [
                p.name.clone(),
                p.id.as_ref().map(|id| format!("ID {id}")),
                p.birth_date.as_ref().map(|d| format!("born {d}")),
                p.study_date.as_ref().map(|d| format!("study {d}")),
                p.accession_number.as_ref().map(|a| format!("accession {a}")),
            ]
                .into_iter()
                .flatten()
                .collect();
            if parts.is_empty() { "Patient: no patient data in the file.".into() } else { format!("Patient: {}", parts.join(" · ")) }
        }
    }
}

fn key_values(flow: &mut Flow, rows: &[(&str, String)]) {
    for (key, value) in rows {
        flow.reserve(12.0);
        let y = flow.y;
        flow.text(MARGIN, y + 8.5, 8.5, MUTED, *key);
        flow.paragraph(MARGIN + 90.0, CONTENT_WIDTH - 90.0, 8.5, 12.0, INK, value);
    }
}

/// A window value without needless decimals ("2048", "0.5").
fn number(v: f64) -> String {
    if v.fract().abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grading::{Assessment, Provenance, Region, TextAnchors};
    use crate::imaging::Radiograph;
    use crate::report::ReportInput;

    fn assessment(grade: usize) -> Assessment {
        let mut probabilities = [0.05; GRADES];
        probabilities[grade] = 0.8;
        Assessment {
            grade,
            probabilities,
            similarities: [0.21, 0.25, -0.02, 0.3, 0.1],
            provenance: Provenance { model: "m".into(), head: Some("head@0123456789ab".into()), anchors_hash: "h".into(), anchors_edited: true, arithmetic: "CPU (avx512)".into() },
        }
    }

    fn laid_out(width: u32, height: u32, results: &[(Region, Assessment)]) -> Vec<Page> {
        let film = Radiograph::from_gray8(width, height, vec![100; (width * height) as usize], "f.png").unwrap();
        let anchors = TextAnchors::default();
        let mut input = ReportInput::new(&film, results, &anchors);
        input.include_patient_data = true;
        let report = Report::new(&input).unwrap();
        pages(&report, &RgbImage::new(width, height))
    }

    fn inside_the_page(pages: &[Page]) {
        for item in pages.iter().flat_map(|p| &p.items) {
            let (x, y, w) = match item {
                Item::Text { x, y, size, text, .. } => (*x, *y, text_width(text, *size)),
                Item::Rect { x, y, w, .. } | Item::Film { x, y, w, .. } => (*x, *y, *w),
                Item::Line { x0, y0, x1, .. } => (x0.min(*x1), *y0, (x1 - x0).abs()),
            };
            assert!(x >= MARGIN - 3.0 && x + w <= PAGE_WIDTH - MARGIN + 3.0, "{item:?} is outside the margins");
            assert!(y >= MARGIN - 1.0 && y <= PAGE_HEIGHT - 20.0, "{item:?} is outside the page");
        }
    }

    #[test]
    fn similarity_bars_start_at_zero_so_the_most_similar_reaches_furthest_right() {
        // Five negative cosines (QA: the least similar, -0.074, had the longest bar).
        let axis = SimilarityAxis::new(&[-0.05, -0.06, -0.04, -0.03, -0.074]);
        assert_eq!(axis.zero, 1.0, "all negative: zero at the right end");
        let ends: Vec<f32> = [-0.05, -0.06, -0.04, -0.03, -0.074].iter().map(|&s| axis.bar(s).0).collect();
        // A bar's left end is its value: the most similar (-0.03) furthest right.
        assert!(ends[3] > ends[2] && ends[2] > ends[0] && ends[0] > ends[1] && ends[1] > ends[4] && ends[4] == 0.0, "{ends:?}");
        // Mixed: -0.112 and +0.067 on one axis, each bar from the zero line.
        let axis = SimilarityAxis::new(&[-0.112, 0.067, 0.0]);
        assert!((axis.zero - 0.112 / 0.179).abs() < 1e-6);
        assert_eq!(axis.bar(-0.112), (0.0, axis.zero));
        assert_eq!(axis.bar(0.067), (axis.zero, 1.0));
        // All positive: bars from the left end, as before.
        let axis = SimilarityAxis::new(&[0.21, 0.25, 0.3]);
        assert_eq!((axis.zero, axis.bar(0.3)), (0.0, (0.0, 1.0)));
        assert!((axis.bar(0.21).1 - 0.7).abs() < 1e-6);
    }

    #[test]
    fn the_papers_numbering_of_the_grades_is_explained() {
        let texts = |anchors: &TextAnchors| {
            let film = Radiograph::from_gray8(300, 300, vec![100; 300 * 300], "f.png").unwrap();
            let results = [(Region::Whole, assessment(2))];
            let pages = pages(&Report::new(&ReportInput::new(&film, &results, anchors)).unwrap(), &RgbImage::new(300, 300));
            pages.iter().flat_map(|p| &p.items).filter_map(|i| if let Item::Text { text, .. } = i { Some(text.clone()) } else { None }).collect::<Vec<_>>().join(" ")
        };
        assert!(texts(&TextAnchors::default()).contains("their texts number the grades 1–5 (Grade 1 is KL 0)"));
        let own = TextAnchors::new(["none", "doubtful", "mild", "moderate", "severe"].map(String::from)).unwrap();
        assert!(!texts(&own).contains("Grade 1 is KL 0"));
    }

    #[test]
    fn warnings_are_printed_under_the_grade() {
        let film = Radiograph::from_gray8(300, 300, vec![100; 300 * 300], "f.png").unwrap();
        let anchors = TextAnchors::default();
        let results = [(Region::Whole, assessment(2))];
        let warnings = ["anchor KL 3 is 9 tokens longer than the 77 CLIP reads; its end is ignored".to_string()];
        let mut input = ReportInput::new(&film, &results, &anchors);
        input.warnings = &warnings;
        let pages = pages(&Report::new(&input).unwrap(), &RgbImage::new(300, 300));
        inside_the_page(&pages);
        let texts: String = pages.iter().flat_map(|p| &p.items).filter_map(|i| if let Item::Text { text, .. } = i { Some(text.as_str()) } else { None }).collect::<Vec<_>>().join(" ");
        assert!(texts.contains("Warning: anchor KL 3 is 9 tokens longer than the 77 CLIP reads"), "{texts}");
    }

    #[test]
    fn one_knee_and_two_knees_fit_on_one_page() {
        let one = laid_out(300, 300, &[(Region::Whole, assessment(2))]);
        assert_eq!(one.len(), 1);
        inside_the_page(&one);
        // Aspect 2: the tallest a two-knee film is drawn.
        let two = laid_out(448, 224, &[(Region::ImageLeft, assessment(1)), (Region::ImageRight, assessment(4))]);
        assert_eq!(two.len(), 1);
        inside_the_page(&two);
        let texts: Vec<&str> = two[0].items.iter().filter_map(|i| if let Item::Text { text, .. } = i { Some(text.as_str()) } else { None }).collect();
        assert!(texts.iter().any(|t| t.contains("Left half of the image: KL 1")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("Right half of the image: KL 4")), "{texts:?}");
    }

    #[test]
    fn the_flip_check_fits_by_shrinking_the_film() {
        // Not blank: a blank film's caution would take the space measured here.
        let film = Radiograph::from_gray8(448, 224, (0..448 * 224).map(|i| (i % 251) as u8).collect(), "f.png").unwrap();
        let anchors = TextAnchors::default();
        let results = [(Region::ImageLeft, assessment(1)), (Region::ImageRight, assessment(4))];
        let film_height = |pages: &[Page]| pages[0].items.iter().find_map(|i| if let Item::Film { h, .. } = i { Some(*h) } else { None }).unwrap();
        let texts = |pages: &[Page]| -> Vec<String> { pages.iter().flat_map(|p| &p.items).filter_map(|i| if let Item::Text { text, .. } = i { Some(text.clone()) } else { None }).collect() };

        let mut input = ReportInput::new(&film, &results, &anchors);
        let mirror = [(Region::ImageLeft, 1), (Region::ImageRight, 4)];
        input.mirror_grades = &mirror;
        let agreeing = pages(&Report::new(&input).unwrap(), &RgbImage::new(448, 224));
        assert!(texts(&agreeing).iter().any(|t| t == "Flip check: mirrored left–right, each knee keeps its grade."), "{:?}", texts(&agreeing));

        let mirror = [(Region::ImageLeft, 2), (Region::ImageRight, 3)];
        input.mirror_grades = &mirror;
        let unsure = pages(&Report::new(&input).unwrap(), &RgbImage::new(448, 224));
        let all = texts(&unsure).join(" ");
        assert!(all.contains("the left half of the image grades KL 2 (Mild); the right half of the image grades KL 3 (Moderate): the model is unsure."), "{all}");
        for laid in [&agreeing, &unsure] {
            assert_eq!(laid.len(), 1, "one page");
            inside_the_page(laid);
            assert!(film_height(laid) < FILM_MAX_HEIGHT && film_height(laid) >= FILM_MIN_HEIGHT, "{}", film_height(laid));
        }
        // Without the check the film keeps its full height.
        input.mirror_grades = &[];
        let unchecked = pages(&Report::new(&input).unwrap(), &RgbImage::new(448, 224));
        assert_eq!(film_height(&unchecked), FILM_MAX_HEIGHT);
        assert!(!texts(&unchecked).join(" ").contains("Flip check"));
    }

    #[test]
    fn long_anchors_flow_onto_a_second_page() {
        let film = Radiograph::from_gray8(300, 300, vec![100; 90_000], "f.png").unwrap();
        let anchors = TextAnchors::new(std::array::from_fn(|g| format!("grade {g} ") + &"osteophytes and narrowing ".repeat(40))).unwrap();
        let results = [(Region::Whole, assessment(0))];
        let report = Report::new(&ReportInput::new(&film, &results, &anchors)).unwrap();
        let pages = pages(&report, &RgbImage::new(300, 300));
        assert_eq!(pages.len(), 2);
        inside_the_page(&pages);
    }

    #[test]
    fn the_title_and_each_half_say_the_knee_side_when_the_file_does() {
        let texts = |pages: &[Page]| -> Vec<String> { pages.iter().flat_map(|p| &p.items).filter_map(|i| if let Item::Text { text, .. } = i { Some(text.clone()) } else { None }).collect() };
        let anchors = TextAnchors::default();
        let film = Radiograph::from_gray8(300, 300, vec![100; 90_000], "9001695L.png").unwrap();
        let results = [(Region::Whole, assessment(2))];
        let one = texts(&pages(&Report::new(&ReportInput::new(&film, &results, &anchors)).unwrap(), &RgbImage::new(300, 300)));
        assert_eq!(one[0], "Left knee — Kellgren–Lawrence grade");
        assert!(one.iter().any(|t| t == "left knee, from file name"), "{one:?}");
        // Nothing stated: the title as before, and no side for either half.
        let film = Radiograph::from_gray8(448, 224, vec![100; 448 * 224], "both.png").unwrap();
        let results = [(Region::ImageLeft, assessment(1)), (Region::ImageRight, assessment(4))];
        let two = texts(&pages(&Report::new(&ReportInput::new(&film, &results, &anchors)).unwrap(), &RgbImage::new(448, 224)));
        assert_eq!(two[0], "Knee radiograph: Kellgren–Lawrence grade");
        assert!(two.iter().any(|t| t == "Left half of the image: KL 1"), "{two:?}");
    }

    #[test]
    fn a_heatmap_comes_with_its_legend() {
        let film = Radiograph::from_gray8(300, 300, vec![100; 90_000], "f.png").unwrap();
        let anchors = TextAnchors::default();
        let results = [(Region::Whole, assessment(2))];
        let maps = [(Region::Whole, crate::explain::Heatmap { grid: 2, values: vec![0.0, 0.3, 0.6, 1.0] })];
        let mut input = ReportInput::new(&film, &results, &anchors);
        let legend_cells = |pages: &[Page]| -> Vec<Rgb> {
            let title_y = pages[0].items.iter().find_map(|i| match i { Item::Text { y, text, .. } if text == HEATMAP_LEGEND_TITLE => Some(*y), _ => None });
            let Some(title_y) = title_y else { return Vec::new() };
            pages[0].items.iter().filter_map(|i| match i { Item::Rect { y, h, color, .. } if *h == 7.0 && (y - (title_y - 6.5)).abs() < 0.01 => Some(*color), _ => None }).collect()
        };
        let plain = pages(&Report::new(&input).unwrap(), &RgbImage::new(300, 300));
        assert!(legend_cells(&plain).is_empty(), "a legend without a heatmap");
        input.heatmaps = &maps;
        input.heatmap_opacity = 0.5;
        let tinted = pages(&Report::new(&input).unwrap(), &RgbImage::new(300, 300));
        assert_eq!(tinted.len(), 1);
        inside_the_page(&tinted);
        let cells = legend_cells(&tinted);
        assert_eq!(cells.len(), 40, "{cells:?}");
        // From the film's own grey (no tint) to half-opaque yellow over it.
        assert!(cells[0].iter().all(|c| (c - 0.5).abs() < 0.03), "{:?}", cells[0]);
        let last = cells[39];
        assert!(last[0] > 0.7 && last[1] > 0.65 && last[2] < 0.4, "{last:?}");
    }

    #[test]
    fn numbers_lose_needless_decimals() {
        assert_eq!(number(2048.0), "2048");
        assert_eq!(number(127.5), "127.50");
    }
}
