//! Silences the C sound libraries while the device is opened: ALSA prints a dozen lines to stderr
//! when there is no sound card, and the user should see only our one-line explanation.

/// Redirects the process's stderr to /dev/null until dropped. Only for short, single-threaded
/// moments (startup), since other threads' error output would be lost meanwhile.
pub struct QuietStderr {
    #[cfg(unix)]
    saved: Option<libc::c_int>,
}

impl QuietStderr {
    pub fn new() -> QuietStderr {
        #[cfg(unix)]
        {
            // SAFETY: plain descriptor calls on stderr and a descriptor we opened; every failure is
            // checked and leaves stderr as it was.
            unsafe {
                let saved = libc::dup(libc::STDERR_FILENO);
                if saved < 0 {
                    return QuietStderr { saved: None };
                }
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if null < 0 || libc::dup2(null, libc::STDERR_FILENO) < 0 {
                    if null >= 0 {
                        libc::close(null);
                    }
                    libc::close(saved);
                    return QuietStderr { saved: None };
                }
                libc::close(null);
                QuietStderr { saved: Some(saved) }
            }
        }
        #[cfg(not(unix))]
        QuietStderr {}
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            // SAFETY: `saved` is the duplicate of the original stderr made in `new`.
            unsafe {
                libc::dup2(saved, libc::STDERR_FILENO);
                libc::close(saved);
            }
        }
    }
}
