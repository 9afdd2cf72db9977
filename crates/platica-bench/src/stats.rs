//! Latency samples, percentiles, timing loops and formatting.
//!
//! Two percentile rules, each kept so its figures stay comparable with the earlier ones in
//! BENCHMARKS.md: [`Samples::pct`] (nearest rank, `live`) and [`percentile`] over sorted
//! microseconds (the rank `(n - 1) * p` rounded, `realtime` and `webhooks`).

use std::future::Future;
use std::time::{Duration, Instant};

/// Sorted latency samples.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    sorted: Vec<Duration>,
}

impl Samples {
    pub fn new(mut v: Vec<Duration>) -> Samples {
        v.sort();
        Samples { sorted: v }
    }

    pub fn n(&self) -> usize {
        self.sorted.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); zero when empty.
    pub fn pct(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn p50(&self) -> Duration {
        self.pct(50.0)
    }

    pub fn p99(&self) -> Duration {
        self.pct(99.0)
    }

    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// How long to keep measuring one cell.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop after this many samples.
    pub max_iter: usize,
    /// Stop once this much time has gone (with at least `min_iter` samples).
    pub time: Duration,
    pub min_iter: usize,
}

impl Budget {
    pub const fn new(max_iter: usize, secs: f64, min_iter: usize) -> Budget {
        Budget { max_iter, time: Duration::from_millis((secs * 1000.0) as u64), min_iter }
    }
}

/// A call slower than this is "slow": it is not warmed up and counts as a sample itself, and the
/// cell stops at [`SLOW_SAMPLES`] samples (or when its budget is spent, after `min_iter` samples,
/// one or two).
pub const SLOW: Duration = Duration::from_secs(1);
pub const SLOW_SAMPLES: usize = 3;

/// Runs `f` repeatedly. `f` returns the durations of its parts (cumulative: part `i` is the time
/// from the start of the call to the end of step `i`) and a value; the value of the first call
/// is returned. Fast calls are warmed up twice first.
pub async fn measure<T, F, Fut>(budget: Budget, mut f: F) -> anyhow::Result<(Vec<Samples>, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<(Vec<Duration>, T)>>,
{
    let started = Instant::now();
    let (first_parts, first) = f().await?;
    let mut parts: Vec<Vec<Duration>> = vec![Vec::new(); first_parts.len()];
    let total = first_parts.last().copied().unwrap_or_default();
    if total >= SLOW {
        push(&mut parts, &first_parts);
        while parts[0].len() < SLOW_SAMPLES
            && !(parts[0].len() >= budget.min_iter.clamp(1, 2) && started.elapsed() >= budget.time)
        {
            let (p, _) = f().await?;
            push(&mut parts, &p);
        }
    } else {
        for _ in 0..2 {
            f().await?;
        }
        let started = Instant::now();
        while parts[0].len() < budget.max_iter && (started.elapsed() < budget.time || parts[0].len() < budget.min_iter)
        {
            let (p, _) = f().await?;
            push(&mut parts, &p);
        }
    }
    Ok((parts.into_iter().map(Samples::new).collect(), first))
}

fn push(parts: &mut [Vec<Duration>], p: &[Duration]) {
    for (v, d) in parts.iter_mut().zip(p) {
        v.push(*d);
    }
}

/// The CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`): unlike wall time, it does not
/// grow while the thread is preempted.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// [`measure`] for a synchronous, fast call (in-process engine reads): wall-clock samples, and
/// the thread's CPU time per call.
pub fn measure_sync<T>(budget: Budget, mut f: impl FnMut() -> T) -> (Samples, Samples, T) {
    let first = f();
    for _ in 0..100 {
        std::hint::black_box(f());
    }
    let mut wall = Vec::with_capacity(budget.max_iter.min(1 << 20));
    let mut cpu = Vec::with_capacity(budget.max_iter.min(1 << 20));
    let started = Instant::now();
    while wall.len() < budget.max_iter && (started.elapsed() < budget.time || wall.len() < budget.min_iter) {
        let c = thread_cpu();
        let t = Instant::now();
        std::hint::black_box(f());
        let w = t.elapsed();
        cpu.push(thread_cpu().saturating_sub(c));
        wall.push(w);
    }
    (Samples::new(wall), Samples::new(cpu), first)
}

/// The `p` (0.0..=1.0) percentile of `sorted` microseconds: the sample at rank `(n - 1) * p`,
/// rounded; zero when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Microseconds as milliseconds.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Wall-clock microseconds since the epoch: the stamp a load tool writes into a message body and
/// a client subtracts from its own clock (same machine).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A duration as people read it: µs below 1 ms, ms below 1 s, s above.
pub fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        let ms = us / 1000.0;
        if ms < 10.0 { format!("{ms:.2} ms") } else { format!("{ms:.1} ms") }
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A count with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A small deterministic random generator (xorshift64*), enough to pick rows.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Samples::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(s.p50(), Duration::from_millis(50));
        assert_eq!(s.p99(), Duration::from_millis(99));
        assert_eq!(s.pct(0.0), Duration::from_millis(1));
        assert_eq!(s.max(), Duration::from_millis(100));
        assert_eq!(Samples::default().p99(), Duration::ZERO);
    }

    #[test]
    fn rounded_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        // Rank (100 - 1) * 0.5 = 49.5 rounds to 50: the 51st sample.
        assert_eq!(percentile(&v, 0.5), 51);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(ms(1_500), 1.5);
    }

    #[test]
    fn durations_and_counts_as_people_read_them() {
        assert_eq!(fmt(Duration::from_micros(250)), "250 µs");
        assert_eq!(fmt(Duration::from_micros(2_500)), "2.50 ms");
        assert_eq!(fmt(Duration::from_millis(25)), "25.0 ms");
        assert_eq!(fmt(Duration::from_millis(2_500)), "2.50 s");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(3_230), "3,230");
        assert_eq!(thousands(999), "999");
    }
}
