//! `marketscout backtest`: runs the early-detection engine over daily series
//! from a CSV file, day by day, as it would have run live, and writes what it
//! said each day. The file handling lives here; the engine is `engine::detect`.
//! With `--report`, it also measures the engine against the yardstick's rule
//! and baselines (`yardstick`, or a `truth` file) and the forecast's interval
//! (`coverage`), and prints the result (`report`).

pub mod coverage;
pub mod report;
pub mod truth;
pub mod yardstick;

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};

use anyhow::{Context, bail};
use chrono::NaiveDate;

use crate::engine::detect::detect;

/// One series: its first date and one value per day from there (missing days are 0).
pub struct Series {
    pub name: String,
    pub start: NaiveDate,
    pub values: Vec<f64>,
}

/// A day's value, and the input line it came from (for error messages).
type Point = (NaiveDate, f64, u64);

/// Reads `series,date,value` rows in any order; names the line of any bad row.
pub fn read_series(input: impl Read) -> anyhow::Result<Vec<Series>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .context("reading the CSV header")?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if header != ["series", "date", "value"] {
        bail!(
            "line 1: the header must be series,date,value (found {})",
            header.join(",")
        );
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut points: Vec<(String, Vec<Point>)> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => bail!("line {line}: {e}"),
        }
        if record.len() != 3 {
            bail!(
                "line {line}: expected 3 fields (series,date,value), found {}",
                record.len()
            );
        }
        let name = record[0].trim();
        if name.is_empty() {
            bail!("line {line}: the series name is empty");
        }
        let date = NaiveDate::parse_from_str(record[1].trim(), "%Y-%m-%d")
            .with_context(|| format!("line {line}: {:?} is not a date (YYYY-MM-DD)", &record[1]))?;
        let value: f64 = record[2]
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .with_context(|| {
                format!("line {line}: {:?} is not a non-negative number", &record[2])
            })?;
        let slot = *index.entry(name.to_owned()).or_insert_with(|| {
            points.push((name.to_owned(), Vec::new()));
            points.len() - 1
        });
        points[slot].1.push((date, value, line));
    }
    let mut out = Vec::with_capacity(points.len());
    for (name, mut days) in points {
        days.sort_by_key(|d| d.0);
        if let Some(w) = days.windows(2).find(|w| w[0].0 == w[1].0) {
            bail!(
                "line {}: series {name:?} has {} twice (first on line {})",
                w[1].2,
                w[1].0,
                w[0].2
            );
        }
        let start = days[0].0;
        let span = (days[days.len() - 1].0 - start).num_days() as usize + 1;
        let mut values = vec![0.0; span];
        for (date, value, _) in days {
            values[(date - start).num_days() as usize] = value;
        }
        out.push(Series {
            name,
            start,
            values,
        });
    }
    Ok(out)
}

/// Reads a `--truth` file naming the input series (see `truth`).
pub fn read_truth_file(
    path: &std::path::Path,
    series: &[Series],
) -> anyhow::Result<truth::TruthTable> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    truth::read_truth(std::io::BufReader::new(file), series)
        .with_context(|| format!("reading {}", path.display()))
}

/// A CSV field: quoted (with doubled quotes) when it holds a separator, quote or line break.
fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

/// Writes `series,date,score,stage`, one row per series and day.
pub fn write_flags(series: &[Series], output: impl Write) -> anyhow::Result<u64> {
    let mut out = BufWriter::new(output);
    writeln!(out, "series,date,score,stage")?;
    let mut rows = 0;
    for s in series {
        let name = csv_field(&s.name);
        for (i, day) in detect(&s.values).into_iter().enumerate() {
            let date = s.start + chrono::Days::new(i as u64);
            writeln!(out, "{name},{date},{:.1},{}", day.score, day.stage.as_str())?;
            rows += 1;
        }
    }
    out.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_any_order_with_gaps_become_daily_series() {
        let csv = "series,date,value\nb,2025-01-03,5\na,2025-01-02,1\nb,2025-01-01,2\n";
        let s = read_series(csv.as_bytes()).unwrap();
        assert_eq!(s[0].name, "b");
        assert_eq!(s[0].values, [2.0, 0.0, 5.0]);
        assert_eq!(s[1].values, [1.0]);
        let mut out = Vec::new();
        assert_eq!(write_flags(&s, &mut out).unwrap(), 4);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("series,date,score,stage\nb,2025-01-01,0.0,dormant\n"),
            "{text}"
        );
    }

    #[test]
    fn series_names_round_trip_through_csv() {
        let csv = "series,date,value\n\"shoes, \"\"red\"\"\",2025-01-01,1\n";
        let s = read_series(csv.as_bytes()).unwrap();
        assert_eq!(s[0].name, "shoes, \"red\"");
        let mut out = Vec::new();
        write_flags(&s, &mut out).unwrap();
        let back = read_series_names(&out);
        assert_eq!(back, ["shoes, \"red\""]);
    }

    fn read_series_names(flags: &[u8]) -> Vec<String> {
        csv::Reader::from_reader(flags)
            .records()
            .map(|r| r.unwrap()[0].to_owned())
            .collect()
    }

    #[test]
    fn malformed_input_names_the_line() {
        for (csv, expected) in [
            (
                "series,date,value\na,2025-01-01,1\na,2025-13-01,1\n",
                "line 3",
            ),
            ("series,date,value\na,2025-01-01,-4\n", "line 2"),
            (
                "series,date,value\na,2025-01-01,1\na,2025-01-01,2\n",
                "line 3",
            ),
            ("name,day,count\n", "line 1"),
            ("series,date,value\na,2025-01-01\n", "line 2"),
        ] {
            let err = read_series(csv.as_bytes()).err().expect(csv).to_string();
            assert!(err.contains(expected), "{csv:?}: {err}");
        }
    }
}
