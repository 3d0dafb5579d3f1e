//! Value-of-interest transforms: window center/width and VOI LUT tables,
//! and the modality LUT that turns stored values into modality units.

/// A display window in modality (rescaled) units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

impl Window {
    /// The window whose lower and upper edges are `lo` and `hi` under the
    /// "linear exact" reading (center = midpoint, width = hi − lo).
    pub fn from_bounds(lo: f64, hi: f64) -> Window {
        Window { center: (lo + hi) / 2.0, width: (hi - lo).max(f64::MIN_POSITIVE) }
    }

    /// Lower edge (value shown black, before any inversion): center − width/2.
    pub fn lower(&self) -> f64 {
        self.center - self.width / 2.0
    }

    /// Upper edge (value shown white, before any inversion): center + width/2.
    pub fn upper(&self) -> f64 {
        self.center + self.width / 2.0
    }

    /// "W 255 L 127.5": whole numbers as such, others to one decimal (the
    /// centre of an 8-bit film's full range is 127.5, which "L 128" misstates).
    pub fn label(&self) -> String {
        // + 0.0 turns a -0 into 0 ("L -0" for a centre of -0.02).
        let number = |v: f64| if (v - v.round()).abs() < 0.05 { format!("{:.0}", v.round() + 0.0) } else { format!("{v:.1}") };
        format!("W {} L {}", number(self.width), number(self.center))
    }
}

#[cfg(test)]
mod label_tests {
    use super::Window;

    #[test]
    fn window_labels_keep_a_half() {
        assert_eq!(Window::from_bounds(0.0, 255.0).label(), "W 255 L 127.5");
        assert_eq!(Window { center: 128.0, width: 256.0 }.label(), "W 256 L 128");
        assert_eq!(Window { center: -600.4, width: 1500.0 }.label(), "W 1500 L -600.4");
        assert_eq!(Window { center: -0.02, width: 10.0 }.label(), "W 10 L 0");
    }
}

/// A window the file itself suggests, with its explanation (e.g. "WINDOW1", "BONE"),
/// or a name such as "VOI LUT: NORMAL" for a VOI LUT table.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowPreset {
    pub name: String,
    pub window: Window,
}

/// DICOM VOI LUT Function (0028,1056).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VoiFunction {
    /// The DICOM default (PS3.3 C.11.2.1.2.1): edges at c − 0.5 ± (w − 1)/2.
    #[default]
    Linear,
    /// Edges exactly at c ± w/2; used for ordinary images.
    LinearExact,
    /// 1 / (1 + exp(−4(x − c)/w)).
    Sigmoid,
}

impl VoiFunction {
    pub(crate) fn parse(s: &str) -> VoiFunction {
        match s.trim().to_ascii_uppercase().as_str() {
            "LINEAR_EXACT" => VoiFunction::LinearExact,
            "SIGMOID" => VoiFunction::Sigmoid,
            _ => VoiFunction::Linear,
        }
    }

    /// The window that maps `lo` to black and `hi` to white under this function.
    pub(crate) fn window_for_bounds(self, lo: f64, hi: f64) -> Window {
        match self {
            VoiFunction::Linear => {
                let width = (hi - lo + 1.0).max(1.0);
                Window { center: lo + 0.5 + (width - 1.0) / 2.0, width }
            }
            _ => Window::from_bounds(lo, hi),
        }
    }
}

/// A VOI LUT table (from the VOI LUT Sequence, 0028,3010).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VoiLutTable {
    pub first_mapped: f64,
    pub bits: u16,
    pub data: Vec<u16>,
}

impl VoiLutTable {
    /// Output in 0..1 for a modality value.
    pub fn apply(&self, v: f64) -> f32 {
        if self.data.is_empty() {
            return 0.0;
        }
        let idx = (v.round() - self.first_mapped).clamp(0.0, (self.data.len() - 1) as f64) as usize;
        let max = ((1u32 << self.bits.clamp(1, 16)) - 1) as f32;
        (self.data[idx] as f32 / max).clamp(0.0, 1.0)
    }

    /// The input span of the table, as a window (used to name the preset).
    pub fn input_window(&self) -> Window {
        Window::from_bounds(self.first_mapped, self.first_mapped + self.data.len() as f64 - 1.0)
    }
}

/// The VOI step of the display pipeline.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Voi<'a> {
    Window(Window, VoiFunction),
    Table(&'a VoiLutTable),
}

impl Voi<'_> {
    /// Maps a modality value to 0.0 (black) ..= 1.0 (white), before any inversion.
    #[inline]
    pub fn apply(&self, x: f64) -> f32 {
        match *self {
            Voi::Window(w, VoiFunction::Linear) => {
                let width = w.width.max(1.0);
                if width <= 1.0 {
                    return if x <= w.center - 0.5 { 0.0 } else { 1.0 };
                }
                let lo = w.center - 0.5 - (width - 1.0) / 2.0;
                if x <= lo {
                    0.0
                } else {
                    let y = ((x - lo) / (width - 1.0)) as f32;
                    y.clamp(0.0, 1.0)
                }
            }
            Voi::Window(w, VoiFunction::LinearExact) => {
                // Computed in f32 so that the full 8-bit window gives exactly v / 255.
                let lo = w.lower() as f32;
                let width = w.width as f32;
                if width <= 0.0 || !width.is_finite() {
                    return if (x as f32) <= lo { 0.0 } else { 1.0 };
                }
                ((x as f32 - lo) / width).clamp(0.0, 1.0)
            }
            Voi::Window(w, VoiFunction::Sigmoid) => {
                let width = w.width.max(f64::MIN_POSITIVE);
                (1.0 / (1.0 + (-4.0 * (x - w.center) / width).exp())) as f32
            }
            Voi::Table(t) => t.apply(x),
        }
    }
}

/// Stored value → modality value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ModalityLut {
    Rescale { slope: f64, intercept: f64 },
    /// Modality LUT Sequence (0028,3000): `data[stored − first_mapped]`, clamped at the ends.
    Table { first_mapped: f64, data: Vec<f64> },
}

impl ModalityLut {
    pub const IDENTITY: ModalityLut = ModalityLut::Rescale { slope: 1.0, intercept: 0.0 };

    #[inline]
    pub fn apply(&self, stored: f64) -> f64 {
        match self {
            ModalityLut::Rescale { slope, intercept } => stored * slope + intercept,
            ModalityLut::Table { first_mapped, data } => {
                if data.is_empty() {
                    return stored;
                }
                let idx = (stored - first_mapped).clamp(0.0, (data.len() - 1) as f64) as usize;
                data[idx]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_exact_full_8bit_range_is_value_over_255() {
        let voi = Voi::Window(Window::from_bounds(0.0, 255.0), VoiFunction::LinearExact);
        for v in 0..=255u32 {
            assert_eq!(voi.apply(v as f64), v as f32 / 255.0);
        }
    }

    #[test]
    fn linear_dicom_formula_edges() {
        let w = VoiFunction::Linear.window_for_bounds(0.0, 1023.0);
        let voi = Voi::Window(w, VoiFunction::Linear);
        assert_eq!(voi.apply(0.0), 0.0);
        assert_eq!(voi.apply(1023.0), 1.0);
        assert!((voi.apply(511.5) - 0.5).abs() < 1e-6);
        // center 40, width 400 (a CT soft-tissue window): edges per PS3.3 C.11.2.1.2.1
        let voi = Voi::Window(Window { center: 40.0, width: 400.0 }, VoiFunction::Linear);
        assert_eq!(voi.apply(-160.0), 0.0);
        assert_eq!(voi.apply(240.0), 1.0);
    }

    #[test]
    fn modality_table_clamps() {
        let m = ModalityLut::Table { first_mapped: 10.0, data: vec![100.0, 200.0, 300.0] };
        assert_eq!(m.apply(0.0), 100.0);
        assert_eq!(m.apply(11.0), 200.0);
        assert_eq!(m.apply(99.0), 300.0);
    }
}
