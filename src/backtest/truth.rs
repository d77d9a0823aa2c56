//! A truth file, for series whose explosions are known rather than derived
//! (a simulator knows which of its products went viral, and when):
//! `series,viral,half_peak,peak`, with `viral` = `true|false` and the two
//! dates (`YYYY-MM-DD`) empty when the series is not viral.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, bail};
use chrono::NaiveDate;

use super::Series;
use super::yardstick::median;

/// Days before half-peak in which a flag counts as early.
const PRE_HALF: i64 = 30;

/// What the truth file says about one input series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truth {
    Viral {
        half_peak: NaiveDate,
        peak: NaiveDate,
    },
    NotViral,
}

/// The truth, by series name.
pub type TruthTable = HashMap<String, Truth>;

/// Reads a truth file; every row must name a series of the input.
pub fn read_truth(input: impl Read, series: &[Series]) -> anyhow::Result<TruthTable> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .context("reading the CSV header")?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header != ["series", "viral", "half_peak", "peak"] {
        bail!(
            "line 1: the header must be series,viral,half_peak,peak (found {})",
            header.join(",")
        );
    }
    let known: std::collections::HashSet<&str> = series.iter().map(|s| s.name.as_str()).collect();
    let mut table = TruthTable::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => bail!("line {line}: {e}"),
        }
        if record.len() != 4 {
            bail!("line {line}: expected 4 fields (series,viral,half_peak,peak)");
        }
        let name = record[0].trim();
        if !known.contains(name) {
            bail!("line {line}: series {name:?} is not in the input series");
        }
        let truth = match record[1].trim() {
            "true" => Truth::Viral {
                half_peak: date(&record[2], line, "half_peak")?,
                peak: date(&record[3], line, "peak")?,
            },
            "false" => Truth::NotViral,
            other => bail!("line {line}: viral must be true or false (found {other:?})"),
        };
        if table.insert(name.to_owned(), truth).is_some() {
            bail!("line {line}: series {name:?} appears twice");
        }
    }
    Ok(table)
}

fn date(field: &str, line: u64, what: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(field.trim(), "%Y-%m-%d").with_context(|| {
        format!("line {line}: {what} {field:?} is not a date (YYYY-MM-DD); a viral series needs both dates")
    })
}

/// How a set of flags does against the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthQuality {
    pub viral: usize,
    pub not_viral: usize,
    /// Share of viral series with a flag in [half_peak - 30, half_peak).
    pub flagged_before_half_peak: f64,
    /// Median of peak - first flag in [half_peak - 30, peak), in days.
    pub median_lead_days: f64,
    /// Share of non-viral series flagged on any day.
    pub not_viral_flagged: f64,
}

/// Scores `flags` (parallel to `series`); series absent from the truth are skipped.
pub fn evaluate_truth(series: &[Series], flags: &[Vec<bool>], truth: &TruthTable) -> TruthQuality {
    let (mut viral, mut early, mut not_viral, mut false_flagged) = (0, 0, 0, 0);
    let mut leads = Vec::new();
    for (s, fl) in series.iter().zip(flags) {
        match truth.get(&s.name) {
            None => {}
            Some(Truth::NotViral) => {
                not_viral += 1;
                false_flagged += usize::from(fl.iter().any(|&f| f));
            }
            Some(Truth::Viral { half_peak, peak }) => {
                viral += 1;
                let day = |d: &NaiveDate| (*d - s.start).num_days();
                let (h, p) = (day(half_peak), day(peak));
                let flagged_in = |from: i64, to: i64| {
                    (from.max(0)..to.min(fl.len() as i64)).find(|&j| fl[j as usize])
                };
                early += usize::from(flagged_in(h - PRE_HALF, h).is_some());
                if let Some(first) = flagged_in(h - PRE_HALF, p) {
                    leads.push((p - first) as f64);
                }
            }
        }
    }
    let share = |k: usize, of: usize| {
        if of == 0 {
            f64::NAN
        } else {
            k as f64 / of as f64
        }
    };
    TruthQuality {
        viral,
        not_viral,
        flagged_before_half_peak: share(early, viral),
        median_lead_days: median(&leads),
        not_viral_flagged: share(false_flagged, not_viral),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(names: &[&str]) -> Vec<Series> {
        names
            .iter()
            .map(|n| Series {
                name: (*n).to_owned(),
                start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                values: vec![1.0; 100],
            })
            .collect()
    }

    #[test]
    fn viral_series_are_scored_on_early_flags_and_the_others_on_any_flag() {
        let s = series(&["hit", "missed", "calm", "noisy"]);
        let truth = read_truth(
            "series,viral,half_peak,peak\n\
             hit,true,2025-03-02,2025-03-12\n\
             missed,true,2025-03-02,2025-03-12\n\
             calm,false,,\n\
             noisy,false,,\n"
                .as_bytes(),
            &s,
        )
        .unwrap();
        // 2025-03-02 is day 60, 2025-03-12 day 70.
        let mut hit = vec![false; 100];
        hit[50] = true;
        let mut missed = vec![false; 100];
        missed[65] = true; // after half-peak: late, but before the peak
        let mut noisy = vec![false; 100];
        noisy[5] = true;
        let q = evaluate_truth(&s, &[hit, missed, vec![false; 100], noisy], &truth);
        assert_eq!((q.viral, q.not_viral), (2, 2));
        assert_eq!(q.flagged_before_half_peak, 0.5);
        assert_eq!(q.median_lead_days, (20.0 + 5.0) / 2.0);
        assert_eq!(q.not_viral_flagged, 0.5);
    }

    #[test]
    fn bad_truth_files_name_the_line() {
        let s = series(&["a"]);
        for (csv, expected) in [
            ("series,viral\n", "line 1"),
            ("series,viral,half_peak,peak\nb,false,,\n", "line 2"),
            ("series,viral,half_peak,peak\na,yes,,\n", "line 2"),
            ("series,viral,half_peak,peak\na,true,,\n", "line 2"),
            (
                "series,viral,half_peak,peak\na,false,,\na,false,,\n",
                "line 3",
            ),
        ] {
            let err = read_truth(csv.as_bytes(), &s).expect_err(csv).to_string();
            assert!(err.contains(expected), "{csv:?}: {err}");
        }
    }
}
