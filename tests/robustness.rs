//! Robustness: every bad input — damaged or lying films, unusable model folders,
//! outputs that cannot be written — is refused with a message that names the file
//! and the problem, through the library and through `kneeclip grade/eval/train`
//! (non-zero exit, the message on stderr, no panic, no half-written file); and no
//! patient name or ID ever reaches a log or a message.
//!
//! The bad files are made at test time from the real films in `../shared/data`
//! and the tiny fixture model (tests/robustness/corpus.rs); inputs found by the
//! fuzz targets (fuzz/) are kept in tests/fixtures/fuzz-regressions/ and replayed
//! here through the same code the fuzzer ran (fuzz/src/lib.rs).

mod common;
#[path = "robustness/corpus.rs"]
mod corpus;
#[path = "../fuzz/src/lib.rs"]
mod fuzz_entry;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{data_dir, fixture_dir, shared_tokenizer};
use corpus::{SENTINEL_PIECES, flipped, shared_dicom, tag_offset, with_us_value};
use kneeclip::imaging::Radiograph;

// ------------------------------------------------------------------ helpers

/// Runs the built `kneeclip` with arguments that need not be UTF-8.
fn kneeclip<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_kneeclip(args, None)
}

/// Same, with stdout sent to `stdout` (e.g. /dev/full) instead of a pipe.
fn run_kneeclip<S: AsRef<OsStr>>(args: &[S], stdout: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kneeclip"));
    command.args(args).env_remove("KNEECLIP_MODEL_DIR");
    if let Some(path) = stdout {
        command.stdout(std::fs::OpenOptions::new().write(true).open(path).unwrap());
    }
    let out = command.output().expect("kneeclip runs");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("panicked"), "kneeclip panicked:\n{all}");
    assert!(!all.contains("RUST_BACKTRACE"), "kneeclip panicked:\n{all}");
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The file's name as a message shows it.
fn shown_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A model folder the CLI can use (tiny fixture + real tokenizer), or `None`
/// with the reason printed.
fn cli_model(root: &Path) -> Option<PathBuf> {
    let tokenizer = shared_tokenizer()?;
    Some(corpus::tiny_model_dir(root, "model", Some(&tokenizer)))
}

/// Files (and hidden partial files) left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

// ------------------------------------------------------------------ films

/// A film the loader must refuse (or, for `may_load`, may read as some image),
/// and words one of which the refusal must contain.
struct BadFilm {
    label: String,
    path: PathBuf,
    problem: &'static [&'static str],
    may_load: bool,
}

// A file cut inside its preamble is no longer recognisably DICOM; RG3_UNC's
// preamble holds a TIFF header, so it reads as a damaged TIFF.
const TRUNCATED: &[&str] = &["truncated", "cut short", "malformed", "not a readable dicom", "no dicom header", "damaged"];
const DAMAGED: &[&str] = &["malformed", "damaged", "not a readable dicom", "truncated", "cut short", "missing or invalid"];
const TOO_LARGE: &[&str] = &["too large", "limit"];
const DAMAGED_OR_TOO_LARGE: &[&str] = &["malformed", "damaged", "not a readable dicom", "truncated", "too large"];
const TOO_THIN: &[&str] = &["elongated", "aspect"];

/// Writes `bytes` as `name` in `dir` and records how it must be refused.
fn bad(dir: &Path, name: &str, bytes: &[u8], problem: &'static [&'static str], may_load: bool) -> BadFilm {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    BadFilm { label: name.to_string(), path, problem, may_load }
}

/// Damaged, truncated and lying DICOM files made from the real ones.
fn bad_dicoms(dir: &Path) -> Vec<BadFilm> {
    let mut cases = Vec::new();
    let sources = [
        "RG3_UNC",
        "RG3_JPLL",
        "RG3_J2KR",
        "RG3_RLE",
        "RG3_JLSL",
        "RG3_JPLY",
        "vpop_jpeg-baseline.dcm",
        "CR-MONO1-10-chest",
    ];
    for source in sources {
        let Some(bytes) = shared_dicom(source) else { return Vec::new() };
        let stem = source.trim_end_matches(".dcm");
        let pixels = tag_offset(&bytes, (0x7FE0, 0x0010), true).unwrap();
        let rows = tag_offset(&bytes, (0x0028, 0x0010), false).unwrap();
        let mut cuts = vec![
            ("in-the-tags", rows - 3),
            ("at-pixel-data", pixels + 6),
            ("mid-pixel-data", pixels + (bytes.len() - pixels) / 2),
            ("last-byte-missing", bytes.len() - 1),
        ];
        if &bytes[128..132] == b"DICM" {
            cuts.extend([("in-preamble", 60), ("before-magic", 131), ("in-file-meta", 140)]);
        }
        // Encapsulated pixel data ends with an 8-byte delimiter after the last
        // fragment: without its last byte every pixel is still there.
        let encapsulated = bytes[pixels + 8..pixels + 12] == [0xFF; 4];
        for (label, cut) in cuts {
            let name = format!("{stem}-cut-{label}.dcm");
            let intact = encapsulated && label == "last-byte-missing";
            cases.push(bad(dir, &name, &bytes[..cut], TRUNCATED, intact));
        }
        // Header lies: a size far over the limit, and one under it with far too little data.
        cases.push(bad(dir, &format!("{stem}-65535x65535.dcm"), &with_us_value(&with_us_value(&bytes, (0x0028, 0x0010), 65535), (0x0028, 0x0011), 65535), TOO_LARGE, false));
        let big = with_us_value(&with_us_value(&bytes, (0x0028, 0x0010), 9000), (0x0028, 0x0011), 9000);
        // (9000×9000 RGB is over the limit: "too large" then.)
        cases.push(bad(dir, &format!("{stem}-9000x9000.dcm"), &big, DAMAGED_OR_TOO_LARGE, false));
        // Flipped bytes: the pixel data tag's length / the first fragment's marker,
        // and one byte in the middle of the pixel data (which may still decode).
        let explicit_vr = matches!(&bytes[pixels + 4..pixels + 6], b"OB" | b"OW");
        let length_byte = if explicit_vr { pixels + 10 } else { pixels + 6 };
        cases.push(bad(dir, &format!("{stem}-flip-pixel-length.dcm"), &flipped(&bytes, length_byte), DAMAGED, false));
        let middle = pixels + (bytes.len() - pixels) / 2;
        cases.push(bad(dir, &format!("{stem}-flip-mid-pixels.dcm"), &flipped(&bytes, middle), DAMAGED, true));
    }
    // Flips in the header of a file with a preamble.
    let Some(unc) = shared_dicom("RG3_UNC") else { return Vec::new() };
    // RG3_UNC's preamble is a TIFF header over its own pixels: without "DICM" it may read as that TIFF.
    cases.push(bad(dir, "flip-magic.dcm", &flipped(&unc, 129), &["no dicom header", "tiff"], true));
    let ts = unc.windows(17).position(|w| w == b"1.2.840.10008.1.2").unwrap();
    cases.push(bad(dir, "flip-transfer-syntax.dcm", &flipped(&unc, ts + 4), &["invalid uid"], false));
    let mut unknown_ts = unc.clone();
    unknown_ts[ts + 4] = b'9'; // 1.2.940.10008.1.2.1: a well-formed UID nobody knows
    cases.push(bad(dir, "unknown-transfer-syntax.dcm", &unknown_ts, &["transfer syntax"], false));
    let rows = tag_offset(&unc, (0x0028, 0x0010), false).unwrap();
    cases.push(bad(dir, "flip-rows-vr.dcm", &flipped(&unc, rows + 4), DAMAGED, true));
    cases.push(bad(dir, "rows-zero.dcm", &with_us_value(&unc, (0x0028, 0x0010), 0), &["rows"], false));
    // A 1-pixel-high film 65535 wide: its data is there, but no knee is that shape.
    let thin = with_us_value(&with_us_value(&unc, (0x0028, 0x0010), 1), (0x0028, 0x0011), 65535);
    cases.push(bad(dir, "one-row.dcm", &thin, TOO_THIN, false));
    // JPEG in DICOM whose own frame header claims 65535×65535 (the DICOM header says less).
    if let Some(vpop) = shared_dicom("vpop_jpeg-baseline.dcm") {
        let sof = vpop.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let mut bomb = vpop.clone();
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        // Refused from the frame header, before the decoder allocates by it (it took 18 GB and
        // was killed where memory was short): said as that header's mismatch, not the decoder's failure.
        cases.push(bad(dir, "jpeg-in-dicom-claims-65535x65535.dcm", &bomb, &["its own header says the frame is 65535×65535 pixels, which does not match the dicom header's 1296×2421"], false));
    }
    cases
}

/// Ordinary images that lie, are empty, are not files, or have awkward names.
fn bad_rasters(dir: &Path) -> Vec<BadFilm> {
    let mut cases = vec![
        bad(dir, "bomb-100000x100000.png", &corpus::png_bomb(100_000, 100_000), TOO_LARGE, false),
        bad(dir, "bomb-9000x9000.png", &corpus::png_bomb(9000, 9000), &["damaged"], false),
        bad(dir, "jpeg-claims-65535x65535.jpg", &corpus::jpeg_claiming(65535, 65535), TOO_LARGE, false),
        bad(dir, "jpeg-claims-9000x9000.jpg", &corpus::jpeg_claiming(9000, 9000), &["damaged"], true),
        bad(dir, "thin-1x200000.png", &corpus::png(1, 200_000), TOO_THIN, false),
        bad(dir, "wide-200000x1.png", &corpus::png(200_000, 1), TOO_THIN, false),
        bad(dir, "empty.dcm", b"", &["empty"], false),
        bad(dir, "empty.png", b"", &["empty"], false),
        bad(dir, "notes.dcm", b"Patient positioning notes\n", &["no dicom header"], false),
        bad(dir, "notes.png", b"Patient positioning notes\n", &["not a recognised image", "contains text"], false),
        bad(dir, "gif-as.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", &["not supported", "not a recognised"], false),
    ];
    let png = corpus::png(64, 48);
    for cut in [7, 20, 40, png.len() / 2, png.len() - 13] {
        cases.push(bad(dir, &format!("png-cut-{cut}.png"), &png[..cut], &["damaged", "not a recognised"], false));
    }
    let mut crc = png.clone();
    crc[29] ^= 0xFF; // inside the IHDR CRC
    cases.push(bad(dir, "png-bad-crc.png", &crc, &["damaged"], false));
    let tiff = corpus::film(image::ImageFormat::Tiff);
    cases.push(bad(dir, "tiff-cut.tif", &tiff[..tiff.len() / 2], &["damaged"], false));
    let bmp = corpus::film(image::ImageFormat::Bmp);
    cases.push(bad(dir, "bmp-cut.bmp", &bmp[..40], &["damaged"], false));

    // Not regular files.
    let folder = dir.join("folder.png");
    std::fs::create_dir(&folder).unwrap();
    cases.push(BadFilm { label: "a folder".into(), path: folder, problem: &["folder"], may_load: false });
    cases.push(BadFilm { label: "/dev/zero".into(), path: "/dev/zero".into(), problem: &["not a regular file"], may_load: false });
    cases.push(BadFilm { label: "missing".into(), path: dir.join("missing.png"), problem: &["no such file"], may_load: false });

    // Awkward names: not UTF-8, over 255 bytes, a path over PATH_MAX.
    let non_utf8 = dir.join(OsStr::from_bytes(b"knee-\xff\xfe-cut.dcm"));
    let Some(unc) = shared_dicom("RG3_UNC") else { return cases };
    std::fs::write(&non_utf8, &unc[..1000]).unwrap();
    cases.push(BadFilm { label: "non-UTF-8 name".into(), path: non_utf8, problem: TRUNCATED, may_load: false });
    let long_name = dir.join(format!("{}.png", "k".repeat(300)));
    cases.push(BadFilm { label: "300-byte name".into(), path: long_name, problem: &["name too long"], may_load: false });
    let deep: PathBuf = std::iter::once(dir.to_path_buf()).chain((0..40).map(|i| PathBuf::from(format!("{i:03}{}", "d".repeat(120))))).collect();
    cases.push(BadFilm { label: "5000-byte path".into(), path: deep.join("knee.png"), problem: &["name too long"], may_load: false });
    cases
}

/// Checks one refusal from the library: it names the file and the problem.
fn check_refusal(case: &BadFilm, result: Result<Radiograph, kneeclip::imaging::ImagingError>) -> Option<String> {
    let film = match result {
        Err(e) => {
            let message = e.to_string();
            eprintln!("{:<45} {message}", case.label);
            assert!(message.contains(&shown_name(&case.path)), "{}: the message does not name the file: {message}", case.label);
            let lower = message.to_lowercase();
            assert!(
                case.problem.iter().any(|p| lower.contains(p)),
                "{}: the message does not say {:?}: {message}",
                case.label,
                case.problem
            );
            return Some(message);
        }
        Ok(film) => film,
    };
    assert!(case.may_load, "{}: a bad film was read as {}×{}", case.label, film.width(), film.height());
    eprintln!("{:<45} read as {}×{} (undetectable damage)", case.label, film.width(), film.height());
    // Whatever was read must be usable by `grade` without running out of memory.
    let view = film.model_view();
    let pre = kneeclip::model::Preprocessing::clip(224);
    for region in kneeclip::grading::regions::regions_for(view.width as usize, view.height as usize) {
        let (w, gray) = kneeclip::grading::regions::crop_region(view.width as usize, &view.data, region);
        assert_eq!(pre.pixel_values(w, view.height as usize, &gray).len(), 3 * 224 * 224);
    }
    None
}

/// Library and CLI on the same bad films: the library refuses each with its
/// message; `kneeclip grade` prints that message on stderr (text) or in the
/// film's JSON line, grades the rest and exits 1.
fn check_films_library_and_cli(cases: &[BadFilm]) {
    assert!(!cases.is_empty());
    let library: Vec<Option<String>> =
        cases.iter().map(|case| check_refusal(case, Radiograph::open(&case.path))).collect();
    // `grade` takes a folder for the films in it: an empty one is refused as such.
    let messages: Vec<Option<String>> = cases
        .iter()
        .zip(library)
        .map(|(case, message)| if case.path.is_dir() { Some(format!("{}: no films in this folder or below it", case.path.display())) } else { message })
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = cli_model(tmp.path()) else { return };
    let mut args: Vec<&OsStr> = vec!["grade".as_ref(), "--offline".as_ref(), "--model-dir".as_ref(), model.as_os_str()];
    args.extend(cases.iter().map(|c| c.path.as_os_str()));
    let out = kneeclip(&args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (case, message) in cases.iter().zip(&messages) {
        if let Some(message) = message {
            assert!(stderr.contains(&format!("kneeclip: {message}")), "{}: stderr lacks {message}\n{stderr}", case.label);
        }
    }
    let failed = messages.iter().filter(|m| m.is_some()).count();
    assert!(stderr.contains(&format!("{failed} of {} films could not be graded", cases.len())), "{stderr}");

    args.insert(1, "--json".as_ref());
    let out = kneeclip(&args);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let errors: Vec<&str> = lines.iter().filter_map(|l| l["error"].as_str()).collect();
    assert_eq!(errors.len(), failed, "{stdout}");
    for message in messages.iter().flatten() {
        assert!(errors.contains(&message.as_str()), "no JSON error line {message}");
    }
}

#[test]
fn damaged_and_lying_dicom_files_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = bad_dicoms(tmp.path());
    if cases.is_empty() {
        return;
    }
    check_films_library_and_cli(&cases);
}

#[test]
fn bombs_empty_files_folders_and_awkward_paths_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    check_films_library_and_cli(&bad_rasters(tmp.path()));
}

#[test]
fn content_decides_the_format_whatever_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dicom) = shared_dicom("vpop_jpeg-baseline.dcm") else { return };
    let proper = tmp.path().join("film.dcm");
    std::fs::write(&proper, &dicom).unwrap();
    let reference = Radiograph::open(&proper).unwrap();
    for name in ["dicom-named.png", "dicom-named.jpg", "no-extension"] {
        let path = tmp.path().join(name);
        std::fs::write(&path, &dicom).unwrap();
        assert_eq!(Radiograph::open(&path).unwrap().pixels(), reference.pixels(), "{name}");
    }
    for (format, names) in [
        (image::ImageFormat::Png, ["png-named.dcm", "png-named.jpg"]),
        (image::ImageFormat::Jpeg, ["jpeg-named.png", "jpeg-named.dcm"]),
        (image::ImageFormat::Tiff, ["tiff-named.png", "tiff-named.dcm"]),
    ] {
        let bytes = corpus::film(format);
        for name in names {
            let path = tmp.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let film = Radiograph::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((film.width(), film.height()), (64, 48), "{name}");
        }
    }
    // A good film at a non-UTF-8 path and at a deep (but legal) path is graded;
    // the JSON names it with the undecodable bytes replaced.
    let odd = tmp.path().join(OsStr::from_bytes(b"knee-\xff.png"));
    std::fs::write(&odd, corpus::png(224, 224)).unwrap();
    let deep: PathBuf = std::iter::once(tmp.path().to_path_buf()).chain((0..15).map(|i| PathBuf::from(format!("{i:02}{}", "d".repeat(200))))).collect();
    std::fs::create_dir_all(&deep).unwrap();
    let deep_film = deep.join(format!("{}.png", "k".repeat(250)));
    std::fs::write(&deep_film, corpus::png(224, 224)).unwrap();
    assert!(deep_film.as_os_str().len() > 3000);
    assert_eq!(Radiograph::open(&odd).unwrap().width(), 224);
    assert_eq!(Radiograph::open(&deep_film).unwrap().width(), 224);
    let Some(model) = cli_model(tmp.path()) else { return };
    let out = kneeclip(&[OsStr::new("grade"), "--offline".as_ref(), "--json".as_ref(), "--model-dir".as_ref(), model.as_os_str(), odd.as_os_str(), deep_film.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0]["file"].as_str().unwrap().ends_with("knee-\u{FFFD}.png"), "{stdout}");
    assert!(lines.iter().all(|l| l["grade"].as_u64().is_some_and(|g| g <= 4)), "{stdout}");
}

// ------------------------------------------------------------------ model folders

#[test]
fn unusable_model_folders_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let tokenizer = shared_tokenizer();
    let cases = corpus::bad_models();
    let mut dirs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = corpus::write_bad_model(tmp.path(), i, case, tokenizer.as_deref());
        let result = kneeclip::model::ClipModel::load(&dir.join("config.json"), &dir.join("model.safetensors"), &candle_core::Device::Cpu);
        let message = result.err().unwrap_or_else(|| panic!("{}: the model loaded", case.name)).to_string();
        eprintln!("{:<45} {message}", case.name);
        // It names the folder and the file at fault (a config that lies is found out
        // while reading the weights: the message names both files).
        assert!(message.contains(&dir.display().to_string()) && message.contains(case.file), "{}: does not name {}: {message}", case.name, case.file);
        let lower = message.to_lowercase();
        assert!(case.problem.iter().any(|p| lower.contains(p)), "{}: does not say {:?}: {message}", case.name, case.problem);
        dirs.push((dir, message));
    }
    let Some(_) = tokenizer else { return };
    let film = tmp.path().join("film.png");
    std::fs::write(&film, corpus::png(224, 224)).unwrap();
    for ((dir, message), case) in dirs.iter().zip(&cases) {
        let out = kneeclip(&[OsStr::new("grade"), "--offline".as_ref(), "--model-dir".as_ref(), dir.as_os_str(), film.as_os_str()]);
        assert_eq!(out.status.code(), Some(2), "{}", case.name);
        assert!(text(&out.stderr).contains(message.as_str()), "{}: {}", case.name, text(&out.stderr));
        assert!(out.stdout.is_empty(), "{}", case.name);
    }
    // eval and train stop the same way before reading any film.
    let (dir, message) = &dirs[1];
    let data = dataset_of_pngs(tmp.path(), 2);
    for command in ["eval", "train"] {
        let out_file = tmp.path().join("head.safetensors");
        let mut args = vec![OsStr::new(command), "--offline".as_ref(), "--model-dir".as_ref(), dir.as_os_str(), data.as_os_str()];
        if command == "train" {
            args.extend([OsStr::new("--out"), out_file.as_os_str(), "--epochs".as_ref(), "1".as_ref()]);
        }
        let out = kneeclip(&args);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(message.as_str()), "{command}: {}", text(&out.stderr));
        assert!(!out_file.exists());
    }
}

#[test]
fn unusable_head_and_anchors_files_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = cli_model(tmp.path()) else { return };
    let film = tmp.path().join("film.png");
    std::fs::write(&film, corpus::png(224, 224)).unwrap();
    let head = std::fs::read(fixture_dir("tiny-clip").join("head.safetensors")).unwrap();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("head-cut.safetensors", "--head", head[..head.len() / 2].to_vec()),
        ("head-empty.safetensors", "--head", Vec::new()),
        ("head-is-a-model.safetensors", "--head", std::fs::read(model.join("model.safetensors")).unwrap()),
        ("anchors-four.txt", "--anchors", b"a\nb\nc\nd\n".to_vec()),
        ("anchors-bad.json", "--anchors", b"{\"anchors\": [1, 2".to_vec()),
        ("anchors-binary.txt", "--anchors", vec![0xff, 0xfe, 0, 1, 2]),
    ];
    for (name, flag, bytes) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = kneeclip(&[OsStr::new("grade"), "--offline".as_ref(), "--model-dir".as_ref(), model.as_os_str(), flag.as_ref(), path.as_os_str(), film.as_os_str()]);
        let stderr = text(&out.stderr);
        eprintln!("{name}: {stderr}");
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: the message does not name the file: {stderr}");
    }
}

// ------------------------------------------------------------------ outputs

/// `per_grade` real OAI films per grade under `root/data/<g>/`.
fn dataset_of_pngs(root: &Path, per_grade: usize) -> PathBuf {
    let out = root.join("data");
    for g in 0..5 {
        std::fs::create_dir_all(out.join(g.to_string())).unwrap();
        let src = data_dir().join(format!("oai-kl/train/{g}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
        files.sort();
        for (i, f) in files.iter().take(per_grade).enumerate() {
            std::fs::copy(f, out.join(g.to_string()).join(format!("film{i}.png"))).unwrap();
        }
        // Without the shared data, synthetic films keep the layout valid.
        if files.is_empty() {
            for i in 0..per_grade {
                std::fs::write(out.join(g.to_string()).join(format!("film{i}.png")), corpus::png(224, 224)).unwrap();
            }
        }
    }
    out
}

/// Places an output cannot go: under a regular file, and (when not running as
/// root, who may write anywhere) in a read-only folder.
fn unwritable_folders(root: &Path) -> Vec<PathBuf> {
    let file = root.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mut places = vec![file.join("sub")];
    let read_only = root.join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    let mut permissions = std::fs::metadata(&read_only).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o555);
    std::fs::set_permissions(&read_only, permissions).unwrap();
    if std::fs::write(read_only.join("probe"), b"x").is_ok() {
        let _ = std::fs::remove_file(read_only.join("probe"));
        // Root writes into a 0555 folder; not into sysfs, a folder that exists and takes no new file.
        let sys = PathBuf::from("/sys");
        if sys.is_dir() && std::fs::write(sys.join("kneeclip-probe.csv"), b"x").is_err() {
            places.push(sys);
        } else {
            eprintln!("skipped the read-only folder case: this user (root?) can write into a 0555 folder, and /sys is not there to stand in");
        }
    } else {
        places.push(read_only);
    }
    places
}

#[test]
fn outputs_that_cannot_be_written_fail_cleanly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = cli_model(tmp.path()) else { return };
    let data = dataset_of_pngs(tmp.path(), 2);
    for place in unwritable_folders(tmp.path()) {
        // What the folder held before (sysfs holds entries of its own): nothing is added.
        let before = leftovers(&place);
        let predictions = place.join("predictions.csv");
        let out = kneeclip(&[OsStr::new("eval"), "--offline".as_ref(), "--model-dir".as_ref(), model.as_os_str(), "--predictions".as_ref(), predictions.as_os_str(), data.as_os_str()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&predictions.display().to_string()), "{stderr}");
        // Found before any film is graded (a read-only folder was found only after all were).
        assert!(out.stdout.is_empty() && stderr.contains("cannot write the predictions there"), "{stderr}");
        assert!(!predictions.exists() && leftovers(&place) == before, "{:?}", leftovers(&place));

        let head = place.join("head.safetensors");
        let out = kneeclip(&[OsStr::new("train"), "--offline".as_ref(), "--model-dir".as_ref(), model.as_os_str(), "--epochs".as_ref(), "1".as_ref(), "--angles".as_ref(), "0".as_ref(), "--out".as_ref(), head.as_os_str(), data.as_os_str()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&place.display().to_string()), "{stderr}");
        assert!(leftovers(&place) == before, "{:?}", leftovers(&place));
    }
    // A 250-byte name is legal: the temporary file written beside it must be too.
    let long = tmp.path().join(format!("{}.csv", "p".repeat(246)));
    let out = kneeclip(&[OsStr::new("eval"), "--offline".as_ref(), "--json".as_ref(), "--model-dir".as_ref(), model.as_os_str(), "--predictions".as_ref(), long.as_os_str(), data.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(long.is_file());

    // Standard output that cannot take the results (a full disk): a message, exit 2.
    let film = tmp.path().join("film.png");
    std::fs::write(&film, corpus::png(224, 224)).unwrap();
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped the full-disk case: no /dev/full");
        return;
    }
    for format in ["--json", "--csv", "--device=cpu"] {
        let out = run_kneeclip(&[OsStr::new("grade"), "--offline".as_ref(), format.as_ref(), "--model-dir".as_ref(), model.as_os_str(), film.as_os_str()], Some(full));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "grade {format}: {stderr}");
        assert!(stderr.contains("standard output") && stderr.contains("No space left"), "grade {format}: {stderr}");
    }
    for format in ["--json", "--device=cpu"] {
        let out = run_kneeclip(&[OsStr::new("eval"), "--offline".as_ref(), format.as_ref(), "--model-dir".as_ref(), model.as_os_str(), data.as_os_str()], Some(full));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "eval {format}: {stderr}");
        assert!(stderr.contains("standard output") && stderr.contains("No space left"), "eval {format}: {stderr}");
    }
}

// ------------------------------------------------------------------ patient data

fn assert_no_patient_data(what: &str, output: &str) {
    for piece in SENTINEL_PIECES {
        assert!(!output.contains(piece), "{what} shows patient data ({piece}):\n{output}");
    }
}

#[test]
fn patient_names_and_ids_never_reach_output_logs_or_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dicom) = corpus::dicom_with_patient_data("RG3_UNC", 256) else { return };
    let film = tmp.path().join("knee.dcm");
    std::fs::write(&film, &dicom).unwrap();
    // The planted data is really in the film (the viewer shows it on request).
    let opened = Radiograph::open(&film).unwrap();
    assert!(opened.patient_label().unwrap().contains(&kneeclip::imaging::person_name(corpus::SENTINEL_NAME)));

    // Damaged copies: no refusal repeats what it read from the file.
    let patient = tag_offset(&dicom, (0x0010, 0x0010), false).unwrap();
    let pixels = tag_offset(&dicom, (0x7FE0, 0x0010), true).unwrap();
    let mut refusals = 0;
    for cut in (0..pixels + 16).step_by(7) {
        if let Err(e) = Radiograph::from_bytes(&dicom[..cut.max(1)], Path::new("cut.dcm"), &Default::default()) {
            assert_no_patient_data(&format!("cut at {cut}"), &e.to_string());
            refusals += 1;
        }
    }
    for at in (patient.saturating_sub(64)..pixels + 12).chain(128..400) {
        for xor in [0xFF, 0x20, 0x01] {
            let mut bytes = dicom.clone();
            bytes[at] ^= xor;
            if let Err(e) = Radiograph::from_bytes(&bytes, Path::new("flip.dcm"), &Default::default()) {
                assert_no_patient_data(&format!("flip {xor:#x} at {at}"), &e.to_string());
                refusals += 1;
            }
        }
    }
    assert!(refusals > 100, "only {refusals} damaged copies were refused");

    let Some(model) = cli_model(tmp.path()) else { return };
    let unreadable = tmp.path().join("unreadable.dcm");
    std::fs::write(&unreadable, &dicom[..pixels + 100]).unwrap();
    for format in ["--json", "--csv", "--device=cpu"] {
        let out = kneeclip(&[OsStr::new("grade"), "--offline".as_ref(), format.as_ref(), "--model-dir".as_ref(), model.as_os_str(), film.as_os_str(), unreadable.as_os_str()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("knee.dcm"), "the film was graded: {}", text(&out.stdout));
        assert_no_patient_data(&format!("grade {format} stdout"), &text(&out.stdout));
        assert_no_patient_data(&format!("grade {format} stderr"), &text(&out.stderr));
    }
    // eval and train read it as one film of a dataset (with an unreadable copy).
    let data = dataset_of_pngs(tmp.path(), 2);
    std::fs::copy(&film, data.join("2/knee.dcm")).unwrap();
    std::fs::copy(&unreadable, data.join("3/unreadable.dcm")).unwrap();
    let predictions = tmp.path().join("predictions.csv");
    for format in ["--json", "--device=cpu"] {
        let out = kneeclip(&[OsStr::new("eval"), "--offline".as_ref(), format.as_ref(), "--model-dir".as_ref(), model.as_os_str(), "--predictions".as_ref(), predictions.as_os_str(), data.as_os_str()]);
        assert_eq!(out.status.code(), Some(1), "figures for the readable films, and 1 for the one that is not: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("unreadable.dcm"), "{}", text(&out.stderr));
        assert_no_patient_data(&format!("eval {format} stdout"), &text(&out.stdout));
        assert_no_patient_data(&format!("eval {format} stderr"), &text(&out.stderr));
        let csv = std::fs::read_to_string(&predictions).unwrap();
        assert!(csv.contains("knee.dcm"));
        assert_no_patient_data("eval predictions", &csv);
    }
    let head = tmp.path().join("head.safetensors");
    let out = kneeclip(&[OsStr::new("train"), "--offline".as_ref(), "--model-dir".as_ref(), model.as_os_str(), "--epochs".as_ref(), "1".as_ref(), "--angles".as_ref(), "0".as_ref(), "--out".as_ref(), head.as_os_str(), data.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_patient_data("train stdout", &text(&out.stdout));
    assert_no_patient_data("train stderr", &text(&out.stderr));
    assert_no_patient_data("train sidecar", &std::fs::read_to_string(head.with_extension("json")).unwrap());
}

// ------------------------------------------------------------------ fuzz findings

/// Every input the fuzz targets found a bug with, replayed exactly as the fuzzer
/// ran it: it must now be refused (or read) without a panic. Mutated inputs are
/// committed under `fuzz-regressions/<target>/`; inputs that are unmodified real
/// files are listed in `shared-inputs.txt` and read in place from the shared data.
#[test]
fn fuzz_regressions_no_longer_crash() {
    let root = fixture_dir("fuzz-regressions");
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    for target in ["dicom", "image", "model_weights"] {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        inputs.extend(files.into_iter().map(|f| (target.to_string(), f)));
    }
    let listed = std::fs::read_to_string(root.join("shared-inputs.txt")).unwrap();
    for line in listed.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut fields = line.split_whitespace();
        let (Some(target), Some(path)) = (fields.next(), fields.next()) else { panic!("bad line in shared-inputs.txt: {line}") };
        assert!(["dicom", "image", "model_weights"].contains(&target), "unknown target in shared-inputs.txt: {line}");
        let file = data_dir().join(path);
        if !file.is_file() {
            eprintln!("skipped: {} is not readable; set KNEECLIP_DATA_DIR", file.display());
            continue;
        }
        inputs.push((target.to_string(), file));
    }
    for (target, file) in &inputs {
        let bytes = std::fs::read(file).unwrap();
        let outcome = match target.as_str() {
            "dicom" => fuzz_entry::film(&bytes, "fuzz.dcm"),
            "image" => fuzz_entry::film(&bytes, "fuzz.png"),
            _ => fuzz_entry::model(&bytes),
        };
        eprintln!("{target}/{}: {outcome:?}", shown_name(file));
    }
    // The list itself must not be empty: a finding without its input is not kept.
    assert!(listed.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')), "shared-inputs.txt lists nothing");
}

/// Seeds for `tools/fuzz.sh`: small films and micro models derived from the real
/// data and the fixture, written under `$KNEECLIP_FUZZ_SEEDS/<target>/`.
#[test]
#[ignore = "run by tools/fuzz.sh"]
fn write_fuzz_seeds() {
    let Some(out) = std::env::var_os("KNEECLIP_FUZZ_SEEDS").map(PathBuf::from) else {
        panic!("set KNEECLIP_FUZZ_SEEDS to the seed folder");
    };
    corpus::write_fuzz_seeds(&out);
}
