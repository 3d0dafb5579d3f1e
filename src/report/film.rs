//! The film as displayed: the caller's window/level and invert, scaled down for
//! the page, with the attention heatmap blended over the square each region's
//! grade came from, then turned and flipped as the viewer showed it (the
//! heatmap with it). The whole film, whatever the viewer's zoom and pan: a
//! report records the film, not the part of it that was on screen.

use image::{GrayImage, RgbImage, imageops};

use super::ReportInput;
use crate::explain::Heatmap;
use crate::grading::Region;

/// Longest side of the film image in a report, in pixels: over 300 dpi at the
/// size the page shows it, and a few hundred kB in the PDF.
pub const MAX_SIDE: u32 = 1200;

pub fn displayed(input: &ReportInput<'_>, max_side: u32) -> RgbImage {
    let shown = input.film.render(input.window, input.invert);
    let (width, height) = (shown.width, shown.height);
    let gray: Vec<u8> = shown.data.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let gray = GrayImage::from_raw(width, height, gray).expect("render gives width × height values");
    let scale = (max_side as f32 / width.max(height) as f32).min(1.0);
    let (w, h) = (((width as f32 * scale).round() as u32).max(1), ((height as f32 * scale).round() as u32).max(1));
    let gray = if (w, h) == (width, height) { gray } else { imageops::resize(&gray, w, h, imageops::FilterType::Triangle) };
    let mut rgb = RgbImage::from_fn(w, h, |x, y| {
        let v = gray.get_pixel(x, y).0[0];
        image::Rgb([v, v, v])
    });
    for (region, map) in input.heatmaps {
        blend_heatmap(&mut rgb, width, height, *region, map, input.heatmap_opacity);
    }
    // Last, so the heatmap's squares (in stored film pixels) turn with the film.
    input.view.image(rgb)
}

/// The square the model saw of `region` in a film `width` × `height`, as
/// (left, top, side) in film pixels: CLIP resizes the shortest side and
/// centre-crops, so it is the region's centred square (as the viewer draws it).
pub fn model_square(region: Region, width: u32, height: u32) -> (f32, f32, f32) {
    let cols = region.columns(width as usize);
    let (x0, w, h) = (cols.start as f32, cols.len() as f32, height as f32);
    let side = w.min(h);
    (x0 + (w - side) / 2.0, (h - side) / 2.0, side)
}

/// Blends `map` over its model square of `image` (the film scaled from
/// `film_width` × `film_height`), bilinearly interpolated like the viewer's texture.
fn blend_heatmap(image: &mut RgbImage, film_width: u32, film_height: u32, region: Region, map: &Heatmap, opacity: f32) {
    if map.grid == 0 || map.values.len() != map.grid * map.grid {
        return;
    }
    let scale = image.width() as f32 / film_width as f32;
    let (left, top, side) = model_square(region, film_width, film_height);
    let (left, top, side) = (left * scale, top * scale, side * scale);
    let x_range = (left.floor().max(0.0) as u32)..((left + side).ceil() as u32).min(image.width());
    let y_range = (top.floor().max(0.0) as u32)..((top + side).ceil() as u32).min(image.height());
    for y in y_range {
        for x in x_range.clone() {
            let u = (x as f32 + 0.5 - left) / side;
            let v = (y as f32 + 0.5 - top) / side;
            if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                continue;
            }
            let value = sample(map, u, v);
            let (color, alpha) = colormap(value);
            let a = alpha * opacity.clamp(0.0, 1.0);
            let pixel = image.get_pixel_mut(x, y);
            for (channel, c) in pixel.0.iter_mut().zip(color) {
                *channel = (*channel as f32 * (1.0 - a) + c * 255.0 * a).round() as u8;
            }
        }
    }
}

/// Bilinear sample of the map at (u, v) in [0, 1)², cell centres at (i + ½)/grid.
fn sample(map: &Heatmap, u: f32, v: f32) -> f32 {
    let g = map.grid;
    let fx = (u * g as f32 - 0.5).clamp(0.0, (g - 1) as f32);
    let fy = (v * g as f32 - 0.5).clamp(0.0, (g - 1) as f32);
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(g - 1), (y0 + 1).min(g - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let at = |x: usize, y: usize| map.values[y * g + x];
    let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
    let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
    top * (1.0 - ty) + bottom * ty
}

/// Viridis (matplotlib's, nine even stops): dark violet → teal → yellow.
const VIRIDIS: [[u8; 3]; 9] = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140], [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37]];

/// The viewer's and the reports' colour map: viridis, which grows lighter all
/// the way and reads the same to red–green colour-blind eyes (accessibility QA:
/// the old blue → yellow → red put its "most" red beside yellow, one colour to
/// a deuteranope, and darker than the middle). The alpha follows the value,
/// so that where the model paid no attention the film shows through.
pub fn colormap(value: f32) -> ([f32; 3], f32) {
    let v = value.clamp(0.0, 1.0);
    let x = v * (VIRIDIS.len() - 1) as f32;
    let (i, t) = ((x.floor() as usize).min(VIRIDIS.len() - 2), x - (x.floor()).min((VIRIDIS.len() - 2) as f32));
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let rgb = [0, 1, 2].map(|c| (a[c] as f32 + (b[c] as f32 - a[c] as f32) * t) / 255.0);
    (rgb, v.powf(0.7))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grading::TextAnchors;
    use crate::imaging::Radiograph;

    /// Lighter all the way (relative luminance rises with the value), so the
    /// most-looked-at place is the lightest whatever the reader's colour vision.
    #[test]
    fn the_colour_map_grows_lighter_all_the_way() {
        let luminance = |v: f32| {
            let ([r, g, b], _) = colormap(v);
            0.2126 * r + 0.7152 * g + 0.0722 * b
        };
        let steps: Vec<f32> = (0..=100).map(|i| luminance(i as f32 / 100.0)).collect();
        assert!(steps.windows(2).all(|w| w[1] > w[0]), "{steps:?}");
        assert_eq!(colormap(0.0).0, [68.0 / 255.0, 1.0 / 255.0, 84.0 / 255.0]);
        assert_eq!(colormap(1.0).0, [253.0 / 255.0, 231.0 / 255.0, 37.0 / 255.0]);
    }

    /// A 400×200 mid-grey film (two knees, each region's square 200×200)
    /// with full attention over the image's right half, fully opaque, drawn
    /// 100 px wide with each of `views`.
    fn tinted_wide(views: &[crate::report::ViewTransform]) -> Vec<RgbImage> {
        let film = Radiograph::from_gray8(400, 200, vec![128; 400 * 200], "wide.png").unwrap();
        let anchors = TextAnchors::default();
        let maps = [(Region::ImageRight, Heatmap { grid: 2, values: vec![1.0; 4] })];
        let mut input = ReportInput::new(&film, &[], &anchors);
        input.heatmaps = &maps;
        input.heatmap_opacity = 1.0;
        views.iter().map(|&view| displayed(&ReportInput { view, ..input.clone() }, 100)).collect()
    }

    #[test]
    fn the_heatmap_tints_only_its_square_and_the_film_is_scaled() {
        let image = &tinted_wide(&[crate::report::ViewTransform::default()])[0];
        assert_eq!(image.dimensions(), (100, 50));
        assert_eq!(image.get_pixel(10, 25).0, [128, 128, 128], "left half untouched");
        assert_eq!(image.get_pixel(80, 25).0, [253, 231, 37], "full attention is opaque yellow");
    }

    #[test]
    fn the_film_and_its_heatmap_turn_and_flip_as_shown() {
        // Flipped left–right, then a quarter turn clockwise.
        let images = tinted_wide(&[crate::report::ViewTransform::new(0, true, false), crate::report::ViewTransform::new(1, false, false)]);
        let image = &images[0];
        assert_eq!((image.get_pixel(10, 25).0, image.get_pixel(80, 25).0), ([253, 231, 37], [128, 128, 128]), "flipped: the image's right half is on the left");
        // A quarter turn clockwise: the image's right half goes to the bottom.
        let image = &images[1];
        assert_eq!(image.dimensions(), (50, 100));
        assert_eq!((image.get_pixel(25, 10).0, image.get_pixel(25, 80).0), ([128, 128, 128], [253, 231, 37]));
    }

    #[test]
    fn the_film_flipped_is_the_mirror_of_the_film_as_stored() {
        let film = Radiograph::from_gray8(300, 120, (0..300 * 120).map(|i| (i * 7 % 253) as u8).collect(), "f.png").unwrap();
        let anchors = TextAnchors::default();
        let mut input = ReportInput::new(&film, &[], &anchors);
        let stored = displayed(&input, 100);
        input.view = crate::report::ViewTransform::new(0, true, false);
        assert_eq!(displayed(&input, 100), imageops::flip_horizontal(&stored));
        input.view = crate::report::ViewTransform::new(3, false, false);
        assert_eq!(displayed(&input, 100), imageops::rotate270(&stored));
    }

    #[test]
    fn window_and_invert_are_applied() {
        let film = Radiograph::from_gray8(2, 1, vec![0, 255], "two.png").unwrap();
        let anchors = TextAnchors::default();
        let mut input = ReportInput::new(&film, &[], &anchors);
        input.invert = true;
        let image = displayed(&input, 10);
        assert_eq!((image.get_pixel(0, 0).0[0], image.get_pixel(1, 0).0[0]), (255, 0));
    }
}
