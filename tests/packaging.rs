//! The packaging files agree with each other and with what the program does:
//! the desktop entry, the icons rendered from the SVG, the MIME addition and the
//! cargo-packager configuration. (`packaging/build.sh --deb` itself is run by
//! `.ci/run`, which installs and removes the package.)

use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `Key=value` lines of the desktop entry's main group.
fn desktop_entry() -> Vec<(String, String)> {
    let text = read("packaging/linux/kneeclip.desktop");
    assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not Key=value: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn the_desktop_entry_opens_films_in_the_viewer() {
    let entry = desktop_entry();
    let get = |key: &str| entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key}"));
    assert_eq!(get("Type"), "Application");
    assert_eq!(get("Exec"), "kneeclip view %f");
    assert_eq!(get("Icon"), "kneeclip");
    assert_eq!(get("Terminal"), "false");
    let mime: Vec<&str> = get("MimeType").split(';').filter(|s| !s.is_empty()).collect();
    // Every format kneeclip reads (BMP was missing, QA I13).
    assert_eq!(mime, ["application/dicom", "image/png", "image/jpeg", "image/tiff", "image/bmp"]);
    assert!(get("Comment").contains("not a diagnosis"));
    let keys: Vec<&str> = entry.iter().map(|(k, _)| k.as_str()).collect();
    let unique: std::collections::HashSet<&&str> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a key appears twice: {keys:?}");
    // `kneeclip view FILE` is what the entry runs: the command must accept it.
    use clap::CommandFactory;
    kneeclip::cli::Cli::command()
        .try_get_matches_from(["kneeclip", "view", "/tmp/knee.dcm"])
        .expect("`kneeclip view FILE` parses");
}

#[test]
fn icons_are_rendered_at_every_size_from_the_svg() {
    let svg = read("assets/icons/kneeclip.svg");
    assert!(svg.contains("viewBox=\"0 0 512 512\""), "a square SVG");
    for size in [16u32, 32, 48, 64, 128, 256, 512] {
        let path = repo(&format!("assets/icons/png/kneeclip-{size}.png"));
        let icon = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgba8();
        assert_eq!(icon.dimensions(), (size, size), "{}", path.display());
        // Transparent corners (the rounded film), an opaque centre.
        assert_eq!(icon.get_pixel(0, 0).0[3], 0, "{}", path.display());
        assert_eq!(icon.get_pixel(size / 2, size / 2).0[3], 255, "{}", path.display());
    }
    // The .ico: header, then PNG entries of 16 … 256 px (0 means 256).
    let ico = std::fs::read(repo("assets/icons/kneeclip.ico")).unwrap();
    assert_eq!(&ico[..4], &[0, 0, 1, 0]);
    let count = u16::from_le_bytes([ico[4], ico[5]]) as usize;
    let widths: Vec<u8> = (0..count).map(|i| ico[6 + 16 * i]).collect();
    assert_eq!(widths, [16, 32, 48, 64, 128, 0]);
}

#[test]
fn the_mime_addition_extends_the_standard_dicom_type() {
    let xml = read("packaging/linux/kneeclip-mime.xml");
    assert!(xml.contains("<mime-type type=\"application/dicom\">"));
    assert!(xml.contains("<glob pattern=\"*.dicom\"/>"));
    assert!(xml.contains("value=\"DICM\" offset=\"0\""));
    // A preamble-less stream is what the magic describes, and kneeclip reads it.
    let Some(film) = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dicom/RG2_JPLL")).ok() else {
        eprintln!("skipped: the DICOM films are missing");
        return;
    };
    assert_eq!(&film[128..132], b"DICM");
    let bare = &film[128..];
    let opened = kneeclip::imaging::Radiograph::from_bytes(bare, Path::new("no-preamble"), &Default::default());
    assert!(opened.is_ok(), "{:?}", opened.err());
}

#[test]
fn cargo_packager_is_configured_for_every_platform() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let packager = manifest["package"]["metadata"]["packager"].as_table().expect("[package.metadata.packager]");
    let formats: Vec<&str> = packager["formats"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    for format in ["deb", "appimage", "wix", "nsis", "app", "dmg"] {
        assert!(formats.contains(&format), "{format} is not packaged: {formats:?}");
    }
    // Every file the configuration names exists.
    let deb = packager["deb"].as_table().unwrap();
    let mut paths: Vec<String> = vec![deb["desktop-template"].as_str().unwrap().into(), deb["depends"].as_str().unwrap().into()];
    paths.extend(deb["files"].as_table().unwrap().keys().cloned());
    paths.extend(packager["appimage"]["files"].as_table().unwrap().keys().cloned());
    for path in &paths {
        assert!(repo(path).exists(), "{path} is named in [package.metadata.packager] but missing");
    }
    let icons: Vec<&str> = packager["icons"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(icons.contains(&"assets/icons/kneeclip.ico"), "Windows needs the .ico");
    // The committed Depends list is what the packaging README says a default build links.
    let depends = read("packaging/linux/depends");
    for package in ["libc6", "libgcc-s1", "libstdc++6"] {
        assert!(depends.lines().any(|l| l.starts_with(package)), "{package} missing from packaging/linux/depends");
    }
}

/// `kneeclip --help` named none of the variables an installer sets, nor the
/// cache (QA I11); `view --model-dir` gave no default order; bench's default
/// tokenizer read as a path on an installed machine.
#[test]
fn the_help_names_the_environment_and_the_defaults() {
    use clap::CommandFactory;
    let mut command = kneeclip::cli::Cli::command();
    let help = command.render_long_help().to_string();
    for var in [kneeclip::weights::MODEL_DIR_ENV, "KNEECLIP_CACHE_DIR", "HF_ENDPOINT", "HF_TOKEN", kneeclip::weights::DOWNLOAD_TIMEOUT_ENV] {
        assert!(help.contains(&format!("{var}=")), "{var} missing from:\n{help}");
    }
    assert!(help.contains("~/.cache/kneeclip") && help.contains("/etc/environment"), "{help}");
    let mut sub = |name: &str| command.find_subcommand_mut(name).unwrap().render_long_help().to_string();
    let view = sub("view");
    assert!(view.contains("chosen in the viewer, then $KNEECLIP_MODEL_DIR, then the user cache"), "{view}");
    let bench = sub("bench");
    assert!(bench.contains("$KNEECLIP_MODEL_DIR or the user cache") && !bench.contains("then ../shared"), "{bench}");
}
