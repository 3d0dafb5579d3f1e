//! The stop handler `train`, `eval` and `grade` share. ctrlc is built with its
//! `termination` feature, so SIGTERM and SIGHUP reach the same handler as
//! Ctrl-C: the messages say "Ctrl-C or signal", and a hang-up that `nohup`
//! (or `trap '' HUP`) ignores is left ignored.

use std::sync::{Arc, Mutex, PoisonError};
use std::sync::atomic::{AtomicBool, Ordering};

use super::EXIT_INTERRUPTED;

/// Whether SIGHUP is ignored now (`nohup` ignores it so a run outlives its terminal).
#[cfg(unix)]
fn hangup_ignored() -> bool {
    // SAFETY: a query only (no new action); `old` is a plain C struct filled by the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Names the thread that runs the stop handler once it has set the stop flag
/// (Linux: `kneeclip-stop` in /proc/PID/task/*/comm, `top -H`, a debugger),
/// so that a stop asked for is seen from outside even while stderr is blocked
/// (tests/cli_eval.rs waits on it rather than on ctrlc's own thread name).
#[cfg(target_os = "linux")]
fn mark_stop_asked() {
    // SAFETY: PR_SET_NAME reads a NUL-terminated name (at most 16 bytes are kept).
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"kneeclip-stop".as_ptr());
    }
}

/// What the one process-wide handler does now: each command stage (a
/// download, then grading) puts its own in place (ctrlc takes one handler per process).
struct Action {
    stop: Arc<AtomicBool>,
    first: Box<dyn Fn() + Send>,
    again: Box<dyn Fn() + Send>,
}

static ACTION: Mutex<Option<Action>> = Mutex::new(None);
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// On the first Ctrl-C, SIGTERM or hang-up: sets `stop` and runs `first`
/// (which says what happens now); on the next: runs `again` (which quits).
/// Replaces what an earlier call set up. A hang-up ignored when this is first called stays ignored.
pub(super) fn on_stop_signal(stop: Arc<AtomicBool>, first: impl Fn() + Send + 'static, again: impl Fn() + Send + 'static) -> Result<(), ctrlc::Error> {
    *ACTION.lock().unwrap_or_else(PoisonError::into_inner) = Some(Action { stop, first: Box::new(first), again: Box::new(again) });
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    #[cfg(unix)]
    let keep_ignoring_hangups = hangup_ignored();
    let result = ctrlc::set_handler(move || {
        let action = ACTION.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(action) = action.as_ref() else { return };
        if action.stop.swap(true, Ordering::SeqCst) {
            return (action.again)();
        }
        #[cfg(target_os = "linux")]
        mark_stop_asked();
        (action.first)()
    });
    // ctrlc's handler replaced nohup's SIG_IGN: put it back, so logging out
    // does not stop a run started to outlive the session.
    #[cfg(unix)]
    if keep_ignoring_hangups {
        // SAFETY: restores the ignore disposition the process started with.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    *installed = result.is_ok();
    result
}

/// A flag the first Ctrl-C (or SIGTERM, or a hang-up not ignored) sets, after
/// saying `first` on stderr, for a command that stops after the batch in hand;
/// the second quits at once with [`EXIT_INTERRUPTED`]. `command` names it in
/// the warning should no handler be installed. (`eval` and `grade` share it.)
pub(super) fn stop_after_batch(command: &str, first: String) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = on_stop_signal(stop.clone(), move || eprintln!("{first}"), || std::process::exit(EXIT_INTERRUPTED)) {
        eprintln!("kneeclip: warning: Ctrl-C will stop {command} at once, not after a batch ({e})");
    }
    stop
}

/// After a stage whose handler was set up (a download), and before the next
/// sets its own: Ctrl-C quits at once with 130, as it did with no handler.
pub(super) fn quit_on_stop_signal() {
    if *INSTALLED.lock().unwrap_or_else(PoisonError::into_inner) {
        let _ = on_stop_signal(Arc::new(AtomicBool::new(false)), || std::process::exit(EXIT_INTERRUPTED), || std::process::exit(EXIT_INTERRUPTED));
    }
}
