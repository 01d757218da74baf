//! Unix time as a UTC calendar date and time, for what the binary prints itself (report
//! tables, rawlog timestamps) without pulling in a date crate.

/// Year, month, day, hour, minute, second (UTC) of Unix time `t`.
pub(crate) fn parts(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (y, mo, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    (y, mo, d, s / 3600, s / 60 % 60, s % 60)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_instants() {
        assert_eq!(super::parts(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(super::parts(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(super::parts(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(super::parts(-1), (1969, 12, 31, 23, 59, 59));
    }
}
