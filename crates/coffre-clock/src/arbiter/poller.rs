//! The background thread that keeps the arbiter's samples fresh.

use super::Arbiter;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Polls an arbiter every `tick` on its own thread until dropped.
#[derive(Debug)]
pub struct Poller {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Arbiter {
    /// Starts a thread calling [`Arbiter::poll`] every `tick` (each source is still sampled
    /// only at its own interval). Dropping the [`Poller`] stops and joins it (after at most
    /// the poll in progress).
    pub fn spawn_poller(self: &Arc<Self>, tick: Duration) -> std::io::Result<Poller> {
        let (stop, stopped) = mpsc::channel::<()>();
        let arbiter = Arc::clone(self);
        let thread =
            std::thread::Builder::new().name("coffre-clock-poller".into()).spawn(move || loop {
                arbiter.poll();
                match stopped.recv_timeout(tick) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                }
            })?;
        Ok(Poller { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
