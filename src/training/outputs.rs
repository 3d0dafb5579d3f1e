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
/// (`.NAME.lock`, left in place) beside the head and beside the checkpoint
/// it resumes, let go by the system when the process ends, however it ends.
pub struct OutputLock {
    _files: Vec<std::fs::File>,
    /// The file system holds no locks (some network shares): the run goes on unlocked.
    pub unlocked: bool,
}

impl OutputLock {
    /// Locks `files` (a head, a checkpoint); refused while another run holds one.
    pub fn take(files: &[&Path]) -> Result<OutputLock, String> {
        let mut lock = OutputLock { _files: Vec::new(), unlocked: false };
        for file in files {
            // Through links and `..` to the file itself: a link to a
            // checkpoint is the same checkpoint.
            let resolved = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
            let dir = resolved.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            let file_name = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path = dir.join(format!(".{file_name}.lock"));
            let handle = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| format!("{}: cannot write beside {}: {e}", path.display(), file.display()))?;
            match handle.try_lock() {
                Ok(()) => lock._files.push(handle),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(format!(
                        "{}: another run is training with it now (in another kneeclip window or command); wait for it to end, or choose another head file",
                        file.display()
                    ));
                }
                Err(std::fs::TryLockError::Error(_)) => lock.unlocked = true,
            }
        }
        Ok(lock)
    }
}

/// The checkpoint beside the head `out` when it holds a run that did not
/// finish: its epochs done and asked for. A run finished when it did the
/// epochs it asked for, or when the head's sidecar records the very epochs
/// the checkpoint holds (early stopping: the same number, the last with the
/// same validation loss), whatever the files' times; an older head's
/// sidecar beside a later, cut-short run's checkpoint does not count.
pub fn unfinished_run(out: &Path) -> Option<(usize, usize)> {
    let run = checkpoint_summary(&checkpoint_for(out)).ok()?;
    if run.epochs_done >= run.config.epochs {
        return None;
    }
    let recorded: Option<Vec<f64>> = std::fs::read(sidecar_for(out))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|sidecar| sidecar["history"].as_array().map(|h| h.iter().map(|r| r["val_loss"].as_f64().unwrap_or(f64::NAN)).collect()));
    let kept: Vec<f64> = run.history.iter().map(|r| r.val_loss).collect();
    let same_run = recorded.is_some_and(|r| r.len() == kept.len() && r.last().map(|x| x.to_bits()) == kept.last().map(|x| x.to_bits()));
    (!same_run).then_some((run.epochs_done, run.config.epochs))
}

/// After a run failed with `error`: the epoch its checkpoint keeps, when the
/// run (started at `started`) wrote that checkpoint, so that the user can be
/// told how to go on. None after a divergence: resuming would diverge again.
pub fn kept_by_failed_run(checkpoint: &Path, started: SystemTime, error: &str) -> Option<usize> {
    if error.starts_with(super::trainer::DIVERGED) {
        return None;
    }
    let written = std::fs::metadata(checkpoint).and_then(|m| m.modified()).ok()?;
    (written >= started).then(|| checkpoint_summary(checkpoint).ok().map(|run| run.epochs_done)).flatten()
}
