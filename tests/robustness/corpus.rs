//! Bad inputs made at test time from the real films in `../shared/data` and the
//! tiny fixture model: nothing here is committed, every file is written into a
//! temporary folder by the test that uses it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::common::{data_dir, fixture_dir};

/// Patient data planted in a film to check it never reaches a log or a message.
pub const SENTINEL_NAME: &str = "Doe^Jane^Sentinel";
pub const SENTINEL_ID: &str = "PHI-SENTINEL-123";
/// Pieces of the planted data that must never be printed, however they are split.
pub const SENTINEL_PIECES: [&str; 3] = ["Sentinel", "SENTINEL", "Doe^Jane"];

/// A real DICOM from `../shared/data/dicom`, or `None` with the reason printed.
pub fn shared_dicom(name: &str) -> Option<Vec<u8>> {
    let path = data_dir().join("dicom").join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            eprintln!("skipped: {} is not readable ({e}); set KNEECLIP_DATA_DIR", path.display());
            None
        }
    }
}

/// Offset of the first (or last) occurrence of a little-endian tag in the stream.
pub fn tag_offset(bytes: &[u8], tag: (u16, u16), last: bool) -> Option<usize> {
    let mut pattern = tag.0.to_le_bytes().to_vec();
    pattern.extend_from_slice(&tag.1.to_le_bytes());
    let mut hits = bytes.windows(4).enumerate().filter(|(_, w)| *w == pattern.as_slice()).map(|(i, _)| i);
    if last { hits.last() } else { hits.next() }
}

/// The stream with the 16-bit value of a US element (explicit or implicit VR: both
/// keep the value 8 bytes after the tag) replaced.
pub fn with_us_value(bytes: &[u8], tag: (u16, u16), value: u16) -> Vec<u8> {
    let at = tag_offset(bytes, tag, false).expect("the element is present") + 8;
    let mut out = bytes.to_vec();
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
    out
}

/// The stream with one byte inverted.
pub fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0xFF;
    out
}

/// An 8-bit gray PNG of the given size.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(image::DynamicImage::ImageLuma8(image::ImageBuffer::from_fn(width, height, |x, y| {
        image::Luma([((x * 7 + y * 3) % 256) as u8])
    })), image::ImageFormat::Png)
}

/// A small gray film in one of the ordinary formats.
pub fn film(format: image::ImageFormat) -> Vec<u8> {
    let img = image::DynamicImage::ImageLuma8(image::ImageBuffer::from_fn(64, 48, |x, y| {
        image::Luma([((x * 4 + y) % 256) as u8])
    }));
    encode(img, format)
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A decompression bomb: a PNG of a few bytes whose header claims `width`×`height`
/// 8-bit gray pixels.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A baseline JPEG whose frame header (SOF0) claims `width`×`height`.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = film(image::ImageFormat::Jpeg);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

// ---------------------------------------------------------------- model folders

/// The tiny fixture's config.json as JSON.
pub fn tiny_config() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture_dir("tiny-clip").join("config.json")).unwrap()).unwrap()
}

/// The tiny fixture's weights as raw (dtype, shape, bytes) per tensor name.
pub fn tiny_tensors() -> HashMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fixture_dir("tiny-clip").join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| (name, (view.dtype(), view.shape().to_vec(), view.data().to_vec())))
        .collect()
}

/// Serialises tensors given as (dtype, shape, bytes).
pub fn safetensors_bytes(tensors: &HashMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, (dtype, shape, data))| {
            (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// A model folder with the tiny fixture's config and weights; `tokenizer` is
/// copied in when given (the CLI needs one, the model loader does not).
pub fn tiny_model_dir(root: &Path, name: &str, tokenizer: Option<&Path>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture_dir("tiny-clip").join(file), dir.join(file)).unwrap();
    }
    if let Some(tokenizer) = tokenizer {
        std::fs::copy(tokenizer, dir.join("tokenizer.json")).unwrap();
    }
    dir
}

/// One way to break a model folder, and words its error message must contain.
pub struct BadModel {
    pub name: &'static str,
    /// Which file the message must name.
    pub file: &'static str,
    /// At least one of these must appear in the message (lower-cased).
    pub problem: &'static [&'static str],
    pub config: Option<Vec<u8>>,
    pub weights: Option<Vec<u8>>,
}

/// Truncated and misshapen weights, and configs that lie about the sizes.
pub fn bad_models() -> Vec<BadModel> {
    let weights = std::fs::read(fixture_dir("tiny-clip").join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let mut cases = Vec::new();
    for (name, cut) in [
        ("weights cut inside the length", 5),
        ("weights cut inside the header", 8 + header_len / 2),
        ("weights cut inside the data", 8 + header_len + (weights.len() - 8 - header_len) / 2),
        ("weights missing the last byte", weights.len() - 1),
    ] {
        cases.push(BadModel {
            name,
            file: "model.safetensors",
            problem: &["truncated", "too small", "incomplete", "cut short", "header", "invalid", "metadata"],
            config: None,
            weights: Some(weights[..cut].to_vec()),
        });
    }
    cases.push(BadModel {
        name: "empty weights",
        file: "model.safetensors",
        problem: &["empty", "too small", "header"],
        config: None,
        weights: Some(Vec::new()),
    });
    let mut header_lies = weights.clone();
    header_lies[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    cases.push(BadModel {
        name: "weights header length absurd",
        file: "model.safetensors",
        problem: &["header", "too large", "invalid"],
        config: None,
        weights: Some(header_lies),
    });

    // A tensor one element short, one missing, one of the wrong type.
    let tensors = tiny_tensors();
    let mut short = tensors.clone();
    let (_, shape, data) = short.get_mut("vision_model.embeddings.class_embedding").unwrap();
    *shape = vec![shape[0] - 1];
    data.truncate(data.len() - 4);
    cases.push(BadModel {
        name: "tensor with the wrong shape",
        file: "model.safetensors",
        problem: &["shape"],
        config: None,
        weights: Some(safetensors_bytes(&short)),
    });
    let mut missing = tensors.clone();
    missing.remove("vision_model.post_layernorm.weight");
    cases.push(BadModel {
        name: "tensor missing",
        file: "model.safetensors",
        problem: &["cannot find tensor", "missing"],
        config: None,
        weights: Some(safetensors_bytes(&missing)),
    });
    let mut bools = tensors.clone();
    bools.insert("logit_scale".into(), (safetensors::Dtype::BOOL, vec![], vec![1]));
    cases.push(BadModel {
        name: "tensor of booleans",
        file: "model.safetensors",
        problem: &["dtype", "bool"],
        config: None,
        weights: Some(safetensors_bytes(&bools)),
    });
    cases.push(BadModel {
        name: "weights are text",
        file: "model.safetensors",
        problem: &["header", "invalid", "too small", "safetensors"],
        config: None,
        weights: Some(b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 605\n".to_vec()),
    });

    // Configs that lie about the sizes the weights have.
    let lie = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = tiny_config();
        edit(&mut c);
        Some(serde_json::to_vec_pretty(&c).unwrap())
    };
    let shape_words: &[&str] = &["shape", "does not describe", "cannot find tensor"];
    cases.push(BadModel {
        name: "config: vision hidden_size doubled",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["vision_config"]["hidden_size"] = 64.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: text hidden_size doubled",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["text_config"]["hidden_size"] = 32.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: more vision layers than the weights",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["vision_config"]["num_hidden_layers"] = 6.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: image_size 448",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["vision_config"]["image_size"] = 448.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: projection_dim 512",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["projection_dim"] = 512.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: vocab_size 10",
        file: "config.json",
        problem: shape_words,
        config: lie(&|c| c["text_config"]["vocab_size"] = 10.into()),
        weights: None,
    });
    let sizes: &[&str] = &["too large", "size", "must be", "at most", "positive"];
    cases.push(BadModel {
        name: "config: absurd hidden_size",
        file: "config.json",
        problem: sizes,
        config: lie(&|c| c["vision_config"]["hidden_size"] = (1u64 << 40).into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: absurd image_size",
        file: "config.json",
        problem: sizes,
        config: lie(&|c| {
            c["vision_config"]["image_size"] = (1u64 << 33).into();
            c["vision_config"]["patch_size"] = 1.into();
        }),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: absurd vocab and positions",
        file: "config.json",
        problem: sizes,
        config: lie(&|c| {
            c["text_config"]["vocab_size"] = u64::MAX.into();
            c["text_config"]["max_position_embeddings"] = (1u64 << 62).into();
        }),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: heads do not divide hidden_size",
        file: "config.json",
        problem: &["multiple of num_attention_heads"],
        config: lie(&|c| c["vision_config"]["num_attention_heads"] = 3.into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: negative layer_norm_eps",
        file: "config.json",
        problem: &["layer_norm_eps"],
        config: lie(&|c| c["vision_config"]["layer_norm_eps"] = (-1.0).into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: hidden_size is a string",
        file: "config.json",
        problem: &["not a clip config", "invalid type"],
        config: lie(&|c| c["vision_config"]["hidden_size"] = "768".into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config: unknown activation",
        file: "config.json",
        problem: &["hidden_act", "unknown variant"],
        config: lie(&|c| c["vision_config"]["hidden_act"] = "swiglu".into()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config truncated",
        file: "config.json",
        problem: &["not a clip config", "eof", "end of"],
        config: Some(std::fs::read(fixture_dir("tiny-clip").join("config.json")).unwrap()[..200].to_vec()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config empty",
        file: "config.json",
        problem: &["not a clip config", "eof", "empty"],
        config: Some(Vec::new()),
        weights: None,
    });
    cases.push(BadModel {
        name: "config not UTF-8",
        file: "config.json",
        problem: &["utf-8"],
        config: Some(vec![b'{', 0xff, 0xfe, b'}']),
        weights: None,
    });
    cases
}

/// Writes a bad model's files over a copy of the tiny fixture.
pub fn write_bad_model(root: &Path, index: usize, case: &BadModel, tokenizer: Option<&Path>) -> PathBuf {
    let dir = tiny_model_dir(root, &format!("model-{index}"), tokenizer);
    if let Some(config) = &case.config {
        std::fs::write(dir.join("config.json"), config).unwrap();
    }
    if let Some(weights) = &case.weights {
        std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    }
    dir
}

// ---------------------------------------------------------------- fuzz seeds

/// A real gray DICOM cut down to its first `size`×`size` pixels of frame 1,
/// stored native (explicit VR little endian); `None` for colour files and files
/// this build cannot decode.
pub fn small_native_dicom(source: &Path, size: u32) -> Option<dicom_object::DefaultDicomObject> {
    use dicom_pixeldata::PixelDecoder;
    let mut obj = dicom_object::open_file(source).ok()?;
    let decoded = obj.decode_pixel_data_frame(0).ok()?;
    if decoded.samples_per_pixel() != 1 {
        return None;
    }
    let (cols, rows) = (decoded.columns() as usize, decoded.rows() as usize);
    let bytes_per = (decoded.bits_allocated() as usize).div_ceil(8);
    let (w, h) = (cols.min(size as usize), rows.min(size as usize));
    let mut pixels = Vec::with_capacity(w * h * bytes_per);
    for y in 0..h {
        let row = y * cols * bytes_per;
        pixels.extend_from_slice(decoded.data().get(row..row + w * bytes_per)?);
    }
    drop(decoded);
    obj.update_meta(|meta| meta.transfer_syntax = "1.2.840.10008.1.2.1".into());
    obj.remove_element(tags::NUMBER_OF_FRAMES);
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(h as u16)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(w as u16)));
    let vr = if bytes_per == 1 { VR::OB } else { VR::OW };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, PrimitiveValue::from(pixels)));
    Some(obj)
}

/// A real gray DICOM made small with patient data planted in every identifying
/// attribute the viewer shows (see [`SENTINEL_NAME`]).
pub fn dicom_with_patient_data(source: &str, size: u32) -> Option<Vec<u8>> {
    let path = data_dir().join("dicom").join(source);
    if !path.is_file() {
        eprintln!("skipped: {} is missing; set KNEECLIP_DATA_DIR", path.display());
        return None;
    }
    let mut obj = small_native_dicom(&path, size).expect("a gray film this build decodes");
    for (tag, vr, value) in [
        (tags::PATIENT_NAME, VR::PN, SENTINEL_NAME),
        (tags::PATIENT_ID, VR::LO, SENTINEL_ID),
        (tags::ISSUER_OF_PATIENT_ID, VR::LO, SENTINEL_ID),
        (tags::PATIENT_BIRTH_NAME, VR::PN, SENTINEL_NAME),
        (tags::REFERRING_PHYSICIAN_NAME, VR::PN, SENTINEL_NAME),
        (tags::INSTITUTION_NAME, VR::LO, SENTINEL_ID),
        (tags::ACCESSION_NUMBER, VR::SH, "SENTINEL-ACC"),
        (tags::STUDY_DESCRIPTION, VR::LO, "Knee Sentinel study"),
    ] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    let mut out = Vec::new();
    obj.write_all(&mut out).unwrap();
    Some(out)
}

/// RLE Lossless (PS3.5 G) of one frame of 8- or 16-bit gray samples, as literal
/// runs: enough to give the fuzzer a small, valid RLE film.
fn rle_frame(samples: &[u8], bytes_per: usize, width: usize) -> Vec<u8> {
    let planes: Vec<Vec<u8>> = (0..bytes_per)
        .map(|plane| {
            // Most significant byte first; each row encoded on its own.
            let byte = bytes_per - 1 - plane;
            let values: Vec<u8> = samples.chunks_exact(bytes_per).map(|s| s[byte]).collect();
            let mut out = Vec::new();
            for row in values.chunks(width) {
                for run in row.chunks(128) {
                    out.push((run.len() - 1) as u8);
                    out.extend_from_slice(run);
                }
            }
            if out.len() % 2 == 1 {
                out.push(0);
            }
            out
        })
        .collect();
    let mut header = vec![0u32; 16];
    header[0] = planes.len() as u32;
    let mut offset = 64u32;
    for (i, p) in planes.iter().enumerate() {
        header[i + 1] = offset;
        offset += p.len() as u32;
    }
    let mut out: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
    planes.iter().for_each(|p| out.extend_from_slice(p));
    out
}

/// Writes the seed corpora of the three fuzz targets under `out/<target>/`.
pub fn write_fuzz_seeds(out: &Path) {
    use dicom_core::value::{PixelFragmentSequence, Value};
    let dicom_dir = out.join("dicom");
    let image_dir = out.join("image");
    let model_dir = out.join("model_weights");
    for d in [&dicom_dir, &image_dir, &model_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir(data_dir().join("dicom"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    sources.sort();
    for source in &sources {
        let stem = source.file_name().unwrap().to_string_lossy().trim_end_matches(".dcm").to_string();
        let bytes = std::fs::read(source).unwrap();
        // Small compressed films as they are; big ones as a slice up to a little
        // into the pixel data (the parser and the codec headers are still fuzzed).
        if bytes.len() <= 300_000 {
            std::fs::write(dicom_dir.join(format!("{stem}.dcm")), &bytes).unwrap();
        } else if let Some(pixels) = tag_offset(&bytes, (0x7FE0, 0x0010), true) {
            let end = (pixels + 4096).min(bytes.len());
            std::fs::write(dicom_dir.join(format!("{stem}-head.dcm")), &bytes[..end]).unwrap();
        }
        let Some(mut small) = small_native_dicom(source, 24) else { continue };
        let mut native = Vec::new();
        small.write_all(&mut native).unwrap();
        std::fs::write(dicom_dir.join(format!("{stem}-small.dcm")), &native).unwrap();
        std::fs::write(dicom_dir.join(format!("{stem}-small-no-preamble.dcm")), &native[128..]).unwrap();
        let mut bare = Vec::new();
        small.write_dataset(&mut bare).unwrap();
        std::fs::write(dicom_dir.join(format!("{stem}-small-bare.dcm")), &bare).unwrap();
        let pixel_data = small.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().to_vec();
        let bytes_per = small.element(tags::BITS_ALLOCATED).unwrap().to_int::<usize>().unwrap().div_ceil(8);
        let width = small.element(tags::COLUMNS).unwrap().to_int::<usize>().unwrap();
        let rle = rle_frame(&pixel_data, bytes_per, width);
        small.update_meta(|meta| meta.transfer_syntax = "1.2.840.10008.1.2.5".into());
        let fragments = PixelFragmentSequence::new_fragments(vec![rle]);
        small.put(DataElement::new(tags::PIXEL_DATA, VR::OB, Value::from(fragments)));
        let mut rle_file = Vec::new();
        if small.write_all(&mut rle_file).is_ok() {
            std::fs::write(dicom_dir.join(format!("{stem}-small-rle.dcm")), &rle_file).unwrap();
        }
    }
    if let Some(bytes) = dicom_with_patient_data("RG3_UNC", 16) {
        std::fs::write(dicom_dir.join("patient-data.dcm"), bytes).unwrap();
    }

    // Ordinary images: every format and depth the loader handles, small.
    let gray16 = image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(20, 12, |x, y| image::Luma([(x * 3000 + y) as u16])));
    let rgb = image::DynamicImage::ImageRgb8(image::ImageBuffer::from_fn(20, 12, |x, y| image::Rgb([x as u8 * 9, y as u8 * 20, 77])));
    let rgba = image::DynamicImage::ImageRgba8(image::ImageBuffer::from_fn(20, 12, |x, _| image::Rgba([x as u8, x as u8, x as u8, 200])));
    let rgba16 = image::DynamicImage::ImageRgba16(image::ImageBuffer::from_fn(8, 6, |x, y| image::Rgba([x as u16 * 999, y as u16, 7, 65535])));
    let wide = image::DynamicImage::ImageLuma8(image::ImageBuffer::from_fn(40, 12, |x, _| image::Luma([x as u8 * 6])));
    for (name, img, format) in [
        ("gray16.png", &gray16, image::ImageFormat::Png),
        ("rgb.png", &rgb, image::ImageFormat::Png),
        ("rgba.png", &rgba, image::ImageFormat::Png),
        ("rgba16.png", &rgba16, image::ImageFormat::Png),
        ("wide.png", &wide, image::ImageFormat::Png),
        ("rgb.jpg", &rgb, image::ImageFormat::Jpeg),
        ("gray16.tif", &gray16, image::ImageFormat::Tiff),
        ("rgb.tif", &rgb, image::ImageFormat::Tiff),
        ("rgb.bmp", &rgb, image::ImageFormat::Bmp),
        ("rgba.bmp", &rgba, image::ImageFormat::Bmp),
    ] {
        std::fs::write(image_dir.join(name), encode(img.clone(), format)).unwrap();
    }
    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg, image::ImageFormat::Tiff, image::ImageFormat::Bmp] {
        std::fs::write(image_dir.join(format!("gray.{}", format.extensions_str()[0])), film(format)).unwrap();
    }
    if let Some(oai) = super::common::first_png(3) {
        std::fs::copy(oai, image_dir.join("oai.png")).unwrap();
    }

    // Models: a micro CLIP (valid, a few KB) and configs alone.
    use kneeclip::model::ClipConfig;
    let mut config = ClipConfig::default();
    let (v, t) = (&mut config.vision_config, &mut config.text_config);
    (v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads) = (4, 8, 2, 2);
    (v.image_size, v.patch_size) = (4, 2);
    (t.vocab_size, t.hidden_size, t.intermediate_size, t.num_hidden_layers, t.num_attention_heads) = (8, 4, 8, 1, 1);
    (t.max_position_embeddings, t.bos_token_id, t.eos_token_id, t.pad_token_id) = (4, 0, 2, 1);
    config.projection_dim = 4;
    let device = candle_core::Device::Cpu;
    let tensors = kneeclip::model::random::random_tensors(&config, &device).unwrap();
    let weights_path = model_dir.join("weights.tmp");
    candle_core::safetensors::save(&tensors, &weights_path).unwrap();
    let weights = std::fs::read(&weights_path).unwrap();
    std::fs::remove_file(&weights_path).unwrap();
    let mut micro = serde_json::to_vec_pretty(&config).unwrap();
    micro.extend_from_slice(super::fuzz_entry::MODEL_SEPARATOR);
    micro.extend_from_slice(&weights);
    assert_eq!(super::fuzz_entry::model(&micro), Ok(()), "the micro model seed must load");
    std::fs::write(model_dir.join("micro-model"), micro).unwrap();
    std::fs::write(model_dir.join("tiny-config.json"), std::fs::read(fixture_dir("tiny-clip").join("config.json")).unwrap()).unwrap();
    std::fs::write(model_dir.join("default-config.json"), serde_json::to_vec(&ClipConfig::default()).unwrap()).unwrap();
}
