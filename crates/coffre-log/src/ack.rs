//! How the committer answers appenders: one slot per request, and the waiting thread parked
//! in the kernel until its slot is filled (no spinning, no `sched_yield`, no channel per
//! request; docs/PERFORMANCE.md, finding 4). The committer fills a group's slots, then wakes
//! their threads one `unpark` each: only the threads whose answer is ready wake up.

use crate::error::LogError;
use crate::record::Receipt;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;

/// What a request is answered with.
pub(crate) type Answer = Result<Vec<Receipt>, LogError>;

#[derive(Debug)]
struct Slot {
    filled: AtomicBool,
    answer: Mutex<Option<Answer>>,
    waiter: Thread,
}

/// The appender's side: waits for the answer.
#[derive(Debug)]
pub(crate) struct Ticket {
    slot: Arc<Slot>,
}

/// The committer's side: fills the slot once. Dropped unfilled (the committer gave up on the
/// request, or is gone), it answers [`LogError::Poisoned`].
#[derive(Debug)]
pub(crate) struct Reply {
    slot: Arc<Slot>,
}

/// A new request's two sides; the calling thread is the one that will wait.
pub(crate) fn ticket() -> (Ticket, Reply) {
    let slot = Arc::new(Slot {
        filled: AtomicBool::new(false),
        answer: Mutex::new(None),
        waiter: std::thread::current(),
    });
    (Ticket { slot: Arc::clone(&slot) }, Reply { slot })
}

impl Reply {
    /// Fills the slot and wakes its waiter.
    pub(crate) fn fill(self, answer: Answer) {
        self.put(answer);
    }

    fn put(&self, answer: Answer) {
        *self.slot.answer.lock() = Some(answer);
        self.slot.filled.store(true, Ordering::Release);
        // A lone append committed on its own thread (`Log::submit`) is answered by that very
        // thread: it is not parked, and a self-unpark would only make its next park return
        // at once.
        if self.slot.waiter.id() != std::thread::current().id() {
            self.slot.waiter.unpark();
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.slot.filled.load(Ordering::Acquire) {
            self.put(Err(LogError::Poisoned));
        }
    }
}

impl Ticket {
    /// Blocks until the committer answers. Must be called on the thread that made the ticket.
    pub(crate) fn wait(self) -> Answer {
        // `park` may return spuriously (or for an unrelated unpark): the flag decides.
        while !self.slot.filled.load(Ordering::Acquire) {
            std::thread::park();
        }
        self.slot.answer.lock().take().unwrap_or(Err(LogError::Poisoned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_slot_wakes_its_waiter_with_the_answer() {
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let (ticket, reply) = ticket();
            tx.send(reply).unwrap();
            ticket.wait()
        });
        rx.recv().unwrap().fill(Ok(Vec::new()));
        assert!(matches!(waiter.join().unwrap(), Ok(v) if v.is_empty()));
    }

    #[test]
    fn a_reply_dropped_unfilled_answers_poisoned_and_wakes_its_waiter() {
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let (ticket, reply) = ticket();
            tx.send(reply).unwrap();
            ticket.wait()
        });
        drop(rx.recv().unwrap());
        assert!(matches!(waiter.join().unwrap(), Err(LogError::Poisoned)));
    }
}
