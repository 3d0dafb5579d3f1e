//! Stored pixel buffers and rendered gray films.

/// Stored pixel values at full depth (one sample per pixel, row-major).
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    U8(Vec<u8>),
    U16(Vec<u16>),
    /// Signed stored values, and unsigned 32-bit ones.
    I32(Vec<i32>),
    F32(Vec<f32>),
}

impl Pixels {
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::U16(v) => v.len(),
            Pixels::I32(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored value at a linear index, as f64.
    pub fn get(&self, i: usize) -> Option<f64> {
        match self {
            Pixels::U8(v) => v.get(i).map(|&x| x as f64),
            Pixels::U16(v) => v.get(i).map(|&x| x as f64),
            Pixels::I32(v) => v.get(i).map(|&x| x as f64),
            Pixels::F32(v) => v.get(i).map(|&x| x as f64),
        }
    }

    /// Minimum and maximum stored value (0, 0 when empty; NaNs are ignored).
    pub(crate) fn min_max(&self) -> (f64, f64) {
        fn mm<T: Copy + PartialOrd + Into<f64>>(v: &[T]) -> (f64, f64) {
            let mut it = v.iter().copied();
            let Some(first) = it.next() else { return (0.0, 0.0) };
            let (mut lo, mut hi) = (first, first);
            for x in it {
                if x < lo {
                    lo = x;
                }
                if x > hi {
                    hi = x;
                }
            }
            (lo.into(), hi.into())
        }
        match self {
            Pixels::U8(v) => mm(v),
            Pixels::U16(v) => mm(v),
            Pixels::I32(v) => mm(v),
            Pixels::F32(v) => {
                let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
                mm(&finite)
            }
        }
    }
}

/// A rendered film: row-major, 0.0 = black .. 1.0 = white as displayed.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayF32 {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl GrayF32 {
    /// The value at (x, y), if inside.
    pub fn get(&self, x: u32, y: u32) -> Option<f32> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.data.get(y as usize * self.width as usize + x as usize).copied()
    }

    /// Quantised to 8 bits (round to nearest), e.g. for a texture.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8).collect()
    }
}

