//! A run's files: the head, its JSON sidecar and its checkpoint (named after
//! the head), the lock that lets one run at a time write them, and what an
//! earlier run left there (an unfinished run, the epoch a failed run kept).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::checkpoint::checkpoint_summary;

/// The checkpoint a run writes next to its head `out`.
pub fn checkpoint_for(out: &Path) -> PathBuf {
    out.with_extension("checkpoint.safetensors")
}

/// The JSON sidecar of a head.
pub fn sidecar_for(out: &Path) -> PathBuf {
    out.with_extension("json")
}

/// Held while a run writes a head, its sidecar and its checkpoint, so that a
/// second run to the same files (another window, another command) is refused
/// rather than both rewriting one checkpoint: advisory locks on hidden files
/// (`.NAME.lock`) beside the head and beside the checkpoint it resumes, let
/// go by the system when the process ends, however it ends; removed when the
/// lock is dropped (a refused run left them behind: QA), still held, so that
/// a run that opened one meanwhile finds it gone and makes its own.
/// A lock file deleted by hand while the run goes on would let a second run
/// lock a new file at the same path: [`hold`](Self::hold), before each
/// write, makes it again, or says that another run has taken it.
pub struct OutputLock {
    held: std::sync::Mutex<Vec<Held>>,
    /// The file system holds no locks (some network shares): the run goes on unlocked.
    pub unlocked: bool,
    /// Half-written files of these outputs that an earlier run left when it
    /// was killed, removed when the lock was taken (see [`remove_stale_partials`]).
    pub removed_partials: Vec<PathBuf>,
}

/// One locked file: the lock file's path, its open handle, and the run's file it guards.
struct Held {
    path: PathBuf,
    handle: std::fs::File,
    guards: PathBuf,
}

/// Says that another run holds a lock this run had (its lock file deleted meanwhile).
pub const LOCK_TAKEN: &str = "another run took this run's files";

/// What locking one lock file came to.
enum Locked {
    Yes(std::fs::File),
    Busy,
    /// The file system takes no locks.
    NoLocks,
}

/// Whether `path` still names the very file `handle` has open (not one made
/// at its path since it was deleted): the same device and inode.
#[cfg(unix)]
fn still_names(path: &Path, handle: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| (a.dev(), a.ino()) == (b.dev(), b.ino());
    std::fs::metadata(path).ok().zip(handle.metadata().ok()).is_some_and(|(on_disk, held)| same(&on_disk, &held))
}

/// Elsewhere the lock file is opened without sharing deletion (Windows), so
/// that it cannot be deleted while held: its path names the file held while it exists.
#[cfg(not(unix))]
fn still_names(path: &Path, _handle: &std::fs::File) -> bool {
    path.exists()
}

/// Opens (or makes) the lock file `path` and locks it, if no one else holds
/// it. Checked after locking: a lock file deleted and made again between the
/// open and the lock would leave this run locking a file no other run sees.
fn lock_file(path: &Path) -> std::io::Result<Locked> {
    for _ in 0..5 {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(windows)]
        std::os::windows::fs::OpenOptionsExt::share_mode(&mut options, 1 | 2); // FILE_SHARE_READ | FILE_SHARE_WRITE, not DELETE
        let handle = options.open(path)?;
        match handle.try_lock() {
            Ok(()) if still_names(path, &handle) => return Ok(Locked::Yes(handle)),
            Ok(()) => continue,
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Locked::Busy),
            Err(std::fs::TryLockError::Error(_)) => return Ok(Locked::NoLocks),
        }
    }
    Err(std::io::Error::other("it was deleted and made again each time it was locked"))
}

impl OutputLock {
    /// Locks `files` (a head, a checkpoint); refused while another run holds one.
    pub fn take(files: &[&Path]) -> Result<OutputLock, String> {
        let mut held = Vec::new();
        let mut unlocked = false;
        for file in files {
            // Through links and `..` to the file itself: a link to a
            // checkpoint is the same checkpoint.
            let resolved = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
            let dir = resolved.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            let file_name = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path = dir.join(format!(".{file_name}.lock"));
            match lock_file(&path).map_err(|e| format!("{}: cannot write beside {}: {e}", path.display(), file.display()))? {
                Locked::Yes(handle) => held.push(Held { path, handle, guards: file.to_path_buf() }),
                Locked::Busy => {
                    return Err(format!(
                        "{}: another run is training with it now (in another kneeclip window or command); wait for it to end, or choose another head file",
                        file.display()
                    ));
                }
                Locked::NoLocks => unlocked = true,
            }
        }
        Ok(OutputLock { held: std::sync::Mutex::new(held), unlocked, removed_partials: Vec::new() })
    }

    /// Before a write: whether this run still holds its files. A lock file
    /// deleted meanwhile is made and locked again; one that another run made
    /// and holds since is an error starting with [`LOCK_TAKEN`] (the caller
    /// then writes elsewhere: see [`kept_beside`]). Where the lock file
    /// cannot be made again (its folder gone), the write says why.
    pub fn hold(&self) -> Result<(), String> {
        let mut held = self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for lock in held.iter_mut() {
            if still_names(&lock.path, &lock.handle) {
                continue;
            }
            match lock_file(&lock.path) {
                Ok(Locked::Yes(handle)) => lock.handle = handle,
                Ok(Locked::Busy) => {
                    return Err(format!(
                        "{LOCK_TAKEN}: the lock file {} was deleted during this run, and another run (another kneeclip window or command) now holds {}",
                        lock.path.display(),
                        lock.guards.display()
                    ));
                }
                Ok(Locked::NoLocks) | Err(_) => {}
            }
        }
        Ok(())
    }
}

impl Drop for OutputLock {
    /// Removes the lock files this run still holds. Unix only: elsewhere a
    /// held lock file cannot be deleted, and one deleted after letting go
    /// could be another run's by then.
    fn drop(&mut self) {
        #[cfg(unix)]
        for lock in self.held.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            if still_names(&lock.path, &lock.handle) {
                let _ = std::fs::remove_file(&lock.path);
            }
        }
    }
}

/// Why `checkpoint`, given to resume, cannot be: not there. A run killed
/// before its first checkpoint was complete left only its half-written
/// `.NAME.PID.partial`: nothing was saved, and that file is removed (under
/// the run's lock, as a plain run would) unless another run holds it.
pub fn nothing_to_resume(checkpoint: &Path, out: &Path) -> String {
    let dir = checkpoint.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = checkpoint.file_name().map(|n| crate::files::partial_prefix(&n.to_string_lossy())).unwrap_or_default();
    let half_written = std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.file_name().to_string_lossy().strip_prefix(&prefix).is_some_and(|rest| rest.ends_with(".partial")));
    if !half_written {
        return format!("{}: no such checkpoint to resume from", checkpoint.display());
    }
    let removed = match OutputLock::take(&[out, checkpoint]) {
        Ok(lock) => remove_stale_partials(&[checkpoint], lock.unlocked),
        Err(busy) => return busy,
    };
    let removed = removed.iter().map(|p| format!(" (its half-written {} is removed)", p.display())).next().unwrap_or_default();
    format!("{}: nothing was saved yet: the run was stopped before its first checkpoint was complete{removed}; start the run again without --resume", checkpoint.display())
}

/// The one line that says what [`remove_stale_partials`] removed, for the
/// command line and the Training tab; `None` when nothing.
pub fn removed_partials_message(removed: &[PathBuf]) -> Option<String> {
    let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
    (!names.is_empty()).then(|| format!("removed {} half-written file{} left by an earlier run that was killed while writing: {}", names.len(), if names.len() == 1 { "" } else { "s" }, names.join(", ")))
}

/// Removes the temporary files (`.NAME.PID.partial`) that a run killed while
/// writing one of `files` left beside it: [`crate::files::remove_stale_partials`],
/// holding their lock, so another process's belong to no write under way.
/// Where the file system takes no locks (`unlocked`: some network shares)
/// only those of processes gone from this machine are, as for any write.
pub fn remove_stale_partials(files: &[&Path], unlocked: bool) -> Vec<PathBuf> {
    use crate::files::Holding;
    crate::files::remove_stale_partials(files, if unlocked { Holding::Nothing } else { Holding::Lock })
}

/// A name beside `file` for what this run could not write there because
/// another run took it: `h.safetensors` -> `h.kept-PID.safetensors` (a
/// head's sidecar is then `h.kept-PID.json`), never an existing file.
pub fn kept_beside(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = file.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let pid = std::process::id();
    (0..)
        .map(|n| file.with_file_name(if n == 0 { format!("{stem}.kept-{pid}.{ext}") } else { format!("{stem}.kept-{pid}-{n}.{ext}") }))
        .find(|p| !p.exists() && !sidecar_for(p).exists())
        .expect("a free name")
}

/// The checkpoint beside the head `out` when it holds a run that did not
/// finish: its epochs done and asked for. A run finished when it did the
/// epochs it asked for, or when the head's sidecar records the very epochs
/// the checkpoint holds (early stopping: the same number, the last with the
/// same validation loss), whatever the files' times; an older head's
/// sidecar beside a later, cut-short run's checkpoint does not count.
///
/// A run that did all its epochs but whose head was never written (the
/// write failed) counts too: the checkpoint is all that is left of it.
pub fn unfinished_run(out: &Path) -> Option<(usize, usize)> {
    let run = checkpoint_summary(&checkpoint_for(out)).ok()?;
    let recorded = sidecar_val_losses(out);
    if run.epochs_done >= run.config.epochs && recorded.as_deref().is_some_and(|r| written_by(r, &run)) {
        return None;
    }
    let kept: Vec<u64> = run.history.iter().map(|r| r.val_loss.to_bits()).collect();
    let same_run = recorded.is_some_and(|r| r.len() == kept.len() && r.last() == kept.last());
    (!same_run).then_some((run.epochs_done, run.config.epochs))
}

/// Whether the head `out` (by its sidecar's epochs) was written by the run
/// whose checkpoint is `checkpoint`: resuming that run may replace it.
pub fn head_of_run(out: &Path, checkpoint: &Path) -> bool {
    let Ok(run) = checkpoint_summary(checkpoint) else { return false };
    sidecar_val_losses(out).is_some_and(|r| written_by(&r, &run))
}

/// The validation loss of each epoch the sidecar of the head `out` records,
/// as bits (compared exactly); `None` without a readable sidecar.
fn sidecar_val_losses(out: &Path) -> Option<Vec<u64>> {
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar_for(out)).ok()?).ok()?;
    sidecar["history"].as_array().map(|h| h.iter().map(|r| r["val_loss"].as_f64().unwrap_or(f64::NAN).to_bits()).collect())
}

/// Whether a sidecar's epochs (`recorded`) are `run`'s first ones: the same validation losses.
fn written_by(recorded: &[u64], run: &crate::training::checkpoint::CheckpointSummary) -> bool {
    !recorded.is_empty() && recorded.len() <= run.history.len() && recorded.iter().zip(&run.history).all(|(a, b)| *a == b.val_loss.to_bits())
}

/// After a run failed with `error`: the epoch its checkpoint keeps, when the
/// run (started at `started`) wrote that checkpoint, so that the user can be
/// told how to go on. None after a divergence (resuming would diverge
/// again), and when another run took the files (the error says where this
/// run's work went).
pub fn kept_by_failed_run(checkpoint: &Path, started: SystemTime, error: &str) -> Option<usize> {
    if error.starts_with(super::trainer::DIVERGED) || error.starts_with(LOCK_TAKEN) {
        return None;
    }
    let written = std::fs::metadata(checkpoint).and_then(|m| m.modified()).ok()?;
    (written >= started).then(|| checkpoint_summary(checkpoint).ok().map(|run| run.epochs_done)).flatten()
}

/// The temporary name beside `path` that [`crate::files::replace_atomically`]
/// writes through (`.NAME.PID.partial`), for this process.
fn partial_for(path: &Path) -> PathBuf {
    crate::files::partial_path(path, std::process::id())
}

/// Writes a head and its sidecar together or not at all: both go to
/// temporary files first (written and synced), and only then are they
/// renamed into place, head first. A failed write (a full disk) leaves the
/// old pair as it was and no temporary file. Between the two renames (a
/// kill, a failed rename) the new head sits beside the old sidecar, whose
/// `head_sha256` then names another head: readers refuse such a pair
/// rather than grade with another head's temperature and anchors.
pub fn write_head_and_sidecar(head: &Path, head_bytes: &[u8], sidecar: &Path, json: &[u8]) -> Result<(), String> {
    use std::io::Write;
    // Through a link to its target, as files::write_atomically does.
    let resolve = |p: &Path| if p.is_symlink() { std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()) } else { p.to_path_buf() };
    let (head, sidecar) = (resolve(head), resolve(sidecar));
    let (head_tmp, sidecar_tmp) = (partial_for(&head), partial_for(&sidecar));
    let write = |tmp: &Path, bytes: &[u8], meant: &Path| -> std::io::Result<()> {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        crate::files::keep_permissions(meant, tmp)
    };
    let clean = || {
        let _ = std::fs::remove_file(&head_tmp);
        let _ = std::fs::remove_file(&sidecar_tmp);
    };
    // Whether there was a head before: what the failure leaves is then that one, else nothing.
    let had_head = head.is_file();
    let nothing_written = |file: &Path, err: std::io::Error| {
        clean();
        if had_head {
            format!("{}: cannot write it: {err}; nothing was replaced (the head {} and its sidecar are as they were)", file.display(), head.display())
        } else {
            format!("{}: cannot write it: {err}; no head or sidecar was written", file.display())
        }
    };
    // Named by the file meant, not its temporary name (removed by then).
    write(&head_tmp, head_bytes, &head).map_err(|e| nothing_written(&head, e))?;
    write(&sidecar_tmp, json, &sidecar).map_err(|e| nothing_written(&sidecar, e))?;
    std::fs::rename(&head_tmp, &head).map_err(|e| nothing_written(&head, e))?;
    if let Err(err) = std::fs::rename(&sidecar_tmp, &sidecar) {
        clean();
        // The old sidecar belongs to the old head: away with it, so the new head is not graded with it.
        let removed = std::fs::remove_file(&sidecar).is_ok();
        return Err(format!(
            "{}: the head was written but its sidecar could not be: {err}{}; write both again by resuming the run with --overwrite",
            sidecar.display(),
            if removed { " (the old sidecar, another head's, was removed)" } else { "" }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files in `dir`, by name.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_keeps_the_old_pair_and_leaves_no_sidecar_or_temporary_file() {
        // Either temporary file cannot be made (as on a full disk): a folder in its way.
        for blocked in ["h.safetensors", "h.json"] {
            let dir = tempfile::tempdir().unwrap();
            let (head, sidecar) = (dir.path().join("h.safetensors"), dir.path().join("h.json"));
            let block = || std::fs::create_dir(partial_for(&dir.path().join(blocked))).unwrap();
            let unblock = || std::fs::remove_dir(partial_for(&dir.path().join(blocked))).unwrap();
            block();
            let err = write_head_and_sidecar(&head, b"new head", &sidecar, b"new sidecar").unwrap_err();
            // No head before: nothing is said to be kept (QA: "its sidecar are as they were" of files never there).
            assert!(err.contains("no head or sidecar was written") && !err.contains("as they were"), "{err}");
            unblock();
            assert!(listing(dir.path()).is_empty(), "no lone sidecar, no temporary file: {:?}", listing(dir.path()));
            // With an older pair in place: both kept as they were.
            std::fs::write(&head, b"old head").unwrap();
            std::fs::write(&sidecar, b"old sidecar").unwrap();
            block();
            let err = write_head_and_sidecar(&head, b"new head", &sidecar, b"new sidecar").unwrap_err();
            assert!(err.contains("nothing was replaced (the head") && err.contains("are as they were"), "{err}");
            unblock();
            assert_eq!((std::fs::read(&head).unwrap(), std::fs::read(&sidecar).unwrap()), (b"old head".to_vec(), b"old sidecar".to_vec()), "{blocked}");
            assert_eq!(listing(dir.path()), ["h.json", "h.safetensors"]);
            write_head_and_sidecar(&head, b"new head", &sidecar, b"new sidecar").unwrap();
            assert_eq!((std::fs::read(&head).unwrap(), std::fs::read(&sidecar).unwrap()), (b"new head".to_vec(), b"new sidecar".to_vec()));
            assert_eq!(listing(dir.path()), ["h.json", "h.safetensors"]);
        }
    }

    #[test]
    fn a_sidecar_that_cannot_be_put_in_place_does_not_stay_beside_the_new_head() {
        let dir = tempfile::tempdir().unwrap();
        let (head, sidecar) = (dir.path().join("h.safetensors"), dir.path().join("h.json"));
        std::fs::write(&head, b"old head").unwrap();
        // A folder in the sidecar's place: the rename after the head's fails.
        std::fs::create_dir(&sidecar).unwrap();
        std::fs::write(sidecar.join("x"), b"").unwrap();
        let err = write_head_and_sidecar(&head, b"new head", &sidecar, b"new sidecar").unwrap_err();
        assert!(err.contains("the head was written but its sidecar could not be"), "{err}");
        assert_eq!(listing(dir.path()), ["h.json", "h.safetensors"], "no temporary file left");
    }
}
