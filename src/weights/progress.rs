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

/// Prints one updating progress line per file to stderr (for the CLI).
#[derive(Debug)]
pub struct StderrProgress {
    file: String,
    total: Option<u64>,
    so_far: u64,
    last_print: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl StderrProgress {
    pub fn new() -> Self {
        StderrProgress {
            file: String::new(),
            total: None,
            so_far: 0,
            last_print: None,
            cancel: None,
        }
    }

    /// Cancels the download when `flag` becomes true (e.g. set by a Ctrl-C handler).
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// The text of the progress line (without the carriage return).
    pub fn line(&self) -> String {
        let mb = |b: u64| b as f64 / 1_000_000.0;
        match self.total {
            Some(t) if t > 0 => format!(
                "downloading {}: {:.1} / {:.1} MB ({:.0}%)",
                self.file,
                mb(self.so_far),
                mb(t),
                100.0 * self.so_far as f64 / t as f64
            ),
            _ => format!("downloading {}: {:.1} MB", self.file, mb(self.so_far)),
        }
    }

    fn print(&mut self, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .last_print
                .is_some_and(|t| now - t < Duration::from_millis(200))
        {
            return;
        }
        self.last_print = Some(now);
        let mut err = std::io::stderr().lock();
        if err.is_terminal() {
            let _ = write!(err, "\r{}\x1b[K", self.line());
        } else if force {
            // Logs and pipes: no carriage returns, just the start and the end of each file.
            let _ = write!(err, "{}", self.line());
            if self.so_far == 0 {
                let _ = writeln!(err);
            }
        }
        let _ = err.flush();
    }
}

impl DownloadProgress for StderrProgress {
    fn started(&mut self, file: &str, total_bytes: Option<u64>) {
        self.file = file.to_string();
        self.total = total_bytes;
        self.so_far = 0;
        self.print(true);
    }

    fn advanced(&mut self, bytes_so_far: u64) {
        self.so_far = bytes_so_far;
        self.print(false);
    }

    fn finished(&mut self, file: &str) {
        self.file = file.to_string();
        if let Some(t) = self.total {
            self.so_far = t;
        }
        self.print(true);
        eprintln!(" — done, checksum verified");
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
}
