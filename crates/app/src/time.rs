//! Calendar arithmetic on UTC milliseconds since the epoch: RFC 3339 text, and the months that monthly quotas
//! count in.

const DAY_MS: i64 = 86_400_000;

/// (year, month 1-12, day 1-31) of a day number (days since 1970-01-01; Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The day number of a civil date (the inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-11-22T07:15:00.123Z`).
pub fn rfc3339(millis: i64) -> String {
    let (year, month, day) = civil_from_days(millis.div_euclid(DAY_MS));
    let rem = millis.rem_euclid(DAY_MS) / 1000;
    let ms = millis.rem_euclid(1000);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// The UTC month of an instant, `YYYY-MM` (the period a monthly quota counts in).
pub fn month_of(millis: i64) -> String {
    let (year, month, _) = civil_from_days(millis.div_euclid(DAY_MS));
    format!("{year:04}-{month:02}")
}

/// The first instant of the UTC month after the one `millis` falls in (when a monthly quota resets).
pub fn next_month_start(millis: i64) -> i64 {
    let (year, month, _) = civil_from_days(millis.div_euclid(DAY_MS));
    let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    days_from_civil(year, month, 1) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_331_723_456), "2026-11-22T07:15:23.456Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn months() {
        assert_eq!(month_of(1_795_331_723_456), "2026-11");
        assert_eq!(rfc3339(next_month_start(1_795_331_723_456)), "2026-12-01T00:00:00.000Z");
        // December rolls over into January; the last millisecond of a month belongs to it.
        let dec = days_from_civil(2026, 12, 31) * DAY_MS + DAY_MS - 1;
        assert_eq!(month_of(dec), "2026-12");
        assert_eq!(rfc3339(next_month_start(dec)), "2027-01-01T00:00:00.000Z");
        assert_eq!(month_of(dec + 1), "2027-01");
        for days in [-1000, 0, 59, 11_016, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
