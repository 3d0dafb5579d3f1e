//! Size limits checked before reading and before decoding.

use std::path::Path;

use super::ImagingError;

/// Limits that turn huge files and decompression bombs into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest file accepted, in bytes (checked before reading).
    pub max_file_bytes: u64,
    /// Largest rows × columns × frames × samples accepted (checked before decoding).
    pub max_pixels: u64,
    /// Largest ratio of the long side to the short side (checked before decoding).
    /// Preparing a film for the model scales its short side to 224 pixels, so a
    /// 1×200000 "film" would become a 224×44800000 image: a bomb of its own.
    pub max_aspect_ratio: u64,
}

impl Default for LoadLimits {
    /// 1 GiB files, 100 megapixels, sides at most 20:1 (a bilateral knee film is
    /// about 2:1, a full-leg film about 4:1).
    fn default() -> Self {
        LoadLimits { max_file_bytes: 1 << 30, max_pixels: 100_000_000, max_aspect_ratio: 20 }
    }
}

impl LoadLimits {
    pub(crate) fn check_file_size(&self, path: &Path, bytes: u64) -> Result<(), ImagingError> {
        if bytes > self.max_file_bytes {
            return Err(ImagingError::FileTooLarge {
                path: path.to_path_buf(),
                bytes,
                limit: self.max_file_bytes,
            });
        }
        Ok(())
    }

    /// `samples` counts colour channels too; the message shows width × height (× frames × samples).
    /// Zero sides pass here: the loaders report them with their own message.
    pub(crate) fn check_pixels(
        &self,
        path: &Path,
        width: u64,
        height: u64,
        frames: u64,
        samples: u64,
    ) -> Result<(), ImagingError> {
        let total = width
            .saturating_mul(height)
            .saturating_mul(frames.max(1))
            .saturating_mul(samples.max(1));
        if total > self.max_pixels {
            return Err(ImagingError::TooManyPixels {
                path: path.to_path_buf(),
                width,
                height,
                frames,
                samples,
                limit: self.max_pixels,
            });
        }
        let (long, short) = (width.max(height), width.min(height));
        if short > 0 && long > short.saturating_mul(self.max_aspect_ratio) {
            return Err(ImagingError::TooElongated {
                path: path.to_path_buf(),
                width,
                height,
                limit: self.max_aspect_ratio,
            });
        }
        Ok(())
    }
}
