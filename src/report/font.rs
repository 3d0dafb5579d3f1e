//! The one typeface of every report (Cantarell Regular, SIL OFL 1.1; see
//! assets/fonts/OFL.txt), embedded in the binary. The PDF embeds the same file
//! and the PNG rasterises it, and both place glyphs by these advances, so the
//! layout measures text once for both.

use ab_glyph::{Font, FontRef, GlyphId};

/// The TrueType file, small enough (31 KB) to embed whole in every PDF.
pub const TTF: &[u8] = include_bytes!("../../assets/fonts/Cantarell-Regular.ttf");

/// PostScript name of the font, for the PDF font dictionaries.
pub const POSTSCRIPT_NAME: &str = "Cantarell-Regular";

/// The parsed font. Parsing only reads the table directory, so it is cheap.
pub fn face() -> FontRef<'static> {
    FontRef::try_from_slice(TTF).expect("the embedded font is a valid TrueType file")
}

/// Font units per em.
pub fn units_per_em() -> f32 {
    face().units_per_em().unwrap_or(1000.0)
}

/// The glyph for `c` (glyph 0, the "missing" box, for characters the font lacks).
pub fn glyph(font: &FontRef<'_>, c: char) -> GlyphId {
    font.glyph_id(c)
}

/// Width of `text` at `size` points, without kerning (neither backend kerns).
pub fn text_width(text: &str, size: f32) -> f32 {
    let font = face();
    let units: f32 = text.chars().map(|c| font.h_advance_unscaled(font.glyph_id(c))).sum();
    units * size / units_per_em()
}

/// Breaks `text` into lines no wider than `max_width` at `size` points, at
/// spaces where possible; a single word wider than a line is split.
pub fn wrap(text: &str, size: f32, max_width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if text_width(&candidate, size) <= max_width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // The word alone: split it by characters when even it does not fit.
        for c in word.chars() {
            let mut longer = line.clone();
            longer.push(c);
            if !line.is_empty() && text_width(&longer, size) > max_width {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = longer;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_respects_the_width() {
        let text = "moderate multiple osteophytes, definite narrowing of joint space, some sclerosis";
        let lines = wrap(text, 10.0, 120.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 10.0) <= 120.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let long = "x".repeat(200);
        let parts = wrap(&long, 10.0, 50.0);
        assert!(parts.len() > 2 && parts.concat() == long);
        assert_eq!(wrap("", 10.0, 50.0), vec![String::new()]);
    }

    #[test]
    fn the_font_has_the_report_characters() {
        let font = face();
        for c in "KL 0–4 Kellgren–Lawrence · × ± é ü 0123456789%".chars().filter(|c| *c != ' ') {
            assert_ne!(glyph(&font, c), GlyphId(0), "{c:?} is missing from the report font");
        }
    }
}
