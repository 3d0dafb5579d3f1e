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
}

impl Default for LoadLimits {
    /// 1 GiB files, 100 megapixels.
    fn default() -> Self {
        LoadLimits { max_file_bytes: 1 << 30, max_pixels: 100_000_000 }
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

    /// `samples` counts colour channels too; the message shows width × height (× frames).
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
                limit: self.max_pixels,
            });
        }
        Ok(())
    }
}
