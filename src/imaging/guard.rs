//! Runs a third-party decoder so that a panic inside it becomes an error message.
//!
//! Image codecs (dicom-rs, jpeg-decoder, openjp2, the `image` crate) sometimes
//! panic on damaged input instead of returning an error. We catch those panics
//! and report the film as damaged; without more, Rust's panic hook would still
//! print "thread 'main' panicked at …" on stderr first, which reads like a crash
//! of kneeclip. So while a guarded decoder runs on a thread, the hook stays quiet
//! for that thread; panics anywhere else are reported as before.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many guarded decoders are running on this thread (they may nest).
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}

static INSTALL_QUIET_HOOK: Once = Once::new();

/// Wraps the current panic hook (whatever the application or a test harness
/// installed) so it is skipped for panics inside [`guarded`].
fn install_quiet_hook() {
    INSTALL_QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Restores the counter even when the decoder unwinds.
struct Entered;

impl Entered {
    fn new() -> Entered {
        GUARDED.with(|g| g.set(g.get() + 1));
        Entered
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        GUARDED.with(|g| g.set(g.get() - 1));
    }
}

/// Runs `decode`; a panic inside it comes back as `Err` with the panic's message.
pub(crate) fn guarded<T>(decode: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let _entered = Entered::new();
    catch_unwind(AssertUnwindSafe(decode)).map_err(|payload| panic_message(&*payload))
}

/// Turns a panic payload into text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the decoder crashed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_becomes_its_message() {
        assert_eq!(guarded(|| 7), Ok(7));
        let err = guarded(|| -> u8 { panic!("bad marker at {}", 12) }).unwrap_err();
        assert_eq!(err, "bad marker at 12");
        // The counter is back to zero after the unwind.
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
