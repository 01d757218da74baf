//! When the mixed workload's clients send their commands: as fast as each reply comes back
//! (closed loop), or on a fixed schedule of offered load shared by all clients (open loop).
//!
//! A closed loop measures a server at its own saturation point, where every client always
//! has one command outstanding and latency is clients / throughput (Little's law): a server
//! that is slow to *greet* keeps its clients out of the timed commands and looks faster.
//! An open loop offers both servers the same commands per second; a command that cannot be
//! sent on time because every client is still busy is timed from when it was due, so the
//! wait in the queue counts (no "coordinated omission").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The schedule of one run.
#[derive(Debug)]
pub enum Pace {
    /// Each client sends its next command as soon as the previous reply is in.
    Closed {
        /// No command is sent (and timed) after this.
        deadline: Instant,
    },
    /// Command `k` (over all clients) is due at `start + k / rate`.
    Open {
        /// Due time of command 0.
        start: Instant,
        /// Time between two due times.
        interval: Duration,
        /// No command is due after this.
        deadline: Instant,
        /// Index of the next command slot to hand out.
        next: AtomicU64,
    },
}

/// One command's turn: when its latency is counted from, or `None` once the run is over
/// (the command is still sent, so the session ends cleanly, but not timed).
pub type Slot = Option<Instant>;

impl Pace {
    /// A closed loop until `deadline`.
    pub fn closed(deadline: Instant) -> Pace {
        Pace::Closed { deadline }
    }

    /// `rate` commands per second over all clients, from `start` for `duration`.
    pub fn open(start: Instant, duration: Duration, rate: f64) -> Pace {
        Pace::Open {
            start,
            interval: Duration::from_secs_f64(1.0 / rate),
            deadline: start + duration,
            next: AtomicU64::new(0),
        }
    }

    /// Whether a client should start another session: before the deadline, and in the
    /// open loop while slots due before it are left.
    pub fn running(&self) -> bool {
        match self {
            Pace::Closed { deadline } => Instant::now() < *deadline,
            Pace::Open { next, .. } => self.due(next.load(Ordering::Relaxed)).is_some(),
        }
    }

    /// When open-loop slot `k` is due; `None` past the deadline (or for a closed loop).
    fn due(&self, k: u64) -> Option<Instant> {
        let Pace::Open {
            start,
            interval,
            deadline,
            ..
        } = self
        else {
            return None;
        };
        interval
            .checked_mul(u32::try_from(k).unwrap_or(u32::MAX))
            .and_then(|d| start.checked_add(d))
            .filter(|due| due < deadline)
    }

    /// Wait for the next command's turn. In the open loop a client that is early sleeps
    /// until the slot is due and is timed from when it actually sends (the timer's
    /// oversleep is the client's, not the server's); a client that is late (it was busy
    /// while the slot fell due) is timed from the due time, so the queueing counts.
    pub async fn slot(&self) -> Slot {
        match self {
            Pace::Closed { deadline } => {
                let now = Instant::now();
                (now < *deadline).then_some(now)
            }
            Pace::Open { next, .. } => {
                let due = self.due(next.fetch_add(1, Ordering::Relaxed))?;
                if Instant::now() >= due {
                    return Some(due);
                }
                tokio::time::sleep_until(due.into()).await;
                Some(Instant::now())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_loop_slots_are_due_at_the_rate_and_late_ones_keep_their_due_time() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let pace = Pace::open(start, ms(200), 100.0);
        // Already due: timed from its due time.
        assert_eq!(pace.slot().await, Some(start));
        // Early: the caller waits until the slot is due.
        let second = pace.slot().await.expect("slot");
        assert!(second >= start + ms(10), "{second:?}");
        // Late: the "client" is busy until well past the next due time (20 ms), so the
        // slot is timed from 20 ms, not from now.
        tokio::time::sleep_until((start + ms(50)).into()).await;
        assert_eq!(pace.slot().await, Some(start + ms(20)));
        // 20 slots fit in 200 ms at 100/s; the rest are past the deadline.
        let mut timed = 3;
        while pace.slot().await.is_some() {
            timed += 1;
        }
        assert_eq!(timed, 20);
        assert!(!pace.running());
    }

    #[tokio::test]
    async fn closed_loop_slots_are_now_until_the_deadline() {
        let pace = Pace::closed(Instant::now() + Duration::from_secs(60));
        let before = Instant::now();
        let slot = pace.slot().await.expect("slot");
        assert!(slot >= before);
        assert!(pace.running());
        let over = Pace::closed(Instant::now());
        assert_eq!(over.slot().await, None);
        assert!(!over.running());
    }
}
