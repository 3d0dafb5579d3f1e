//! A small sequential (baseline / extended, Huffman) JPEG decoder for one-component
//! images of 8 or 12 bits, used where `jpeg-decoder` refuses 12-bit lossy JPEG
//! (DICOM "JPEG Extended (Process 2 & 4)", 1.2.840.10008.1.2.4.51).
//!
//! It validates the stream strictly: a malformed stream is an error, never garbage.

/// Natural (row-major) position of the k-th coefficient in zig-zag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A decoded single-component image.
pub(crate) struct Gray {
    pub width: u32,
    pub height: u32,
    pub precision: u8,
    pub samples: Vec<u16>,
    /// A deviation from the standard read past, as libjpeg and DCMTK read it.
    pub tolerated: Option<String>,
}

#[derive(Clone, Default)]
struct Huffman {
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
    defined: bool,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Huffman, String> {
        let mut h = Huffman { values, defined: true, ..Default::default() };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            if n == 0 {
                h.maxcode[len] = -1;
            } else {
                h.valptr[len] = k;
                h.mincode[len] = code;
                code += n;
                k += n;
                h.maxcode[len] = code - 1;
                if code > (1 << len) {
                    return Err("a Huffman table has more codes than fit".into());
                }
            }
            code <<= 1;
        }
        Ok(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    /// Zero bytes fed after the entropy-coded data ended (marker or end of input).
    padding: u32,
}

impl Bits<'_> {
    fn fill(&mut self) {
        while self.n <= 56 {
            let byte = if self.pos >= self.data.len() {
                self.padding += 1;
                0
            } else if self.data[self.pos] == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.pos += 2;
                        0xFF
                    }
                    _ => {
                        // A marker: the entropy-coded segment ends here.
                        self.padding += 1;
                        0
                    }
                }
            } else {
                self.pos += 1;
                self.data[self.pos - 1]
            };
            self.acc |= (byte as u64) << (56 - self.n);
            self.n += 8;
        }
    }

    /// Bits of zero padding (past the end of the data) consumed so far.
    fn overrun_bits(&self) -> i64 {
        self.padding as i64 * 8 - self.n as i64
    }

    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            self.fill();
        }
        let b = (self.acc >> 63) as u32;
        self.acc <<= 1;
        self.n -= 1;
        b
    }

    fn bits(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        if self.n < count {
            self.fill();
        }
        let v = (self.acc >> (64 - count)) as u32;
        self.acc <<= count;
        self.n -= count;
        v
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit() as i32;
            if code <= h.maxcode[len] {
                let idx = (h.valptr[len] + code - h.mincode[len]) as usize;
                return h.values.get(idx).copied().ok_or_else(|| "bad Huffman table".to_string());
            }
        }
        Err(format!("invalid Huffman code near byte {}", self.pos))
    }

    /// Discards buffered bits and expects RSTn at the current position.
    fn restart(&mut self) -> Result<(), String> {
        // Bytes already pulled into the accumulator beyond the padding bits are lost
        // only if the stream was misaligned; a valid stream has < 8 bits left.
        self.acc = 0;
        self.n = 0;
        self.padding = 0;
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(m)) if (0xD0..=0xD7).contains(m) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(format!("expected a restart marker at byte {}", self.pos)),
        }
    }
}

fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

fn be16(d: &[u8], i: usize) -> Result<usize, String> {
    d.get(i..i + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| "the stream ends inside a header".to_string())
}

/// Decodes a one-component sequential JPEG (8- or 12-bit).
pub(crate) fn decode_gray(data: &[u8]) -> Result<Gray, String> {
    if data.get(0..2) != Some(&[0xFF, 0xD8]) {
        return Err("no JPEG start-of-image marker".into());
    }
    let mut qt = [[0u16; 64]; 4];
    let mut dc = vec![Huffman::default(); 4];
    let mut ac = vec![Huffman::default(); 4];
    let mut frame: Option<(u8, u32, u32, usize)> = None; // precision, width, height, qt index
    let mut restart_interval = 0usize;
    let mut pos = 2;
    loop {
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err(format!("expected a marker at byte {pos}"));
        };
        pos += 2;
        if marker == 0xD9 {
            return Err("the stream ends before any image data".into());
        }
        let len = be16(data, pos)?;
        let seg = data.get(pos + 2..pos + len).ok_or("the stream ends inside a header")?;
        match marker {
            0xDB => {
                let mut i = 0;
                while i < seg.len() {
                    let (pq, tq) = (seg[i] >> 4, (seg[i] & 15) as usize);
                    if tq > 3 {
                        return Err("bad quantisation table id".into());
                    }
                    let size = if pq == 0 { 1 } else { 2 };
                    let body = seg.get(i + 1..i + 1 + 64 * size).ok_or("short quantisation table")?;
                    for k in 0..64 {
                        qt[tq][k] = if size == 1 {
                            body[k] as u16
                        } else {
                            u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
                        };
                    }
                    i += 1 + 64 * size;
                }
            }
            0xC4 => {
                let mut i = 0;
                while i < seg.len() {
                    let (tc, th) = (seg[i] >> 4, (seg[i] & 15) as usize);
                    let counts: [u8; 16] = seg
                        .get(i + 1..i + 17)
                        .ok_or("short Huffman table")?
                        .try_into()
                        .unwrap();
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg.get(i + 17..i + 17 + total).ok_or("short Huffman table")?.to_vec();
                    if th > 3 || tc > 1 {
                        return Err("bad Huffman table id".into());
                    }
                    let table = Huffman::new(&counts, values)?;
                    if tc == 0 { dc[th] = table } else { ac[th] = table }
                    i += 17 + total;
                }
            }
            0xC0 | 0xC1 => {
                if seg.len() < 6 {
                    return Err("short frame header".into());
                }
                let precision = seg[0];
                let height = u16::from_be_bytes([seg[1], seg[2]]) as u32;
                let width = u16::from_be_bytes([seg[3], seg[4]]) as u32;
                let nf = seg[5];
                if precision != 8 && precision != 12 {
                    return Err(format!("{precision}-bit sample precision"));
                }
                if nf != 1 {
                    return Err(format!("{nf} colour components in a 12-bit JPEG (only gray is supported)"));
                }
                if width == 0 || height == 0 || seg.len() < 9 {
                    return Err(format!("frame header gives a {width}×{height} image"));
                }
                frame = Some((precision, width, height, (seg[8] & 3) as usize));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(format!("JPEG process with SOF marker {marker:02X} (not sequential Huffman)"));
            }
            0xDD => restart_interval = be16(data, pos + 2)?,
            0xDA => {
                let (precision, width, height, tq) = frame.ok_or("scan before the frame header")?;
                if seg.len() < 6 || seg[0] != 1 {
                    return Err("scan header is malformed".into());
                }
                let (td, ta) = ((seg[2] >> 4) as usize & 3, (seg[2] & 15) as usize & 3);
                // A sequential scan always holds all 64 coefficients at full
                // precision, so these fields carry nothing; some encoders
                // (the WG04 set's RG3_JPLY) write 0..0 there. libjpeg warns
                // and decodes the scan as sequential; so does this.
                let (ss, se, ahal) = (seg[3], seg[4], seg[5]);
                let tolerated = (ss != 0 || se != 63 || ahal != 0).then(|| {
                    format!("its JPEG scan header gives spectral selection {ss}..{se} and approximation {ahal:02X} where a sequential JPEG has 0..63 and 00; read as sequential, as libjpeg and DCMTK do")
                });
                if !dc[td].defined || !ac[ta].defined {
                    return Err("scan uses an undefined Huffman table".into());
                }
                let samples = decode_scan(
                    &data[pos + len..],
                    (width, height, precision),
                    &qt[tq],
                    (&dc[td], &ac[ta]),
                    restart_interval,
                )?;
                return Ok(Gray { width, height, precision, samples, tolerated });
            }
            _ => {} // APPn, COM and others: skip
        }
        pos += len;
    }
}

fn decode_scan(
    data: &[u8],
    (width, height, precision): (u32, u32, u8),
    q: &[u16; 64],
    (dc, ac): (&Huffman, &Huffman),
    restart_interval: usize,
) -> Result<Vec<u16>, String> {
    let bw = width.div_ceil(8) as usize;
    let bh = height.div_ceil(8) as usize;
    let stride = bw * 8;
    let mut plane = vec![0u16; stride * bh * 8];
    let mut bits = Bits { data, pos: 0, acc: 0, n: 0, padding: 0 };
    let maxval = (1i32 << precision) - 1;
    let shift = 1i32 << (precision - 1);
    let cos = idct_table();
    let mut pred = 0i32;
    let mut coef = [0f32; 64];
    for block in 0..bw * bh {
        if restart_interval > 0 && block > 0 && block % restart_interval == 0 {
            bits.restart()?;
            pred = 0;
        }
        coef.fill(0.0);
        let s = bits.decode(dc)? as u32;
        if s > 16 {
            return Err(format!("invalid DC magnitude in block {block}"));
        }
        pred += extend(bits.bits(s), s);
        coef[0] = (pred * q[0] as i32) as f32;
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(ac)?;
            let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
            if s == 0 {
                if r == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += r;
            if k > 63 {
                return Err(format!("coefficient index past 63 in block {block}"));
            }
            coef[ZIGZAG[k]] = (extend(bits.bits(s), s) * q[k] as i32) as f32;
            k += 1;
        }
        if bits.overrun_bits() > 7 {
            return Err(format!(
                "the entropy-coded data ends early (block {} of {})",
                block + 1,
                bw * bh
            ));
        }
        // Separable float IDCT.
        let mut tmp = [0f32; 64];
        for y in 0..8 {
            for x in 0..8 {
                let mut sum = 0.0;
                for u in 0..8 {
                    sum += cos[x * 8 + u] * coef[y * 8 + u];
                }
                tmp[y * 8 + x] = sum;
            }
        }
        let (bx, by) = (block % bw, block / bw);
        for x in 0..8 {
            for y in 0..8 {
                let mut sum = 0.0;
                for v in 0..8 {
                    sum += cos[y * 8 + v] * tmp[v * 8 + x];
                }
                let val = (sum / 4.0).round() as i32 + shift;
                plane[(by * 8 + y) * stride + bx * 8 + x] = val.clamp(0, maxval) as u16;
            }
        }
    }
    let (w, h) = (width as usize, height as usize);
    let mut out = Vec::with_capacity(w * h);
    for row in plane.chunks_exact(stride).take(h) {
        out.extend_from_slice(&row[..w]);
    }
    Ok(out)
}

/// cos[x*8+u] = C(u) · cos((2x+1)uπ/16), C(0) = 1/√2.
fn idct_table() -> [f32; 64] {
    let mut t = [0f32; 64];
    for x in 0..8 {
        for u in 0..8 {
            let c = if u == 0 { std::f32::consts::FRAC_1_SQRT_2 } else { 1.0 };
            t[x * 8 + u] = c * (((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI) / 16.0).cos();
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our decoder agrees with the `image` crate's on an 8-bit gray JPEG.
    #[test]
    fn matches_reference_decoder_on_8bit_gray() {
        let (w, h) = (61u32, 37u32); // not multiples of 8
        let img = image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([((x * 4 + y * 3) as u8).wrapping_add(((x * y) % 17) as u8)])
        });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        let reference = image::load_from_memory(&jpeg).unwrap().to_luma8();
        let ours = decode_gray(&jpeg).unwrap();
        assert_eq!((ours.width, ours.height, ours.precision), (w, h, 8));
        let max_diff = ours
            .samples
            .iter()
            .zip(reference.as_raw())
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .max()
            .unwrap();
        assert!(max_diff <= 2, "max difference {max_diff}");
    }

    #[test]
    fn rejects_truncated_and_garbage_streams() {
        let img = image::GrayImage::from_fn(32, 32, |x, y| image::Luma([(x * 8 ^ y * 8) as u8]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        for cut in [2, 10, jpeg.len() / 2, jpeg.len() - 40] {
            assert!(decode_gray(&jpeg[..cut]).is_err(), "cut at {cut} decoded");
        }
        assert!(decode_gray(b"not a jpeg").is_err());
    }
}
