//! The arbiter: polls the sources, intersects their intervals (Marzullo), disciplines the
//! quartz with the agreement, and issues strictly monotonic stamps from it.
//!
//! Sampling ([`Arbiter::poll`]) and stamping ([`Arbiter::now`]) are separate: `poll` does the
//! network I/O (from a [`Poller`] thread, or explicitly in a simulation) and `now` only reads
//! the monotonic clock and extrapolates from the last agreement.

mod events;
mod poller;
mod stamp;

pub use events::{ClockEvent, ClockEventKind};
pub use poller::Poller;
pub use stamp::{SourceOutcome, SourceReport, Stamp};

use crate::marzullo::{intersect, intersect_by};
use crate::sample::duration_ns;
use crate::{
    format_utc, Clock, ClockError, DateWindow, MonotonicClock, Quartz, Sample, Source, SourceError,
    SourceSet, TimeSource, TimeStatus, Timestamp,
};
use events::EventLog;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How the arbiter judges and carries time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbiterConfig {
    /// Worst-case rate error of the local oscillator, parts per million (quartz: 50).
    pub drift_ppm: u32,
    /// Holdover ends (and stamping is refused) once the carried interval's half-width exceeds
    /// this (ETSI EN 319 421 asks for 1 s accuracy from a time-stamping unit).
    pub holdover_uncertainty_max: Duration,
    /// A sample older than this does not vote (its source counts as silent).
    pub sample_age_max: Duration,
    /// Stamps carried from a majority vote are `Synchronized` for this long after it, then
    /// `Holdover` (the poller stopped or stalled). A vote without majority means `Holdover`
    /// at once when sources were lost, and refusal when live sources disagree.
    pub synchronized_age_max: Duration,
    /// Dates any source may plausibly report.
    pub dates: DateWindow,
    /// Events kept in the ring buffer.
    pub events_max: usize,
}

impl Default for ArbiterConfig {
    fn default() -> Self {
        ArbiterConfig {
            drift_ppm: 50,
            holdover_uncertainty_max: Duration::from_secs(1),
            sample_age_max: Duration::from_secs(200),
            synchronized_age_max: Duration::from_secs(200),
            dates: DateWindow::default(),
            events_max: 256,
        }
    }
}

/// The quartz's name in reports and events.
pub const QUARTZ_NAME: &str = "quartz";

/// A callback receiving every event as it happens (called without the arbiter's locks held).
pub type EventListener = Box<dyn Fn(&ClockEvent) + Send + Sync>;

struct PolledSource {
    source: Box<dyn TimeSource>,
    poll_interval_ns: u64,
    next_due_ns: u64,
}

#[derive(Debug)]
struct SourceState {
    name: String,
    kind: Source,
    last: Option<Result<Sample, SourceError>>,
    outcome: SourceOutcome,
}

#[derive(Debug)]
struct State {
    sources: Vec<SourceState>,
    /// Anchored at the last agreement the external sources reached without its vote.
    quartz: Quartz,
    /// The quartz's part in the last vote.
    quartz_outcome: SourceOutcome,
    /// The last agreement (with or without the quartz's vote): stamps are carried from it.
    agreement: Option<Sample>,
    /// Voters (external sources, plus the quartz while it votes) and quorum at the last vote.
    voters: usize,
    quorum: usize,
    /// Set while live voters disagree with no majority: stamping is refused with this reason.
    disagreement: Option<String>,
    /// Whether the last vote found a majority.
    synchronized: bool,
    agreed: SourceSet,
    rejected: SourceSet,
    /// Bounds of the last issued stamp, or the floor: nothing lower is ever issued.
    issued: Option<(u64, u64)>,
    status: Option<TimeStatus>,
    events: EventLog,
    outbox: Vec<ClockEvent>,
}

impl State {
    fn emit(&mut self, mono_ns: u64, kind: ClockEventKind) {
        let event = ClockEvent { mono_ns, kind };
        self.events.push(event.clone());
        self.outbox.push(event);
    }

    fn set_status(&mut self, mono_ns: u64, to: TimeStatus) {
        if self.status != Some(to) {
            let from = self.status.replace(to);
            self.emit(mono_ns, ClockEventKind::StatusChanged { from, to });
        }
    }
}

/// Arbitrates GPS, NTP and other sources into trustworthy [`Timestamp`]s. Implements
/// [`Clock`], so a log can date records with it.
///
/// ```
/// use coffre_clock::{Arbiter, ArbiterConfig, Clock, FakeMonotonic, ScriptedSource, Source};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let mono = FakeMonotonic::new(0);
/// let utc_at = |m: u64| 1_796_028_639_000_000_000 + m;
/// let honest = move |m: u64| Ok((utc_at(m) - 1_000_000, utc_at(m) + 1_000_000));
/// let arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()))
///     .with_source(ScriptedSource::new(Source::Gps, "gps", honest), Duration::from_secs(1))
///     .with_source(ScriptedSource::new(Source::Ntp, "ntp", honest), Duration::from_secs(16));
/// arbiter.poll();
/// let stamp = arbiter.now().unwrap();
/// assert!(stamp.earliest_ns() <= utc_at(0) && utc_at(0) <= stamp.latest_ns());
/// ```
pub struct Arbiter {
    config: ArbiterConfig,
    mono: Arc<dyn MonotonicClock>,
    polled: Mutex<Vec<PolledSource>>,
    state: Mutex<State>,
    listener: Option<EventListener>,
}

impl std::fmt::Debug for Arbiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arbiter").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Locks, recovering from poisoning: the state stays consistent between statements, and a
/// panicking source must not stop the clock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Arbiter {
    /// An arbiter with no sources yet, timing everything with `mono`.
    pub fn new(config: ArbiterConfig, mono: Arc<dyn MonotonicClock>) -> Arbiter {
        let state = State {
            sources: Vec::new(),
            quartz: Quartz::new(config.drift_ppm),
            quartz_outcome: SourceOutcome::NotPolled,
            agreement: None,
            voters: 0,
            quorum: 1,
            disagreement: None,
            synchronized: false,
            agreed: SourceSet::EMPTY,
            rejected: SourceSet::EMPTY,
            issued: None,
            status: None,
            events: EventLog::new(config.events_max),
            outbox: Vec::new(),
        };
        Arbiter {
            config,
            mono,
            polled: Mutex::new(Vec::new()),
            state: Mutex::new(state),
            listener: None,
        }
    }

    /// Adds a voting external source, sampled at most every `poll_interval` (NTP: 16–64 s;
    /// GPS: a second or two). Every source added counts towards the quorum; the quartz is
    /// built in and needs no adding.
    #[must_use]
    pub fn with_source(self, source: impl TimeSource + 'static, poll_interval: Duration) -> Self {
        self.with_boxed_source(Box::new(source), poll_interval)
    }

    /// [`Arbiter::with_source`] for an already boxed source.
    #[must_use]
    pub fn with_boxed_source(
        mut self,
        source: Box<dyn TimeSource>,
        poll_interval: Duration,
    ) -> Self {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        state.sources.push(SourceState {
            name: source.name().to_owned(),
            kind: source.kind(),
            last: None,
            outcome: SourceOutcome::NotPolled,
        });
        let polled = self.polled.get_mut().unwrap_or_else(|p| p.into_inner());
        polled.push(PolledSource {
            source,
            poll_interval_ns: duration_ns(poll_interval),
            next_due_ns: 0,
        });
        self
    }

    /// Sets a callback for every event. It runs on the thread that caused the event, after
    /// the arbiter's locks are released, so it may call the arbiter; keep it short.
    #[must_use]
    pub fn with_listener(mut self, listener: EventListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ArbiterConfig {
        &self.config
    }

    /// Agreeing voters needed at the last vote (before any vote: a strict majority of the
    /// configured sources): a strict majority of the configured external sources, plus the
    /// quartz when it voted. Silent sources count against agreement.
    pub fn quorum(&self) -> usize {
        let st = lock(&self.state);
        if st.voters == 0 {
            st.sources.len() / 2 + 1
        } else {
            st.quorum
        }
    }

    /// Never issue a time below `floor` (the latest timestamp already in the log): stamps'
    /// bounds are at least the floor's.
    pub fn set_floor(&self, floor: Timestamp) {
        let mono_ns = self.mono.now_ns();
        let mut st = lock(&self.state);
        let (e, l) = st.issued.unwrap_or((0, 0));
        let raised = (e.max(floor.earliest_ns()), l.max(floor.latest_ns()));
        if raised != (e, l) {
            st.issued = Some(raised);
            st.emit(
                mono_ns,
                ClockEventKind::FloorRaised { earliest_ns: raised.0, latest_ns: raised.1 },
            );
        }
        self.deliver(st);
    }

    /// Samples every source whose poll interval has elapsed, then votes. Blocks for the
    /// sources' own timeouts (sequentially); call it from a [`Poller`] or a simulation step.
    /// Returns how many sources were sampled.
    pub fn poll(&self) -> usize {
        let mut polled = lock(&self.polled);
        let mut results = Vec::with_capacity(polled.len());
        for (index, entry) in polled.iter_mut().enumerate() {
            if self.mono.now_ns() < entry.next_due_ns {
                continue;
            }
            let result = entry.source.sample(&*self.mono).and_then(|s| self.check_dates(s));
            entry.next_due_ns = self.mono.now_ns().saturating_add(entry.poll_interval_ns);
            results.push((index, result));
        }
        let sampled = results.len();
        let vote_mono_ns = self.mono.now_ns();
        let mut st = lock(&self.state);
        for (index, result) in results {
            Self::record(&mut st, vote_mono_ns, index, result);
        }
        self.vote(&mut st, vote_mono_ns);
        drop(polled);
        self.deliver(st);
        sampled
    }

    fn check_dates(&self, s: Sample) -> Result<Sample, SourceError> {
        if self.config.dates.contains(s.earliest_ns(), s.latest_ns()) {
            Ok(s)
        } else {
            Err(SourceError::Implausible { earliest_ns: s.earliest_ns(), latest_ns: s.latest_ns() })
        }
    }

    fn record(st: &mut State, mono_ns: u64, index: usize, result: Result<Sample, SourceError>) {
        let Some(slot) = st.sources.get_mut(index) else { return };
        let event = match (&slot.last, &result) {
            (Some(Err(old)), Err(new)) if old == new => None,
            (_, Err(error)) => Some(ClockEventKind::SourceFault {
                source: slot.name.clone(),
                error: error.clone(),
            }),
            (Some(Err(_)), Ok(_)) => {
                Some(ClockEventKind::SourceRecovered { source: slot.name.clone() })
            }
            _ => None,
        };
        slot.last = Some(result);
        if let Some(kind) = event {
            st.emit(mono_ns, kind);
        }
    }

    /// Marzullo over the fresh samples carried to `m`, with the quartz as a voter while it is
    /// disciplined; on agreement, disciplines the quartz (see docs/CLOCK.md, "The quartz as a
    /// voter").
    fn vote(&self, st: &mut State, m: u64) {
        let age_max = duration_ns(self.config.sample_age_max);
        let holdover_max_ns = duration_ns(self.config.holdover_uncertainty_max);
        let mut voters = Vec::new();
        let mut previously_false = Vec::with_capacity(st.sources.len());
        for (index, slot) in st.sources.iter_mut().enumerate() {
            previously_false.push(matches!(slot.outcome, SourceOutcome::Falseticker(_)));
            slot.outcome = match &slot.last {
                None => SourceOutcome::NotPolled,
                Some(Err(e)) => SourceOutcome::Faulty(e.clone()),
                Some(Ok(s)) if m.saturating_sub(s.mono_ns()) > age_max => SourceOutcome::Stale(*s),
                Some(Ok(s)) => {
                    voters.push((index, *s, s.at(m, self.config.drift_ppm)));
                    SourceOutcome::NoMajority(*s)
                }
            };
        }
        // The quartz votes only while the interval it carries from the last independent
        // agreement is within the holdover bound: beyond it, it could not even carry time.
        let quartz_was_false = matches!(st.quartz_outcome, SourceOutcome::Falseticker(_));
        let quartz_at = st.quartz.at(m);
        let quartz_vote = quartz_at.filter(|q| q.uncertainty_ns() <= holdover_max_ns);
        st.quartz_outcome = match (quartz_at, quartz_vote) {
            (None, _) => SourceOutcome::NotPolled,
            (Some(q), None) => SourceOutcome::Stale(q),
            (Some(_), Some(q)) => SourceOutcome::NoMajority(q),
        };
        let externals = st.sources.len();
        let external_quorum = externals / 2 + 1;
        let members = externals + usize::from(quartz_vote.is_some());
        let quorum = members / 2 + 1;
        st.quorum = quorum;
        st.voters = members;
        let mut intervals: Vec<(u64, u64)> =
            voters.iter().map(|(_, _, at)| (at.earliest_ns(), at.latest_ns())).collect();
        let mut marked = vec![true; intervals.len()];
        if let Some(q) = quartz_vote {
            intervals.push((q.earliest_ns(), q.latest_ns()));
            marked.push(false);
        }
        // An instant is agreed when the external sources alone are a majority of the external
        // sources (the quartz never vetoes agreeing external sources), or when a majority of
        // all voters contains it and at least one of them is external (the quartz never forms
        // a majority alone). A lone external source against the quartz is a tie, not a veto.
        let veto_proof =
            if quartz_vote.is_some() { external_quorum.max(2) } else { external_quorum };
        let verdict = intersect_by(&intervals, &marked, |all, ext| {
            ext >= veto_proof || (all >= quorum && ext >= 1)
        })
        .and_then(|x| Sample::new(m, x.earliest_ns, x.latest_ns).map(|s| (s, x.truechimers)));
        let mut events = Vec::new();
        if let Some((agreement, truechimers)) = verdict {
            for (&(index, raw, at), &honest) in voters.iter().zip(&truechimers) {
                let Some(slot) = st.sources.get_mut(index) else { continue };
                if honest {
                    slot.outcome = SourceOutcome::Agreed(raw);
                    continue;
                }
                slot.outcome = SourceOutcome::Falseticker(raw);
                if !previously_false.get(index).copied().unwrap_or(false) {
                    events.push(ClockEventKind::Falseticker {
                        source: slot.name.clone(),
                        earliest_ns: at.earliest_ns(),
                        latest_ns: at.latest_ns(),
                    });
                }
            }
            if let Some(q) = quartz_vote {
                let honest = truechimers.get(voters.len()).copied().unwrap_or(false);
                st.quartz_outcome =
                    if honest { SourceOutcome::Agreed(q) } else { SourceOutcome::Falseticker(q) };
                if !honest && !quartz_was_false {
                    events.push(ClockEventKind::QuartzStep {
                        earliest_ns: q.earliest_ns(),
                        latest_ns: q.latest_ns(),
                        agreed_earliest_ns: agreement.earliest_ns(),
                        agreed_latest_ns: agreement.latest_ns(),
                    });
                }
            }
            if let Some((issued_earliest_ns, _)) = st.issued {
                if agreement.latest_ns() < issued_earliest_ns {
                    events.push(ClockEventKind::StepBack {
                        issued_earliest_ns,
                        agreed_latest_ns: agreement.latest_ns(),
                    });
                }
            }
            // Only an agreement the external sources reach without the quartz re-disciplines
            // it: otherwise one external source and the quartz could walk time forever at the
            // drift rate. Quartz-assisted agreements stay inside the quartz's interval.
            let external_only = &intervals[..voters.len()];
            if intersect(external_only, external_quorum).is_some() {
                st.quartz.discipline(agreement);
            }
            st.agreement = Some(agreement);
            st.synchronized = true;
            st.disagreement = None;
        } else {
            let live = intervals.len();
            let disagreeing = live >= 2 && intersect(&intervals, live).is_none();
            let why = disagreeing.then(|| Self::describe_disagreement(st, &voters, quartz_vote));
            st.disagreement = why;
            if st.synchronized || st.status.is_none() || disagreeing {
                events.push(ClockEventKind::NoMajority { live, quorum, disagreeing });
            }
            st.synchronized = false;
        }
        for kind in events {
            st.emit(m, kind);
        }
        let mut agreed = SourceSet::EMPTY;
        let mut rejected = SourceSet::EMPTY;
        for slot in &st.sources {
            if matches!(slot.outcome, SourceOutcome::Agreed(_)) {
                agreed = agreed.with(slot.kind);
            } else {
                rejected = rejected.with(slot.kind);
            }
        }
        match st.quartz_outcome {
            SourceOutcome::Agreed(_) => agreed = agreed.with(Source::Quartz),
            SourceOutcome::Falseticker(_) => rejected = rejected.with(Source::Quartz),
            _ => {}
        }
        st.agreed = agreed;
        st.rejected = rejected;
    }

    /// Why no stamp can be issued while live voters disagree: each voter's interval.
    fn describe_disagreement(
        st: &State,
        voters: &[(usize, Sample, Sample)],
        quartz: Option<Sample>,
    ) -> String {
        let named = voters
            .iter()
            .filter_map(|&(index, _, at)| st.sources.get(index).map(|s| (s.name.as_str(), at)))
            .chain(quartz.map(|q| (QUARTZ_NAME, q)));
        let parts: Vec<String> = named
            .map(|(name, at)| {
                format!(
                    "{name} {} ± {} ms",
                    format_utc(at.midpoint_ns()),
                    at.uncertainty_ns() / 1_000_000
                )
            })
            .collect();
        format!(
            "live sources disagree and no majority of {} voters (quorum {}) exists: {}",
            st.voters,
            st.quorum,
            parts.join("; ")
        )
    }

    /// Carries the last agreement to now and clamps it above everything issued before.
    fn issue(&self, st: &mut State) -> Result<(Timestamp, Duration, bool), ClockError> {
        let m = self.mono.now_ns();
        if let Some(reason) = st.disagreement.clone() {
            st.set_status(m, TimeStatus::Unsynchronized);
            return Err(ClockError::Unsynchronized { reason });
        }
        let Some(anchor) = st.agreement else {
            st.set_status(m, TimeStatus::Unsynchronized);
            return Err(ClockError::Unsynchronized {
                reason: format!("no majority of {} sources has agreed yet", st.sources.len()),
            });
        };
        let carried = anchor.at(m, self.config.drift_ppm);
        let age_ns = m.saturating_sub(anchor.mono_ns());
        let holdover_max_ns = duration_ns(self.config.holdover_uncertainty_max);
        // Holdover is judged on the quartz (carried from the last independent agreement),
        // which contains every later quartz-assisted agreement: never longer than it allows.
        let holdover_ns = st.quartz.at(m).map_or(u64::MAX, |q| q.uncertainty_ns());
        let status = if st.synchronized && age_ns <= duration_ns(self.config.synchronized_age_max) {
            TimeStatus::Synchronized
        } else if holdover_ns.max(carried.uncertainty_ns()) <= holdover_max_ns {
            TimeStatus::Holdover
        } else {
            TimeStatus::Unsynchronized
        };
        st.set_status(m, status);
        if status == TimeStatus::Unsynchronized {
            return Err(ClockError::Unsynchronized {
                reason: format!(
                    "no majority for {} ms and holdover uncertainty {} ms exceeds {} ms",
                    age_ns / 1_000_000,
                    holdover_ns.max(carried.uncertainty_ns()) / 1_000_000,
                    holdover_max_ns / 1_000_000
                ),
            });
        }
        let (mut earliest, mut latest) = (carried.earliest_ns(), carried.latest_ns());
        let mut clamped = false;
        if let Some((issued_e, issued_l)) = st.issued {
            clamped = earliest < issued_e || latest < issued_l;
            earliest = earliest.max(issued_e);
            latest = latest.max(issued_l);
        }
        st.issued = Some((earliest, latest));
        let agreed = match status {
            TimeStatus::Synchronized => st.agreed,
            _ => SourceSet::only(Source::Quartz),
        };
        let ts = Timestamp::new(earliest, latest, agreed, st.rejected, status)
            .map_err(|_| ClockError::OutOfRange)?;
        Ok((ts, Duration::from_nanos(age_ns), clamped))
    }

    /// Issues a stamp like [`Clock::now`], with the evidence: every source's outcome at the
    /// last vote.
    pub fn stamp(&self) -> Result<Stamp, ClockError> {
        let mut st = lock(&self.state);
        let issued = self.issue(&mut st);
        let (quorum, voters) = (st.quorum, st.voters);
        let sources = Self::reports(&st);
        self.deliver(st);
        let (timestamp, agreement_age, clamped) = issued?;
        Ok(Stamp { timestamp, sources, quorum, voters, agreement_age, clamped })
    }

    /// Every source's outcome at the last vote (also when no stamp can be issued), the
    /// quartz last (named `quartz`: `not-polled` before the first agreement, `stale` once its
    /// interval passed the holdover bound and it no longer votes).
    pub fn sources(&self) -> Vec<SourceReport> {
        Self::reports(&lock(&self.state))
    }

    fn reports(st: &State) -> Vec<SourceReport> {
        st.sources
            .iter()
            .map(|s| SourceReport {
                name: s.name.clone(),
                kind: s.kind,
                outcome: s.outcome.clone(),
            })
            .chain(std::iter::once(SourceReport {
                name: QUARTZ_NAME.to_owned(),
                kind: Source::Quartz,
                outcome: st.quartz_outcome.clone(),
            }))
            .collect()
    }

    /// The events in the ring buffer, oldest first.
    pub fn events(&self) -> Vec<ClockEvent> {
        lock(&self.state).events.snapshot()
    }

    /// Takes the events out of the ring buffer, oldest first.
    pub fn drain_events(&self) -> Vec<ClockEvent> {
        lock(&self.state).events.drain()
    }

    /// Events dropped because the ring buffer was full.
    pub fn events_dropped(&self) -> u64 {
        lock(&self.state).events.dropped()
    }

    /// Hands queued events to the listener after releasing the state lock.
    fn deliver(&self, mut st: MutexGuard<'_, State>) {
        let outbox = std::mem::take(&mut st.outbox);
        drop(st);
        if let Some(listener) = &self.listener {
            for event in &outbox {
                listener(event);
            }
        }
    }
}

impl Clock for Arbiter {
    fn now(&self) -> Result<Timestamp, ClockError> {
        let mut st = lock(&self.state);
        let issued = self.issue(&mut st);
        self.deliver(st);
        issued.map(|(ts, _, _)| ts)
    }
}
