//! `PARTIAL` in SEARCH/SORT RETURN (RFC 5267 section 4.4, widened by RFC 9394 to ranges
//! counted from the end): which slice of a result the client wants, and the ordered
//! sequence sets ESORT answers with.

use std::fmt;
use std::num::NonZeroU32;

use crate::types::{SeqNum, SeqRange, SeqSet};

/// `partial-range = partial-range-first / partial-range-last`: positions in the result,
/// 1-based from the start, or (`from_end`) from the end (`-1` is the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialRange {
    /// The smaller position (in absolute value).
    pub low: NonZeroU32,
    /// The larger position (in absolute value).
    pub high: NonZeroU32,
    /// `-low:-high`, counted from the last result backwards.
    pub from_end: bool,
}

impl PartialRange {
    /// The range `a:b` (either order), negative when `from_end`.
    pub fn new(a: NonZeroU32, b: NonZeroU32, from_end: bool) -> PartialRange {
        PartialRange {
            low: a.min(b),
            high: a.max(b),
            from_end,
        }
    }

    /// The members of `result` (kept in its order) whose positions are in the range.
    pub fn apply(&self, result: &[u32]) -> Vec<u32> {
        let len = result.len();
        let (low, high) = (self.low.get() as usize, self.high.get() as usize);
        let (start, end) = if self.from_end {
            // -low is index len-low, -high is index len-high.
            (len.saturating_sub(high), len.saturating_sub(low - 1))
        } else {
            ((low - 1).min(len), high.min(len))
        };
        result[start..end.max(start)].to_vec()
    }
}

impl fmt::Display for PartialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from_end {
            write!(f, "-{}:-{}", self.low, self.high)
        } else {
            write!(f, "{}:{}", self.low, self.high)
        }
    }
}

/// A sequence set of `nums` in their order, runs of consecutive ascending numbers joined
/// (`3,1:2`); None when empty.
pub fn ordered_set(nums: &[u32]) -> Option<SeqSet> {
    let mut ranges: Vec<SeqRange> = Vec::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && end.checked_add(1) == Some(nums[i + 1]) {
            i += 1;
            end = nums[i];
        }
        ranges.push(SeqRange {
            from: SeqNum::Value(NonZeroU32::new(start)?),
            to: SeqNum::Value(NonZeroU32::new(end)?),
        });
        i += 1;
    }
    (!ranges.is_empty()).then_some(SeqSet::Ranges(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("nonzero")
    }

    #[test]
    fn ranges_pick_slices() {
        let r: Vec<u32> = (10..20).collect();
        let cases = [
            (1, 3, false, vec![10, 11, 12]),
            (3, 1, false, vec![10, 11, 12]),
            (9, 100, false, vec![18, 19]),
            (11, 20, false, vec![]),
            (1, 2, true, vec![18, 19]),
            (3, 3, true, vec![17]),
            (5, 100, true, (10..16).collect()),
            (11, 12, true, vec![]),
        ];
        for (a, b, end, want) in cases {
            let p = PartialRange::new(nz(a), nz(b), end);
            assert_eq!(p.apply(&r), want, "{p}");
        }
        assert_eq!(
            PartialRange::new(nz(100), nz(1), true).to_string(),
            "-1:-100"
        );
    }

    #[test]
    fn ordered_sets_keep_order() {
        let s = |v: &[u32]| ordered_set(v).map(|s| s.to_string());
        assert_eq!(s(&[3, 1, 2, 7, 8, 9, 5]).as_deref(), Some("3,1:2,7:9,5"));
        assert_eq!(s(&[]), None);
    }
}
