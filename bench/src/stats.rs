//! Measurements: latency samples, percentiles, medians over repetitions.

use std::time::Duration;

/// Which direction of a metric is better; decides how the ratio is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Throughput: commands/s, logins/s.
    Higher,
    /// Time, latency, memory.
    Lower,
}

/// One number a workload produced.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Stable name, e.g. `mixed c=10 cmds/s`.
    pub name: String,
    /// The value in `unit`.
    pub value: f64,
    /// Unit shown in the table.
    pub unit: &'static str,
    /// Whether more is better.
    pub better: Better,
}

impl Metric {
    /// A metric where more is better.
    pub fn higher(name: impl Into<String>, value: f64, unit: &'static str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit,
            better: Better::Higher,
        }
    }

    /// A metric where less is better.
    pub fn lower(name: impl Into<String>, value: f64, unit: &'static str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit,
            better: Better::Lower,
        }
    }

    /// A duration in milliseconds (less is better).
    pub fn ms(name: impl Into<String>, d: Duration) -> Metric {
        Metric::lower(name, d.as_secs_f64() * 1000.0, "ms")
    }
}

/// The `p`th percentile (0..=100) by nearest rank; `None` without samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median of some values (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let samples: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&samples, 50.0), Some(ms(50)));
        assert_eq!(percentile(&samples, 99.0), Some(ms(99)));
        assert_eq!(percentile(&samples, 100.0), Some(ms(100)));
        assert_eq!(percentile(&samples, 0.0), Some(ms(1)));
        assert_eq!(percentile(&[ms(7)], 99.0), Some(ms(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
    }
}
