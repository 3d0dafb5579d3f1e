//! kneeclip — knee osteoarthritis (Kellgren–Lawrence) grading with CLIP ViT-B/32.
//!
//! The library is headless: the desktop viewer, the command line, training and the
//! benchmarks all call the same core.
//!
//! - [`imaging`]: films in (PNG/JPEG/TIFF/BMP, DICOM) as one [`imaging::Radiograph`] type.
//! - [`model`]: CLIP in candle (own vision transformer, text encoder, preprocessing).
//! - [`grading`]: text anchors, the fine-tuned head and the [`grading::Grader`].
//! - [`weights`]: where the model weights come from (folder, cache, download).
//! - [`cli`]: the `kneeclip` command line.

pub mod allocator;
pub mod app;
pub mod bench;
pub mod build_info;
pub mod cli;
pub mod denormals;
pub mod explain;
pub mod files;
pub mod grading;
pub mod imaging;
pub mod model;
pub mod report;
pub mod weights;
pub mod metrics;
pub mod training;
