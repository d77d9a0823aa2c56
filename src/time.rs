//! Time at the edges: the server reads the clock here once per request and
//! passes it down as plain milliseconds; responses show ISO-8601 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2025-07-12T00:00:00.000Z`
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2025-07-12 00:00:00`, the format of the original CSV exports.
pub fn csv_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `2025-07-12`: a day number (days since 1970-01-01, UTC) as a date.
pub fn day_iso(day: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(day.saturating_mul(86_400_000))
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::iso(1_752_278_400_000), "2025-07-12T00:00:00.000Z");
        assert_eq!(super::csv_time(1_752_278_400_123), "2025-07-12 00:00:00");
        assert_eq!(super::day_iso(1_752_278_400_000 / 86_400_000), "2025-07-12");
    }
}
