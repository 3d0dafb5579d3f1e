//! The frame size a compressed codestream declares in its own header (JPEG's
//! and JPEG-LS's SOF, JPEG 2000's SIZ), read before decoding. Decoders size
//! their buffers from it, not from the DICOM header's Rows and Columns,
//! which the load limits check: a JPEG claiming 65535×65535 inside a film the
//! header calls 1296×2421 made the decoder take 18 GB before it failed.

/// (width, height) from the start of a JPEG, JPEG-LS or JPEG 2000 codestream,
/// or `None` when it cannot be found there (then the decoder judges).
pub(crate) fn coded_size(codec: &str, stream: &[u8]) -> Option<(u32, u32)> {
    match codec {
        "JPEG" | "JPEG-LS" => jpeg_frame_size(stream),
        "JPEG 2000" | "HTJ2K" => j2k_image_size(stream),
        _ => None,
    }
}

/// The first start-of-frame segment's size (SOF0–SOF15 but DHT, JPG and DAC;
/// JPEG-LS's SOF55). A height of 0 is set later by a DNL segment: unknown.
fn jpeg_frame_size(s: &[u8]) -> Option<(u32, u32)> {
    if !s.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= s.len() {
        if s[at] != 0xFF {
            return None;
        }
        let marker = s[at + 1];
        match marker {
            0xFF => at += 1, // fill byte
            0x01 | 0xD0..=0xD7 => at += 2,
            0xD9 | 0xDA => return None, // no frame header before the scan
            _ => {
                let length = usize::from(u16::from_be_bytes([s[at + 2], s[at + 3]]));
                let sof = matches!(marker, 0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC)) || marker == 0xF7;
                if sof {
                    let h = s.get(at + 5..at + 7)?;
                    let w = s.get(at + 7..at + 9)?;
                    let (h, w) = (u16::from_be_bytes([h[0], h[1]]), u16::from_be_bytes([w[0], w[1]]));
                    return (h > 0).then_some((u32::from(w), u32::from(h)));
                }
                at += 2 + length;
            }
        }
    }
    None
}

/// SIZ's reference grid less its image offset, from a raw codestream (SOC,
/// then SIZ) or one inside a JP2 file's boxes.
fn j2k_image_size(s: &[u8]) -> Option<(u32, u32)> {
    let start = s.windows(4).take(4096).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    let siz = s.get(start + 4..start + 4 + 2 + 2 + 16)?;
    let u32_at = |i: usize| u32::from_be_bytes([siz[i], siz[i + 1], siz[i + 2], siz[i + 3]]);
    let (x, y, x0, y0) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
    Some((x.checked_sub(x0)?, y.checked_sub(y0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_frame_header_is_found_after_other_segments() {
        // SOI, APP0 (length 16), DQT (length 4, cut short of a table: only its length matters), SOF0 500 high 300 wide.
        let mut s = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        s.extend([0u8; 14]);
        s.extend([0xFF, 0xDB, 0, 4, 0, 0]);
        s.extend([0xFF, 0xC0, 0, 11, 8, 0x01, 0xF4, 0x01, 0x2C, 1, 1, 0x11, 0]);
        assert_eq!(coded_size("JPEG", &s), Some((300, 500)));
        // Lossless (SOF3), and JPEG-LS (SOF55).
        let i = s.len() - 13 + 1;
        s[i] = 0xC3;
        assert_eq!(coded_size("JPEG", &s), Some((300, 500)));
        s[i] = 0xF7;
        assert_eq!(coded_size("JPEG-LS", &s), Some((300, 500)));
        // A DHT (C4) is no frame; a height of 0 waits for a DNL: unknown.
        s[i] = 0xC4;
        assert_eq!(coded_size("JPEG", &s), None);
        s[i] = 0xC0;
        s[i + 4] = 0;
        s[i + 5] = 0;
        assert_eq!(coded_size("JPEG", &s), None);
        assert_eq!(coded_size("JPEG", b"not a jpeg"), None);
        assert_eq!(coded_size("RLE", &s), None);
    }

    #[test]
    fn a_jpeg_2000_image_size_is_its_grid_less_its_offset() {
        let mut s = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [2100u32, 1900, 100, 0, 64, 64, 0, 0] {
            s.extend(v.to_be_bytes());
        }
        assert_eq!(coded_size("JPEG 2000", &s), Some((2000, 1900)));
        assert_eq!(coded_size("JPEG 2000", &s[..12]), None, "cut short");
    }
}
