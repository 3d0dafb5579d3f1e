//! Download progress reporting (and cancellation) for the CLI and the GUI.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Receives download progress. The GUI implements it to show a bar and to cancel.
pub trait DownloadProgress: Send {
    /// A file starts downloading; `total_bytes` is its size when the hub declares it.
    fn started(&mut self, file: &str, total_bytes: Option<u64>);
    /// Bytes of the current file received so far (including a resumed part).
    fn advanced(&mut self, bytes_so_far: u64);
    /// The current file is complete and verified.
    fn finished(&mut self, file: &str);
    /// [`Self::finished`], saying against what: `pinned` when models/manifest.json pins its
    /// sha256, else it matched the hash the server itself declared (which proves less).
    fn finished_checked(&mut self, file: &str, _pinned: bool) {
        self.finished(file)
    }
    /// The current file resumes a part kept from an earlier run: `bytes` are already here.
    fn resuming(&mut self, _bytes: u64) {}
    /// Polled while downloading; `true` aborts the download. A cancelled download leaves
    /// no file under the final name (a `.part` file in the staging folder is kept for resume).
    fn cancelled(&self) -> bool {
        false
    }
    /// The download waits for another kneeclip that is downloading into the same cache.
    fn waiting(&mut self, _message: &str) {}
    /// How long a connect or a read may go without a byte before the download
    /// gives up (the part received is kept for the next run to resume).
    fn idle_timeout(&self) -> Duration {
        default_idle_timeout()
    }
}

/// The environment variable that sets [`default_idle_timeout`] in seconds.
pub const DOWNLOAD_TIMEOUT_ENV: &str = "KNEECLIP_DOWNLOAD_TIMEOUT";

/// 30 s, or `$KNEECLIP_DOWNLOAD_TIMEOUT` seconds (a very slow link; tests).
pub fn default_idle_timeout() -> Duration {
    std::env::var(DOWNLOAD_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(30), Duration::from_secs_f64)
}

/// Ignores all progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl DownloadProgress for NoProgress {
    fn started(&mut self, _file: &str, _total_bytes: Option<u64>) {}
    fn advanced(&mut self, _bytes_so_far: u64) {}
    fn finished(&mut self, _file: &str) {}
}

/// Prints one updating progress line per file to stderr (for the CLI); in a
/// log or pipe, a plain line at the start, every 10 % and at the end.
pub struct StderrProgress {
    file: String,
    total: Option<u64>,
    so_far: u64,
    /// Bytes kept from an earlier run that this download resumed from.
    resumed: u64,
    /// The last tenth printed to a log.
    logged_tenth: u64,
    last_print: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
    /// Run once, when the first file starts downloading (the CLI's Ctrl-C handling).
    on_first_download: Option<Box<dyn FnOnce() + Send>>,
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// A byte count for the progress line: kB under 1 MB (config.json read "0.0 / 0.0 MB").
pub fn format_size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1_000.0)
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

impl StderrProgress {
    pub fn new() -> Self {
        StderrProgress {
            file: String::new(),
            total: None,
            so_far: 0,
            resumed: 0,
            logged_tenth: 0,
            last_print: None,
            cancel: None,
            on_first_download: None,
        }
    }

    /// Cancels the download when `flag` becomes true (e.g. set by a Ctrl-C handler).
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Runs `hook` when a download actually starts (not for a cached copy).
    pub fn on_first_download(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.on_first_download = Some(Box::new(hook));
        self
    }

    /// The text of the progress line (without the carriage return).
    pub fn line(&self) -> String {
        let resumed = if self.resumed > 0 { format!(", resumed at {}", format_size(self.resumed)) } else { String::new() };
        match self.total {
            Some(t) if t > 0 => {
                // Both in the total's unit: "0.5 / 2.0 MB".
                let in_unit = |b: u64| if t < 1_000_000 { format!("{:.1}", b as f64 / 1_000.0) } else { format!("{:.1}", b as f64 / 1_000_000.0) };
                let unit = if t < 1_000_000 { "kB" } else { "MB" };
                format!(
                    "downloading {}: {} / {} {unit} ({:.0}%){resumed}",
                    self.file,
                    in_unit(self.so_far),
                    in_unit(t),
                    100.0 * self.so_far as f64 / t as f64
                )
            }
            _ => format!("downloading {}: {}{resumed}", self.file, format_size(self.so_far)),
        }
    }

    /// Whether a log should get a line now: a new tenth of the file has arrived.
    fn new_tenth(&mut self) -> bool {
        let Some(t) = self.total.filter(|&t| t > 0) else { return false };
        let tenth = self.so_far.min(t) * 10 / t;
        // 100 % is the done line's, which says more.
        if tenth > self.logged_tenth && tenth < 10 {
            self.logged_tenth = tenth;
            return true;
        }
        false
    }

    fn print(&mut self, force: bool) {
        let mut err = std::io::stderr().lock();
        if !err.is_terminal() {
            // Logs and pipes: no carriage returns, a line at the start and every 10 %.
            if force || self.new_tenth() {
                let _ = writeln!(err, "{}", self.line());
            }
            return;
        }
        let now = Instant::now();
        if !force && self.last_print.is_some_and(|t| now - t < Duration::from_millis(200)) {
            return;
        }
        self.last_print = Some(now);
        let _ = write!(err, "\r{}\x1b[K", self.line());
        let _ = err.flush();
    }

    /// The end of a file's line: what its bytes were checked against.
    pub fn done_note(pinned: bool) -> &'static str {
        if pinned {
            " — done, sha256 matches models/manifest.json"
        } else {
            // The manifest pins no hash: only the server's own word was checked (QA I6).
            " — done, matches the checksum the server declared"
        }
    }
}

impl DownloadProgress for StderrProgress {
    fn started(&mut self, file: &str, total_bytes: Option<u64>) {
        if let Some(hook) = self.on_first_download.take() {
            hook();
        }
        self.file = file.to_string();
        self.total = total_bytes;
        self.so_far = 0;
        self.resumed = 0;
        self.logged_tenth = 0;
        self.print(true);
    }

    fn resuming(&mut self, bytes: u64) {
        self.so_far = bytes;
        self.resumed = bytes;
        self.new_tenth(); // the tenths already here are not news
        let total = self.total.map_or(String::new(), |t| format!(" of {}", format_size(t)));
        let mut err = std::io::stderr().lock();
        if err.is_terminal() {
            let _ = writeln!(err, "\r{}: resuming at {}{total}\x1b[K", self.file, format_size(bytes));
        } else {
            let _ = writeln!(err, "downloading {}: resuming at {}{total}", self.file, format_size(bytes));
        }
    }

    fn advanced(&mut self, bytes_so_far: u64) {
        self.so_far = bytes_so_far;
        self.print(false);
    }

    fn finished(&mut self, file: &str) {
        self.finished_checked(file, false);
    }

    fn finished_checked(&mut self, file: &str, pinned: bool) {
        self.file = file.to_string();
        if let Some(t) = self.total {
            self.so_far = t;
        }
        let mut err = std::io::stderr().lock();
        let start = if err.is_terminal() { "\r" } else { "" };
        let _ = writeln!(err, "{start}{}{}", self.line(), Self::done_note(pinned));
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn waiting(&mut self, message: &str) {
        eprintln!("kneeclip: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_progress_line_and_cancel_flag() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut p = StderrProgress::new().with_cancel_flag(flag.clone());
        // Set the state directly: started()/advanced() would print into the test output.
        p.file = "model.safetensors".into();
        p.total = Some(2_000_000);
        p.so_far = 500_000;
        assert_eq!(
            p.line(),
            "downloading model.safetensors: 0.5 / 2.0 MB (25%)"
        );
        assert!(!p.cancelled());
        flag.store(true, Ordering::Relaxed);
        assert!(p.cancelled());
    }

    /// Sizes under 1 MB read in kB (config.json was "0.0 / 0.0 MB"); a resumed file says so (QA I8).
    #[test]
    fn small_files_in_kilobytes_and_a_resume_is_said() {
        let mut p = StderrProgress::new();
        p.file = "config.json".into();
        p.total = Some(4_190);
        p.so_far = 4_190;
        assert_eq!(p.line(), "downloading config.json: 4.2 / 4.2 kB (100%)");
        assert_eq!(format_size(655_360), "655.4 kB");
        assert_eq!(format_size(1_869_462), "1.9 MB");
        p.file = "model.safetensors".into();
        p.total = Some(3_700_000);
        p.so_far = 2_500_000;
        p.resumed = 1_869_462;
        assert_eq!(p.line(), "downloading model.safetensors: 2.5 / 3.7 MB (68%), resumed at 1.9 MB");
        p.total = None;
        assert_eq!(p.line(), "downloading model.safetensors: 2.5 MB, resumed at 1.9 MB");
    }

    /// A log got only the 0 % and 100 % lines of a 605 MB download (QA I8).
    #[test]
    fn a_log_gets_a_line_every_tenth() {
        let mut p = StderrProgress::new();
        p.total = Some(1_000);
        let mut lines = Vec::new();
        for so_far in (0..=1_000).step_by(7) {
            p.so_far = so_far;
            if p.new_tenth() {
                lines.push(so_far);
            }
        }
        assert_eq!(lines.len(), 9, "10 % to 90 % (100 % is the done line): {lines:?}");
        assert!(lines.iter().zip(1..).all(|(&b, tenth)| (tenth * 100..tenth * 100 + 7).contains(&b)), "{lines:?}");
        // A resume does not print the tenths it skipped.
        p.logged_tenth = 0;
        p.so_far = 550;
        assert!(p.new_tenth());
        p.so_far = 590;
        assert!(!p.new_tenth());
    }

    /// "checksum verified" was said of a hash the same server declared (QA I6).
    #[test]
    fn the_done_note_says_what_the_bytes_were_checked_against() {
        assert!(StderrProgress::done_note(false).contains("matches the checksum the server declared"));
        assert!(!StderrProgress::done_note(false).contains("verified"));
        assert!(StderrProgress::done_note(true).contains("models/manifest.json"));
    }
}
