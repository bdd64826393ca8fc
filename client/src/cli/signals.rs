//! SIGINT and SIGTERM end the command loop like `quit`: playback stops and a WAV file is
//! completed.

/// The stop signals, listened to from creation on (so none is missed between startup and the
/// first time the command loop waits for one).
pub struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Registers the handlers; needs a running tokio runtime.
    pub fn new() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
                _ => {
                    tracing::warn!("cannot listen for SIGINT and SIGTERM");
                    None
                }
            };
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Resolves when the process is asked to stop.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        match &mut self.signals {
            Some((interrupt, terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}
