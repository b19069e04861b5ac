//! The simulated clock: the only thing that makes simulated time pass.
//!
//! Every simulator runs one *pass* per tick and acknowledges it. A test advances the clock with
//! [`SimClock::tick`], which returns once every simulator has finished its pass for that tick,
//! so a test never sleeps and two runs see the same sequence of states. The lab's interactive
//! mode drives the same clock from a real-time interval ([`SimClock::run_realtime`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One step of simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// Increases by one on every advance; 0 before the first.
    pub seq: u64,
    /// Simulated time after this tick.
    pub now: Timestamp,
}

#[derive(Debug)]
struct State {
    tick: Tick,
    /// Subscriber id → last tick seq it finished.
    acked: BTreeMap<u64, u64>,
    next_id: u64,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    ticks: watch::Sender<Tick>,
    /// Bumped on every acknowledgement or unsubscribe, so [`SimClock::tick`] can wait.
    acks: watch::Sender<u64>,
    /// Bumped on every advance, for observers that do not take part in ticks.
    advances: watch::Sender<()>,
}

/// A controllable clock shared by all simulators of a lab (and by both sides of the fabric).
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Arc<Inner>,
}

impl SimClock {
    /// A clock standing at `start` that moves only when told to.
    pub fn manual(start: Timestamp) -> Self {
        let tick = Tick { seq: 0, now: start };
        let (ticks, _) = watch::channel(tick);
        let (acks, _) = watch::channel(0);
        SimClock {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    tick,
                    acked: BTreeMap::new(),
                    next_id: 0,
                }),
                ticks,
                acks,
                advances: watch::channel(()).0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (every critical
        // section is a single assignment), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Current simulated time.
    pub fn now(&self) -> Timestamp {
        self.state().tick.now
    }

    /// Move time forward by `by` and wake every simulator; does not wait for them.
    pub fn advance(&self, by: Duration) -> Tick {
        let mut state = self.state();
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        let now = state.tick.now.saturating_add(by).unwrap_or(state.tick.now);
        state.tick = Tick {
            seq: state.tick.seq + 1,
            now,
        };
        let tick = state.tick;
        drop(state);
        self.inner.ticks.send_replace(tick);
        self.inner.advances.send_replace(());
        tick
    }

    /// Changes each time the clock moves. Unlike a [`Ticker`], an observer is not waited for
    /// by [`SimClock::tick`]: a controller uses it to look again at its deadlines.
    pub fn advances(&self) -> watch::Receiver<()> {
        let mut rx = self.inner.advances.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// Move time forward by `by` and return once every subscribed simulator has finished its
    /// pass for the new tick. Wrap it in a timeout when a simulator may be blocked (for example
    /// by an unreachable API server).
    pub async fn tick(&self, by: Duration) -> Tick {
        let mut acks = self.inner.acks.subscribe();
        let tick = self.advance(by);
        loop {
            if self.state().acked.values().all(|&seq| seq >= tick.seq) {
                return tick;
            }
            if acks.changed().await.is_err() {
                return tick;
            }
        }
    }

    /// Tick `n` times by `by` each, waiting for the simulators after each.
    pub async fn ticks(&self, n: usize, by: Duration) -> Tick {
        let mut last = Tick {
            seq: 0,
            now: self.now(),
        };
        for _ in 0..n {
            last = self.tick(by).await;
        }
        last
    }

    /// Drive the clock from real time: every `period`, advance by `period * speedup`, waiting for
    /// the simulators each time (a slow pass delays the next tick instead of piling up ticks).
    pub fn run_realtime(&self, period: Duration, speedup: u32) -> JoinHandle<()> {
        let clock = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                clock.tick(period.saturating_mul(speedup.max(1))).await;
            }
        })
    }

    /// Register a simulator. Ticks already sent are not waited for.
    pub fn subscribe(&self) -> Ticker {
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        let seq = state.tick.seq;
        state.acked.insert(id, seq);
        drop(state);
        let mut ticks = self.inner.ticks.subscribe();
        ticks.mark_unchanged();
        Ticker {
            clock: self.clone(),
            id,
            ticks,
        }
    }
}

/// One simulator's subscription to the clock. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Ticker {
    clock: SimClock,
    id: u64,
    ticks: watch::Receiver<Tick>,
}

impl Ticker {
    /// Wait for the next tick. Several ticks sent while a pass ran collapse into the latest one;
    /// a pass works from elapsed simulated time, not from the number of ticks.
    pub async fn next(&mut self) -> Tick {
        if self.ticks.changed().await.is_err() {
            // The clock's sender lives as long as any clone of the clock, including ours.
            return self.clock.state().tick;
        }
        *self.ticks.borrow_and_update()
    }

    /// Report the pass for `tick` finished.
    pub fn done(&self, tick: Tick) {
        let mut state = self.clock.state();
        if let Some(seq) = state.acked.get_mut(&self.id) {
            *seq = (*seq).max(tick.seq);
        }
        drop(state);
        self.clock.inner.acks.send_modify(|n| *n += 1);
    }

    /// The clock this ticker follows.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.clock.state().acked.remove(&self.id);
        self.clock.inner.acks.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Timestamp {
        "2025-05-01T10:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn tick_waits_until_every_subscriber_finished_its_pass() {
        let clock = SimClock::manual(start());
        let mut ticker = clock.subscribe();
        let sim = tokio::spawn(async move {
            let tick = ticker.next().await;
            ticker.done(tick);
            tick
        });
        let tick = clock.tick(Duration::from_secs(5)).await;
        assert_eq!(tick.seq, 1);
        assert_eq!(
            sim.await.unwrap().now,
            start() + SignedDuration::from_secs(5)
        );
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(5));
    }

    #[tokio::test]
    async fn a_dropped_subscriber_is_not_waited_for() {
        let clock = SimClock::manual(start());
        let ticker = clock.subscribe();
        drop(ticker);
        assert_eq!(clock.tick(Duration::from_secs(1)).await.seq, 1);
    }

    #[tokio::test]
    async fn ticks_sent_before_subscribing_are_not_replayed() {
        let clock = SimClock::manual(start());
        clock.advance(Duration::from_secs(1));
        let mut ticker = clock.subscribe();
        clock.advance(Duration::from_secs(1));
        assert_eq!(ticker.next().await.seq, 2);
    }
}
