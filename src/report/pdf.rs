//! The pages as a PDF (with `pdf-writer`): the film as one Flate-compressed
//! image (gray, or RGB with a heatmap), text in the embedded report font (a TrueType CID font with a
//! ToUnicode map, so the text can be searched and copied), bars as filled
//! rectangles.

use std::collections::BTreeMap;

use ab_glyph::Font;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use image::RgbImage;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::content::Report;
use super::font;
use super::layout::{Item, PAGE_HEIGHT, PAGE_WIDTH, Page};

const FONT_NAME: Name<'static> = Name(b"F1");
const FILM_NAME: Name<'static> = Name(b"Film");
/// Glyph ids are the character codes ("Identity"), two bytes each.
const IDENTITY: SystemInfo<'static> = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

/// Allocates object numbers in order.
struct Ids(i32);

impl Ids {
    fn next(&mut self) -> Ref {
        self.0 += 1;
        Ref::new(self.0)
    }
}

pub fn write(pages: &[Page], film: &RgbImage, report: &Report) -> Vec<u8> {
    let mut ids = Ids(0);
    let catalog = ids.next();
    let tree = ids.next();
    let info = ids.next();
    let film_id = ids.next();
    let font_id = ids.next();
    let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (ids.next(), ids.next())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().map(|(page, _)| *page)).count(pages.len() as i32);
    let creator = format!("kneeclip {}", report.kneeclip_version);
    let mut document = pdf.document_info(info);
    document.title(TextStr("Knee radiograph: Kellgren–Lawrence grade (kneeclip report)"));
    document.creator(TextStr(&creator));
    document.producer(TextStr(&creator));
    if let Some(date) = pdf_date(&report.created) {
        document.creation_date(date);
    }
    document.finish();

    let font = font::face();
    let mut used: BTreeMap<u16, char> = BTreeMap::new();
    for ((page_id, content_id), page) in page_ids.iter().zip(pages) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        p.parent(tree);
        p.contents(*content_id);
        let mut resources = p.resources();
        resources.fonts().pair(FONT_NAME, font_id);
        resources.x_objects().pair(FILM_NAME, film_id);
        resources.finish();
        p.finish();
        let content = page_content(page, &font, &mut used);
        pdf.stream(*content_id, &deflate(&content)).filter(Filter::FlateDecode);
    }

    // Without a heatmap the film is gray: one channel is a third of the bytes.
    let gray = film.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]);
    let samples: Vec<u8> = if gray { film.pixels().map(|p| p.0[0]).collect() } else { film.as_raw().clone() };
    let compressed = deflate(&samples);
    let mut image = pdf.image_xobject(film_id, &compressed);
    image.filter(Filter::FlateDecode);
    image.width(film.width() as i32);
    image.height(film.height() as i32);
    if gray {
        image.color_space().device_gray();
    } else {
        image.color_space().device_rgb();
    }
    image.bits_per_component(8);
    image.finish();

    embed_font(&mut pdf, &mut ids, font_id, &font, &used);
    pdf.finish()
}

/// One page's drawing operators; `used` collects the glyphs shown, for the
/// ToUnicode map.
fn page_content(page: &Page, font: &ab_glyph::FontRef<'_>, used: &mut BTreeMap<u16, char>) -> Vec<u8> {
    let mut content = Content::new();
    for item in &page.items {
        match item {
            Item::Rect { x, y, w, h, color } => {
                if *w <= 0.0 || *h <= 0.0 {
                    continue;
                }
                content.set_fill_rgb(color[0], color[1], color[2]);
                content.rect(*x, PAGE_HEIGHT - y - h, *w, *h);
                content.fill_nonzero();
            }
            Item::Film { x, y, w, h } => {
                content.save_state();
                content.transform([*w, 0.0, 0.0, *h, *x, PAGE_HEIGHT - y - h]);
                content.x_object(FILM_NAME);
                content.restore_state();
            }
            Item::Line { x0, y0, x1, y1, width, color } => {
                content.set_stroke_rgb(color[0], color[1], color[2]);
                content.set_line_width(*width);
                content.set_line_cap(pdf_writer::types::LineCapStyle::RoundCap);
                content.move_to(*x0, PAGE_HEIGHT - y0);
                content.line_to(*x1, PAGE_HEIGHT - y1);
                content.stroke();
            }
            Item::Text { x, y, size, color, text } => {
                let mut codes = Vec::with_capacity(text.len() * 2);
                for c in text.chars() {
                    let glyph = font::glyph(font, c).0;
                    used.entry(glyph).or_insert(c);
                    codes.extend_from_slice(&glyph.to_be_bytes());
                }
                content.set_fill_rgb(color[0], color[1], color[2]);
                content.begin_text();
                content.set_font(FONT_NAME, *size);
                content.next_line(*x, PAGE_HEIGHT - y);
                content.show(Str(&codes));
                content.end_text();
            }
        }
    }
    content.finish().to_vec()
}

/// The whole TrueType file as a Type 0 font over a CIDFontType2, glyph ids as
/// codes, every glyph's advance in /W.
fn embed_font(pdf: &mut Pdf, ids: &mut Ids, font_id: Ref, font: &ab_glyph::FontRef<'_>, used: &BTreeMap<u16, char>) {
    let cid_id = ids.next();
    let descriptor_id = ids.next();
    let file_id = ids.next();
    let cmap_id = ids.next();
    let name = Name(font::POSTSCRIPT_NAME.as_bytes());
    let to_pdf = 1000.0 / font::units_per_em();

    pdf.type0_font(font_id)
        .base_font(name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_id)
        .to_unicode(cmap_id);

    let mut cid = pdf.cid_font(cid_id);
    cid.subtype(CidFontType::Type2);
    cid.base_font(name);
    cid.system_info(IDENTITY);
    cid.font_descriptor(descriptor_id);
    cid.cid_to_gid_map_predefined(Name(b"Identity"));
    let glyphs = font.glyph_count() as u16;
    let widths = (0..glyphs).map(|g| font.h_advance_unscaled(ab_glyph::GlyphId(g)) * to_pdf);
    cid.widths().consecutive(0, widths);
    cid.finish();

    // The box around every glyph, and the cap height from "H".
    let bounds = (0..glyphs).filter_map(|g| font.outline(ab_glyph::GlyphId(g))).map(|o| o.bounds);
    let (x0, y0, x1, y1) = bounds.fold((0f32, 0f32, 0f32, 0f32), |(a, b, c, d), r| {
        (a.min(r.min.x), b.min(r.min.y), c.max(r.max.x), d.max(r.max.y))
    });
    let cap = font.outline(font.glyph_id('H')).map_or(font.ascent_unscaled(), |o| o.bounds.max.y);
    pdf.font_descriptor(descriptor_id)
        .name(name)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(x0 * to_pdf, y0 * to_pdf, x1 * to_pdf, y1 * to_pdf))
        .italic_angle(0.0)
        .ascent(font.ascent_unscaled() * to_pdf)
        .descent(font.descent_unscaled() * to_pdf)
        .cap_height(cap * to_pdf)
        .stem_v(80.0)
        .font_file2(file_id);

    pdf.stream(file_id, &deflate(font::TTF))
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), font::TTF.len() as i32);

    let mut cmap = UnicodeCmap::new(Name(b"Custom"), IDENTITY);
    for (&glyph, &c) in used {
        cmap.pair(glyph, c);
    }
    pdf.cmap(cmap_id, &cmap.finish());
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The report's "YYYY-MM-DDTHH:MM:SSZ" as a PDF date.
fn pdf_date(created: &str) -> Option<Date> {
    let n = |range: std::ops::Range<usize>| created.get(range)?.parse::<u16>().ok();
    Some(
        Date::new(n(0..4)?)
            .month(n(5..7)? as u8)
            .day(n(8..10)? as u8)
            .hour(n(11..13)? as u8)
            .minute(n(14..16)? as u8)
            .second(n(17..19)? as u8)
            .utc_offset_hour(0),
    )
}
