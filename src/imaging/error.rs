//! Errors from loading a radiograph, each naming the file and the problem in plain words.

use std::path::PathBuf;

/// Everything that can go wrong while opening a film.
///
/// Every variant carries the path of the file it is about, and its message is meant
/// to be shown to a reader as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImagingError {
    /// The file could not be read from disk.
    #[error("{}: cannot read the file ({source})", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path names a directory.
    #[error("{}: this is a folder, not an image file", path.display())]
    NotAFile { path: PathBuf },
    /// The path names a device, pipe or socket.
    #[error("{}: this is not a regular file (a device, pipe or socket), not an image file", path.display())]
    SpecialFile { path: PathBuf },
    /// The file has no content.
    #[error("{}: the file is empty (0 bytes)", path.display())]
    EmptyFile { path: PathBuf },
    /// The file is bigger than [`LoadLimits::max_file_bytes`](super::LoadLimits).
    #[error("{}: too large: the file is {} MiB, over the {} MiB limit", path.display(), bytes / (1 << 20), limit / (1 << 20))]
    FileTooLarge { path: PathBuf, bytes: u64, limit: u64 },
    /// The image has more pixels than [`LoadLimits::max_pixels`](super::LoadLimits).
    #[error("{}: too large: {width}×{height} pixels{}{} exceeds the {} limit", path.display(), if *frames > 1 { format!(" × {frames} frames") } else { String::new() }, if *samples > 1 { format!(" × {samples} samples") } else { String::new() }, pixel_limit(*limit))]
    TooManyPixels { path: PathBuf, width: u64, height: u64, frames: u64, samples: u64, limit: u64 },
    /// One side is more than [`LoadLimits::max_aspect_ratio`](super::LoadLimits) times the other.
    #[error("{}: {width}×{height} pixels is too elongated for a radiograph (aspect ratio over {limit}:1)", path.display())]
    TooElongated { path: PathBuf, width: u64, height: u64, limit: u64 },
    /// Neither DICOM nor a supported ordinary image format.
    #[error("{}: not a recognised image (expected DICOM, PNG, JPEG, TIFF or BMP){}", path.display(), hint_suffix(hint))]
    UnknownFormat { path: PathBuf, hint: String },
    /// The file looks like DICOM but its structure cannot be read.
    #[error("{}: not a readable DICOM file ({detail})", path.display())]
    InvalidDicom { path: PathBuf, detail: String },
    /// A DICOM attribute needed to show the image is missing or unusable.
    #[error("{}: the DICOM attribute {attribute} is missing or invalid{}", path.display(), hint_suffix(detail))]
    BadAttribute { path: PathBuf, attribute: String, detail: String },
    /// The DICOM file is stored with a transfer syntax this build cannot decode.
    #[error("{}: transfer syntax {uid} ({name}) is not supported", path.display())]
    UnsupportedTransferSyntax { path: PathBuf, uid: String, name: String },
    /// The compressed pixel data could not be decoded.
    #[error("{}: the {codec} stream in the pixel data is malformed ({detail})", path.display())]
    CorruptPixelData { path: PathBuf, codec: String, detail: String },
    /// A valid image of a kind this viewer does not handle.
    #[error("{}: unsupported image: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },
    /// An ordinary image (PNG/JPEG/TIFF/BMP) could not be decoded.
    #[error("{}: the {format} image is damaged or cannot be decoded ({detail})", path.display())]
    BadImage { path: PathBuf, format: String, detail: String },
    /// A frame the file does not hold (frames are numbered from 1).
    #[error("{}: there is no frame {frame}: {}", path.display(), if *frames == 1 { "the file has one frame only".to_string() } else { format!("the file has {frames} frames (numbered 1 to {frames})") })]
    NoSuchFrame { path: PathBuf, frame: u32, frames: u32 },
    /// Invalid arguments to a constructor such as `from_gray8`.
    #[error("{}: invalid image data: {detail}", path.display())]
    InvalidInput { path: PathBuf, detail: String },
}

fn pixel_limit(limit: u64) -> String {
    if limit >= 1_000_000 && limit % 1_000_000 == 0 {
        format!("{}-megapixel", limit / 1_000_000)
    } else {
        format!("{limit}-pixel")
    }
}

fn hint_suffix(s: &str) -> String {
    if s.is_empty() { String::new() } else { format!(" ({s})") }
}

impl ImagingError {
    /// The file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ImagingError::Io { path, .. }
            | ImagingError::NotAFile { path }
            | ImagingError::SpecialFile { path }
            | ImagingError::EmptyFile { path }
            | ImagingError::FileTooLarge { path, .. }
            | ImagingError::TooManyPixels { path, .. }
            | ImagingError::TooElongated { path, .. }
            | ImagingError::UnknownFormat { path, .. }
            | ImagingError::InvalidDicom { path, .. }
            | ImagingError::BadAttribute { path, .. }
            | ImagingError::UnsupportedTransferSyntax { path, .. }
            | ImagingError::CorruptPixelData { path, .. }
            | ImagingError::Unsupported { path, .. }
            | ImagingError::BadImage { path, .. }
            | ImagingError::NoSuchFrame { path, .. }
            | ImagingError::InvalidInput { path, .. } => path,
        }
    }
}
