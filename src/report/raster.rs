//! The pages as one PNG at 150 dpi (1240 × 1754 pixels per A4 page; pages,
//! when there is more than one, stacked top to bottom), text rasterised with
//! `ab_glyph` from the same font the PDF embeds.

use ab_glyph::{Font, Glyph, PxScale, point};
use image::{ImageEncoder, Rgb, RgbImage, imageops};

use super::font;
use super::layout::{Item, PAGE_HEIGHT, PAGE_WIDTH, Page};

pub const DPI: f32 = 150.0;
const SCALE: f32 = DPI / 72.0;

/// Pixel size of one page.
pub fn page_pixels() -> (u32, u32) {
    ((PAGE_WIDTH * SCALE).round() as u32, (PAGE_HEIGHT * SCALE).round() as u32)
}

pub fn render(pages: &[Page], film: &RgbImage) -> RgbImage {
    let (width, height) = page_pixels();
    let mut canvas = RgbImage::from_pixel(width, height * pages.len().max(1) as u32, Rgb([255, 255, 255]));
    for (i, page) in pages.iter().enumerate() {
        let top = (i as u32 * height) as f32;
        for item in &page.items {
            match item {
                Item::Rect { x, y, w, h, color } => fill(&mut canvas, *x, *y, *w, *h, top, *color),
                Item::Film { x, y, w, h } => {
                    let (px, py) = ((x * SCALE).round() as i64, (top + y * SCALE).round() as i64);
                    let (pw, ph) = (((w * SCALE).round() as u32).max(1), ((h * SCALE).round() as u32).max(1));
                    let scaled = imageops::resize(film, pw, ph, imageops::FilterType::Triangle);
                    imageops::overlay(&mut canvas, &scaled, px, py);
                }
                Item::Text { x, y, size, color, text } => draw_text(&mut canvas, *x, *y, *size, top, *color, text),
                Item::Line { x0, y0, x1, y1, width, color } => line(&mut canvas, [*x0, *y0, *x1, *y1], *width, top, *color),
            }
        }
    }
    canvas
}

/// The PNG file's bytes.
pub fn png(pages: &[Page], film: &RgbImage) -> Result<Vec<u8>, String> {
    let canvas = render(pages, film);
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(canvas.as_raw(), canvas.width(), canvas.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Fills a rectangle given in points, with anti-aliased edges (coverage per pixel).
fn fill(canvas: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, top: f32, color: [f32; 3]) {
    if w <= 0.0 || h <= 0.0 {
        return;
    }
    let (x0, x1) = (x * SCALE, (x + w) * SCALE);
    let (y0, y1) = (top + y * SCALE, top + (y + h) * SCALE);
    let cols = (x0.floor().max(0.0) as u32)..(x1.ceil() as u32).min(canvas.width());
    let rows = (y0.floor().max(0.0) as u32)..(y1.ceil() as u32).min(canvas.height());
    for py in rows {
        let cover_y = overlap(py as f32, y0, y1);
        for px in cols.clone() {
            blend(canvas, px, py, color, cover_y * overlap(px as f32, x0, x1));
        }
    }
}

/// A line with round ends, given in points, anti-aliased by each pixel
/// centre's distance from the segment.
fn line(canvas: &mut RgbImage, [x0, y0, x1, y1]: [f32; 4], width: f32, top: f32, color: [f32; 3]) {
    let (ax, ay, bx, by) = (x0 * SCALE, top + y0 * SCALE, x1 * SCALE, top + y1 * SCALE);
    let half = width * SCALE / 2.0;
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    let cols = ((ax.min(bx) - half - 1.0).floor().max(0.0) as u32)..((ax.max(bx) + half + 1.0).ceil().max(0.0) as u32).min(canvas.width());
    let rows = ((ay.min(by) - half - 1.0).floor().max(0.0) as u32)..((ay.max(by) + half + 1.0).ceil().max(0.0) as u32).min(canvas.height());
    for py in rows {
        for px in cols.clone() {
            let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
            let t = (((cx - ax) * dx + (cy - ay) * dy) / len2).clamp(0.0, 1.0);
            let d = (cx - ax - t * dx).hypot(cy - ay - t * dy);
            blend(canvas, px, py, color, (half + 0.5 - d).clamp(0.0, 1.0));
        }
    }
}

/// How much of the pixel [p, p + 1) lies within [a, b].
fn overlap(p: f32, a: f32, b: f32) -> f32 {
    ((p + 1.0).min(b) - p.max(a)).clamp(0.0, 1.0)
}

fn blend(canvas: &mut RgbImage, x: u32, y: u32, color: [f32; 3], coverage: f32) {
    if coverage <= 0.0 || x >= canvas.width() || y >= canvas.height() {
        return;
    }
    let pixel = canvas.get_pixel_mut(x, y);
    for (channel, c) in pixel.0.iter_mut().zip(color) {
        *channel = (*channel as f32 * (1.0 - coverage) + c * 255.0 * coverage).round() as u8;
    }
}

/// Text with its baseline at (`x`, `baseline`) points, `size` points per em,
/// glyphs advanced exactly as the layout measured them.
fn draw_text(canvas: &mut RgbImage, x: f32, baseline: f32, size: f32, top: f32, color: [f32; 3], text: &str) {
    let face = font::face();
    let em = size * SCALE;
    // ab_glyph's scale is the height from descent to ascent, not the em.
    let scale = PxScale::from(em * face.height_unscaled() / font::units_per_em());
    let mut pen = x * SCALE;
    let base = top + baseline * SCALE;
    for c in text.chars() {
        let id = font::glyph(&face, c);
        let glyph = Glyph { id, scale, position: point(pen, base) };
        if let Some(outlined) = face.outline_glyph(glyph) {
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                let (px, py) = (bounds.min.x + gx as f32, bounds.min.y + gy as f32);
                if px >= 0.0 && py >= 0.0 {
                    blend(canvas, px as u32, py as u32, color, coverage);
                }
            });
        }
        pen += face.h_advance_unscaled(id) * em / font::units_per_em();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a4_at_150_dpi() {
        assert_eq!(page_pixels(), (1240, 1754));
    }

    #[test]
    fn text_and_rectangles_leave_ink() {
        let page = Page {
            items: vec![
                Item::Rect { x: 10.0, y: 10.0, w: 20.0, h: 5.0, color: [0.0, 0.0, 0.0] },
                Item::Text { x: 10.0, y: 40.0, size: 12.0, color: [0.0, 0.0, 0.0], text: "KL 2".into() },
            ],
        };
        let image = render(&[page], &RgbImage::new(1, 1));
        let dark = |x0: u32, y0: u32, x1: u32, y1: u32| {
            (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| image.get_pixel(x, y).0[0] < 128).count()
        };
        assert_eq!(dark(21, 21, 62, 31), 41 * 10, "the rectangle is solid");
        assert!(dark(20, 60, 80, 84) > 50, "the text is drawn above its baseline");
        assert_eq!(dark(0, 0, 20, 20), 0, "nothing else is drawn");
    }

    #[test]
    fn lines_are_drawn_along_their_length_only() {
        let page = Page { items: vec![Item::Line { x0: 10.0, y0: 100.0, x1: 110.0, y1: 100.0, width: 2.0, color: [0.0, 0.0, 0.0] }] };
        let image = render(&[page], &RgbImage::new(1, 1));
        let y = (100.0 * SCALE) as u32;
        assert!((25..225).all(|x| image.get_pixel(x, y).0[0] < 64), "solid along the line");
        assert_eq!(image.get_pixel(250, y).0[0], 255, "nothing past its end");
        assert_eq!(image.get_pixel(100, y + 5).0[0], 255, "nothing beside it");
    }
}
