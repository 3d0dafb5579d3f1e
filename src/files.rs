//! Small file helpers shared by every module that writes user-visible files.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it
/// over `path`: readers see the old file or the new one, never half of one.
/// A link to a file of this user's is followed (its target is replaced, the
/// link kept); any other link is refused (see [`check_link`]). A pipe or a
/// device is written into, as a stream, not replaced by a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let resolved;
    let mut path = path;
    if path.is_symlink() {
        check_link(path).map_err(|why| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why))?;
        resolved = std::fs::canonicalize(path)?;
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

/// Whether a write to `path` may go through it when it is a link: only a
/// link this user made, to an existing regular file of this user's (their
/// own `latest.pdf` link), or to a pipe or a device (`/dev/stdout`), written
/// into as a stream. A link another user made, a link to nowhere, to a
/// folder or to another user's file is refused, naming
/// both: a patient's report must not land where someone else chose (a link
/// planted in a shared folder). Not a link: `Ok`.
pub fn check_link(path: &Path) -> Result<(), String> {
    if !path.is_symlink() {
        return Ok(());
    }
    let link = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into());
    let refuse = |why: &str| Err(format!("{} is a link to {link}, {why}; nothing is written through it: name the file itself, or remove the link", path.display()));
    // A link someone else made (planted in a shared folder) is not followed, even to this user's own file (privacy QA).
    if std::fs::symlink_metadata(path).is_ok_and(|link| !owned_by_me(&link)) {
        return refuse("a link another user made");
    }
    let Ok(target) = std::fs::metadata(path) else { return refuse("which does not exist") };
    if target.is_dir() {
        return refuse("a folder");
    }
    if target.is_file() && !owned_by_me(&target) {
        return refuse("a file of another user's");
    }
    Ok(())
}

#[cfg(unix)]
fn owned_by_me(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    metadata.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_me(_: &std::fs::Metadata) -> bool {
    true
}

/// Has `write` create and sync a temporary file beside `path` (the path it
/// is given), then renames it over `path`; the temporary file is removed if
/// anything fails. A file replaced keeps its permissions (a report made
/// private with chmod 600 stays so), and the half-written files that a
/// killed kneeclip left for `path` are removed first ([`remove_stale_partials`]).
pub fn replace_atomically(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    remove_stale_partials(&[path], Holding::Nothing);
    let tmp = partial_path(path, std::process::id());
    let result = write(&tmp).and_then(|()| keep_permissions(path, &tmp)).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Gives `new`, about to replace the file `old`, `old`'s permission bits
/// (Unix), so that a replaced file stays as private as it was made. No `old`: nothing.
pub fn keep_permissions(old: &Path, new: &Path) -> std::io::Result<()> {
    match std::fs::metadata(old) {
        Ok(m) if cfg!(unix) && m.is_file() => std::fs::set_permissions(new, m.permissions()),
        _ => Ok(()),
    }
}

/// What the caller of [`remove_stale_partials`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    /// The files' lock (a training run's): every other process's
    /// half-written file then belongs to no write under way.
    Lock,
    /// No lock: only the files of processes that are gone are stale.
    Nothing,
}

/// Removes the temporary files (`.NAME.PID.partial`) that a process killed
/// while writing one of `files` left beside it (a full-PHI report, a ≈ 230 MB
/// checkpoint), never another file's. This process's own are kept; another
/// process's are removed when `holding` the files' lock, else only when that
/// process is gone (on Linux: no /proc/PID; elsewhere, to be safe, when the
/// file was last written over an hour ago). Returns what it removed.
pub fn remove_stale_partials(files: &[&Path], holding: Holding) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for file in files {
        let resolved = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        for file in [file.to_path_buf(), resolved] {
            let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let Some(name) = file.file_name().and_then(|n| n.to_str()) else { continue };
            let prefix = partial_prefix(name);
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.flatten() {
                let entry_name = entry.file_name().to_string_lossy().into_owned();
                let pid = entry_name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".partial")).and_then(|pid| pid.parse::<u32>().ok());
                let Some(pid) = pid else { continue };
                if pid == std::process::id() || !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let stale = holding == Holding::Lock || entry.metadata().is_ok_and(|m| process_gone(pid, &m));
                let path = entry.path();
                if stale && !removed.contains(&path) && std::fs::remove_file(&path).is_ok() {
                    removed.push(path);
                }
            }
        }
    }
    removed
}

/// Whether process `pid`, which wrote the file of `metadata`, is gone. /proc
/// tells only of this user's processes for sure (hidepid hides others'), so
/// another user's file, or one on a system without /proc, must be an hour old.
fn process_gone(pid: u32, metadata: &std::fs::Metadata) -> bool {
    if cfg!(target_os = "linux") && owned_by_me(metadata) && Path::new("/proc/self").exists() {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    metadata.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > std::time::Duration::from_secs(3600))
}

/// The temporary file beside `path` that process `pid` writes it through:
/// `.NAME.PID.partial`, where NAME is [`partial_prefix`]'s.
pub fn partial_path(path: &Path, pid: u32) -> PathBuf {
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
    fn a_link_to_the_users_own_file_keeps_pointing_at_it_and_a_device_stays_a_device() {
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

    #[test]
    fn a_killed_writers_half_written_file_goes_at_the_next_write_and_only_its() {
        let dir = tempfile::tempdir().unwrap();
        let (report, other) = (dir.path().join("id.dcm"), dir.path().join("other.dcm"));
        // 999999999 is above any pid_max: no such process; 1 always runs.
        let (dead, alive, mine) = (partial_path(&report, 999_999_999), partial_path(&report, 1), partial_path(&report, std::process::id()));
        let others = partial_path(&other, 999_999_999);
        for p in [&dead, &alive, &others] {
            std::fs::write(p, b"PHI").unwrap();
        }
        write_atomically(&report, b"new").unwrap();
        assert!(!dead.exists(), "a dead writer's half-written report was left");
        assert!(alive.exists() && others.exists(), "a live writer's, or another file's, was removed");
        assert_eq!(std::fs::read(&report).unwrap(), b"new");
        // This process's own is its write under way; a lock's holder removes any other's.
        std::fs::write(&mine, b"half").unwrap();
        assert!(remove_stale_partials(&[&report], Holding::Nothing).is_empty());
        assert_eq!(remove_stale_partials(&[&report], Holding::Lock), [alive.clone()]);
        assert!(mine.exists() && others.exists());
    }

    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.pdf");
        std::fs::write(&report, b"old").unwrap();
        std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&report, b"new").unwrap();
        assert_eq!(std::fs::metadata(&report).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read(&report).unwrap(), b"new");
    }

    #[test]
    fn a_link_to_nowhere_a_folder_or_another_users_file_is_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (nowhere, link) = (dir.path().join("elsewhere/r.pdf"), dir.path().join("r.pdf"));
        symlink(&nowhere, &link).unwrap();
        let err = write_atomically(&link, b"PHI").unwrap_err().to_string();
        assert!(err.contains(&format!("{} is a link to {}, which does not exist", link.display(), nowhere.display())), "{err}");
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        assert!(write_atomically(&link, b"PHI").is_err() && !nowhere.exists(), "written through a dangling link");
        std::fs::remove_file(&link).unwrap();
        symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(check_link(&link).unwrap_err().contains("a folder"));
        // Root may give a file away: one of another user's is not written through.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = dir.path().join("theirs.pdf");
            std::fs::write(&theirs, b"theirs").unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            std::fs::remove_file(&link).unwrap();
            symlink(&theirs, &link).unwrap();
            assert!(write_atomically(&link, b"PHI").unwrap_err().to_string().contains("a file of another user's"));
            assert_eq!(std::fs::read(&theirs).unwrap(), b"theirs");
            // A link another user made, even to this user's own file, is not followed.
            let mine = dir.path().join("mine.pdf");
            std::fs::write(&mine, b"mine").unwrap();
            std::fs::remove_file(&link).unwrap();
            symlink(&mine, &link).unwrap();
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            assert!(write_atomically(&link, b"PHI").unwrap_err().to_string().contains("a link another user made"));
            assert_eq!(std::fs::read(&mine).unwrap(), b"mine");
        }
    }
}
