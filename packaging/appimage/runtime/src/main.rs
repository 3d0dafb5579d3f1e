//! The runtime at the head of kneeclip's AppImage.
//!
//! An AppImage (type 2) is an ELF program with `AI\x02` at byte 8 and a squashfs image
//! appended right after the ELF's last section header. The reference runtime mounts
//! that image with FUSE; this one extracts it once into the user's cache and runs its
//! `AppRun` from there. The cost is one extraction (about a second) on first launch; the
//! gain is that it works where FUSE does not: no libfuse2 on the desktop, containers,
//! locked-down clinic machines. The cache entry is named after a hash of the whole file,
//! so a new AppImage never runs an old extraction.
//!
//! Options (the reference runtime's names, so scripts and docs carry over):
//!   --appimage-extract [DIR]   write the image's files to DIR (default ./squashfs-root)
//!   --appimage-offset          print where the squashfs image starts
//!   --appimage-version         print this runtime's version
//!   --appimage-help            print this help
//! Every other argument goes to the application unchanged.

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode};

use backhand::{FilesystemReader, InnerNode};

const HELP: &str = "\
This is an AppImage of kneeclip. Run it to start kneeclip; every argument is passed on.
On first launch its files are extracted into ~/.cache/appimage-run/ (no FUSE needed).

AppImage options:
  --appimage-extract [DIR]  extract the files to DIR (default ./squashfs-root) and exit
  --appimage-offset         print the byte offset of the squashfs image and exit
  --appimage-version        print the runtime's version and exit
  --appimage-help           print this help and exit";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kneeclip AppImage: {message}");
            ExitCode::from(127)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<_> = args.collect();
    let image = std::env::current_exe()
        .map_err(|e| format!("cannot find this AppImage's own file: {e}"))?;
    let offset = squashfs_offset(&image)?;

    match rest.first().and_then(|a| a.to_str()) {
        Some("--appimage-help") => {
            println!("{HELP}");
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-version") => {
            println!("kneeclip AppImage runtime {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-offset") => {
            println!("{offset}");
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-extract") => {
            let target = rest.get(1).map(PathBuf::from).unwrap_or_else(|| "squashfs-root".into());
            extract(&image, offset, &target)?;
            println!("{}", target.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) if other.starts_with("--appimage-") => {
            return Err(format!("unknown option {other} (see --appimage-help)"));
        }
        _ => {}
    }

    let appdir = cached_extraction(&image, offset)?;
    let apprun = appdir.join("AppRun");
    let owd = std::env::current_dir().unwrap_or_default();
    // exec only returns on failure.
    let error = Command::new(&apprun)
        .args(&rest)
        .env("APPIMAGE", &image)
        .env("APPDIR", &appdir)
        .env("ARGV0", &argv0)
        .env("OWD", &owd)
        .exec();
    Err(format!("cannot start {}: {error}", apprun.display()))
}

/// Where the squashfs image starts: right after the ELF's section header table, which
/// linkers put at the end of the file.
fn squashfs_offset(image: &Path) -> Result<u64, String> {
    let mut header = [0u8; 64];
    File::open(image)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    let offset = elf_end(&header)
        .ok_or_else(|| format!("{} is not a 64-bit little-endian ELF file", image.display()))?;
    let mut magic = [0u8; 4];
    File::open(image)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut magic)
        })
        .ok()
        .filter(|_| &magic == b"hsqs")
        .ok_or_else(|| {
            format!(
                "{} has no squashfs image after its runtime (expected at byte {offset}): \
                 the file is truncated or damaged; download it again",
                image.display()
            )
        })?;
    Ok(offset)
}

/// End of an ELF64 little-endian file's section header table (e_shoff + e_shnum × e_shentsize).
fn elf_end(header: &[u8; 64]) -> Option<u64> {
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let shoff = u64::from_le_bytes(header[0x28..0x30].try_into().ok()?);
    let shentsize = u16::from_le_bytes([header[0x3A], header[0x3B]]) as u64;
    let shnum = u16::from_le_bytes([header[0x3C], header[0x3D]]) as u64;
    shoff.checked_add(shentsize * shnum)
}

/// The image extracted under the user's cache, extracting it first if needed.
fn cached_extraction(image: &Path, offset: u64) -> Result<PathBuf, String> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set; use --appimage-extract DIR and run DIR/AppRun")?
        .join("appimage-run");
    let name = image.file_stem().and_then(|s| s.to_str()).unwrap_or("appimage");
    let target = cache.join(format!("{name}-{:016x}", content_hash(image)?));
    if target.join("AppRun").exists() {
        return Ok(target);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    // Extract beside the target and rename: a run that is interrupted, or one racing
    // another launch, never leaves a half-extracted folder under the final name.
    let partial = cache.join(format!(".{name}-partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    eprintln!("kneeclip AppImage: first launch, extracting to {} ...", target.display());
    if let Err(e) = extract(image, offset, &partial) {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    if fs::rename(&partial, &target).is_err() {
        // Another launch finished first; its copy is identical.
        let _ = fs::remove_dir_all(&partial);
        if !target.join("AppRun").exists() {
            return Err(format!("cannot move the extraction to {}", target.display()));
        }
    }
    Ok(target)
}

/// A hash of the whole AppImage, so that any change to it gets its own cache entry.
/// (DefaultHasher may change between Rust releases; that only costs one re-extraction.)
fn content_hash(image: &Path) -> Result<u64, String> {
    let fail = |e: io::Error| format!("cannot read {}: {e}", image.display());
    let mut file = File::open(image).map_err(fail)?;
    let mut hasher = DefaultHasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.write(&buffer[..n]);
    }
    Ok(hasher.finish())
}

/// Writes every file, folder and symlink of the squashfs image to `target`.
fn extract(image: &Path, offset: u64, target: &Path) -> Result<(), String> {
    let file = File::open(image).map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    let filesystem = FilesystemReader::from_reader_with_offset(BufReader::new(file), offset)
        .map_err(|e| format!("the squashfs image in {} is damaged: {e}", image.display()))?;
    fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    for node in filesystem.files() {
        let Some(path) = inside(target, &node.fullpath) else {
            return Err(format!("refusing a path that leaves the image: {}", node.fullpath.display()));
        };
        let mode = u32::from(node.header.permissions) & 0o7777;
        let fail = |e: io::Error| format!("cannot write {}: {e}", path.display());
        match &node.inner {
            InnerNode::Dir(_) => {
                fs::create_dir_all(&path).map_err(fail)?;
                // Owner keeps write access so the folder can be replaced or removed later.
                fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o700)).map_err(fail)?;
            }
            InnerNode::File(entry) => {
                let mut out = File::create(&path).map_err(fail)?;
                let mut reader = filesystem
                    .file(entry)
                    .reader_checked()
                    .map_err(|e| format!("{} in the image is damaged: {e}", node.fullpath.display()))?;
                io::copy(&mut reader, &mut out).map_err(fail)?;
                out.flush().map_err(fail)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o600)).map_err(fail)?;
            }
            InnerNode::Symlink(link) => symlink(&link.link, &path).map_err(fail)?,
            // Devices, pipes and sockets have no place in an application image.
            _ => {}
        }
    }
    Ok(())
}

/// `fullpath` (absolute inside the image) joined onto `target`, or None if it would escape.
fn inside(target: &Path, fullpath: &Path) -> Option<PathBuf> {
    let mut path = target.to_path_buf();
    for component in fullpath.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => path.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_end_is_the_end_of_the_section_header_table() {
        let mut header = [0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        header[0x28..0x30].copy_from_slice(&1000u64.to_le_bytes());
        header[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        header[0x3C..0x3E].copy_from_slice(&30u16.to_le_bytes());
        assert_eq!(elf_end(&header), Some(1000 + 64 * 30));
        header[4] = 1; // 32-bit
        assert_eq!(elf_end(&header), None);
    }

    #[test]
    fn this_test_binary_ends_where_its_elf_says() {
        // A linker puts the section headers last, so the computed end is the file size.
        let exe = std::env::current_exe().unwrap();
        let mut header = [0u8; 64];
        File::open(&exe).unwrap().read_exact(&mut header).unwrap();
        assert_eq!(elf_end(&header), Some(fs::metadata(&exe).unwrap().len()));
    }

    #[test]
    fn paths_cannot_leave_the_target() {
        let target = Path::new("/tmp/x");
        assert_eq!(inside(target, Path::new("/usr/bin/kneeclip")), Some("/tmp/x/usr/bin/kneeclip".into()));
        assert_eq!(inside(target, Path::new("/")), Some("/tmp/x".into()));
        assert_eq!(inside(target, Path::new("/../etc/passwd")), None);
    }
}
