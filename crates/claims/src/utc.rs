//! Calendar fields of a Unix time in UTC, for the timestamps AWS formats write (`requestContext.time`,
//! SigV4's `x-amz-date`): one civil-date conversion for the workspace, no date crate.

/// A Unix time split into UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Four-digit year.
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
}

impl UtcTime {
    /// The fields of `epoch_seconds` (seconds since 1970-01-01T00:00:00Z).
    ///
    /// ```
    /// let t = portcullis_claims::UtcTime::from_epoch(951_782_400);
    /// assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
    /// ```
    pub fn from_epoch(epoch_seconds: u64) -> UtcTime {
        let days = (epoch_seconds / 86_400) as i64;
        let secs = (epoch_seconds % 86_400) as u32;
        // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UtcTime;

    #[test]
    fn calendar_fields_cover_the_epoch_leap_days_and_today() {
        let fields = |t: UtcTime| (t.year, t.month, t.day, t.hour, t.minute, t.second);
        assert_eq!(fields(UtcTime::from_epoch(0)), (1970, 1, 1, 0, 0, 0));
        assert_eq!(
            fields(UtcTime::from_epoch(951_782_400)),
            (2000, 2, 29, 0, 0, 0)
        );
        assert_eq!(
            fields(UtcTime::from_epoch(1_795_510_111)),
            (2026, 11, 24, 8, 48, 31)
        );
        assert_eq!(
            fields(UtcTime::from_epoch(1_440_938_160)),
            (2015, 8, 30, 12, 36, 0)
        );
    }
}
