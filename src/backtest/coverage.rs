//! How honest the forecast's 80% interval is: replay it on past days of real
//! series and count how often the actual value 7 and 14 days later fell inside.

use std::collections::BTreeMap;

use super::Series;
use super::yardstick::median;
use crate::engine::forecast::{ForecastPoint, forecast};

/// The first origin (day index) replayed: enough history for a useful record.
pub const FIRST_ORIGIN: usize = 60;
/// Origins are taken every this many days (neighbouring days would add
/// little but time).
pub const ORIGIN_STEP: usize = 7;
/// The horizons scored.
pub const HORIZONS: [usize; 2] = [7, 14];

/// Counts for one group of series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    pub origins: usize,
    /// Per horizon of `HORIZONS`: origins whose actual value fell in [lower, upper].
    pub covered: [usize; 2],
    /// Per horizon: symmetric absolute percentage errors of the point forecast.
    pub errors: [Vec<f64>; 2],
}

impl Coverage {
    pub fn share(&self, horizon: usize) -> f64 {
        if self.origins == 0 {
            f64::NAN
        } else {
            self.covered[horizon] as f64 / self.origins as f64
        }
    }

    /// Median symmetric absolute percentage error, in percent.
    pub fn median_error_pct(&self, horizon: usize) -> f64 {
        median(&self.errors[horizon])
    }

    fn add(&mut self, other: &Coverage) {
        self.origins += other.origins;
        for k in 0..HORIZONS.len() {
            self.covered[k] += other.covered[k];
            self.errors[k].extend_from_slice(&other.errors[k]);
        }
    }
}

/// |actual - forecast| / mean of both, in percent (0 when both are 0): defined
/// at zero, and the same for over- and under-forecasts.
fn symmetric_error_pct(actual: f64, point: f64) -> f64 {
    let scale = (actual.abs() + point.abs()) / 2.0;
    if scale == 0.0 {
        0.0
    } else {
        100.0 * (actual - point).abs() / scale
    }
}

fn inside(p: &ForecastPoint, actual: f64) -> bool {
    p.lower <= actual && actual <= p.upper
}

/// Coverage of one series over all its origins.
pub fn series_coverage(x: &[f64]) -> Coverage {
    let mut c = Coverage::default();
    let last_horizon = HORIZONS[HORIZONS.len() - 1];
    let mut origin = FIRST_ORIGIN;
    while origin + last_horizon < x.len() {
        if let Some(f) = forecast(&x[..=origin]) {
            c.origins += 1;
            for (k, &h) in HORIZONS.iter().enumerate() {
                let p = &f.points[h - 1];
                let actual = x[origin + h];
                c.covered[k] += usize::from(inside(p, actual));
                c.errors[k].push(symmetric_error_pct(actual, p.value));
            }
        }
        origin += ORIGIN_STEP;
    }
    c
}

/// The part of a series name before its first `:` (the data source).
pub fn part_of(name: &str) -> &str {
    name.split_once(':')
        .map_or("(no prefix)", |(prefix, _)| prefix)
}

/// Coverage over all series (key "all") and per name prefix.
pub fn coverage_by_part(series: &[Series]) -> BTreeMap<String, Coverage> {
    let mut parts: BTreeMap<String, Coverage> = BTreeMap::new();
    let mut all = Coverage::default();
    for s in series {
        let c = series_coverage(&s.values);
        all.add(&c);
        parts
            .entry(part_of(&s.name).to_owned())
            .or_default()
            .add(&c);
    }
    parts.insert("all".to_owned(), all);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_start_at_day_60_every_7_days_with_14_days_left() {
        // Origins 60, 67, ..., 95 (95 + 14 = 109 < 110).
        let c = series_coverage(&vec![5.0; 110]);
        assert_eq!(c.origins, 6);
        assert_eq!(c.covered, [6, 6], "a constant series is always covered");
        assert_eq!(c.median_error_pct(0), 0.0);
    }

    #[test]
    fn too_short_series_have_no_origin() {
        assert_eq!(series_coverage(&[1.0; 70]).origins, 0);
        assert!(series_coverage(&[1.0; 70]).share(0).is_nan());
    }

    #[test]
    fn the_error_is_symmetric_and_defined_at_zero() {
        assert_eq!(symmetric_error_pct(0.0, 0.0), 0.0);
        assert_eq!(symmetric_error_pct(100.0, 0.0), 200.0);
        assert_eq!(
            symmetric_error_pct(150.0, 50.0),
            symmetric_error_pct(50.0, 150.0)
        );
    }

    #[test]
    fn parts_are_name_prefixes() {
        assert_eq!(part_of("gtrends:shoes"), "gtrends");
        assert_eq!(part_of("shoes"), "(no prefix)");
    }
}
