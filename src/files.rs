//! Small file helpers shared by every module that writes user-visible files.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it
/// over `path`: readers see the old file or the new one, never half of one.
/// A link is followed (its target is replaced, the link kept); a pipe or a
/// device is written into, as a stream, not replaced by a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let resolved;
    let mut path = path;
    if path.is_symlink() {
        resolved = std::fs::canonicalize(path).or_else(|_| std::fs::read_link(path))?;
        path = &resolved;
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
    replace_atomically(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Has `write` create and sync a temporary file beside `path` (the path it
/// is given), then renames it over `path`; the temporary file is removed if
/// anything fails.
pub fn replace_atomically(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let tmp = partial_path(path, std::process::id());
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file beside `path` that process `pid` writes it through:
/// `.NAME.PID.partial`, where NAME is [`partial_prefix`]'s.
pub fn partial_path(path: &Path, pid: u32) -> std::path::PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    dir.join(format!("{}{pid}.partial", partial_prefix(&name)))
}

/// `.NAME.`: the start of every temporary name of the file `name`. File
/// names have at most 255 bytes, so a long one is cut, and a short hash of
/// the whole name keeps two long names that start alike apart (a run
/// cleaning its own half-written files must never match another's).
pub fn partial_prefix(name: &str) -> String {
    if name.len() <= 200 {
        return format!(".{name}.");
    }
    let mut cut = 180;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}~{}.", &name[..cut], &short_sha256(name.as_bytes())[..8])
}

/// `word` as a POSIX shell reads it back: plain, or in single quotes, so a
/// command or path printed for the user can be pasted as it is.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

/// Whether `a` and `b` are the same existing file, through whatever path
/// (links, `..`): an output must never replace the input it was made from.
pub fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b)
}

/// First 12 hex digits of the SHA-256 of `bytes`.
pub fn short_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn shell_quote_gives_back_what_was_quoted() {
        assert_eq!(shell_quote("/tmp/heads/h1.checkpoint.safetensors"), "/tmp/heads/h1.checkpoint.safetensors");
        // QA: the unfinished-run refusal printed a path with a space and a quote as it was.
        assert_eq!(shell_quote("heads/my dir/it's.safetensors"), "'heads/my dir/it'\\''s.safetensors'");
        assert_eq!(shell_quote(""), "''");
        let echoed = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote("a b'c\"$d"))).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed.stdout), "a b'c\"$d");
    }

    #[test]
    fn a_link_keeps_pointing_at_its_target_and_a_device_stays_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let (target, link) = (dir.path().join("target.csv"), dir.path().join("link.csv"));
        std::fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(link.is_symlink(), "the link was replaced by a file");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // Written into, not replaced (as root, a rename would have replaced the device).
        write_atomically(Path::new("/dev/null"), b"gone").unwrap();
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }
}
