//! Reads exports the way `marketscout import` reads them, and prints what it
//! found and how long it took (a throughput check without a benchmark
//! harness; run it under `/usr/bin/time -v` for the peak memory):
//!
//! `cargo run --release --example read_export -- USvideos.csv`

use std::path::Path;
use std::time::Instant;

use marketscout::connectors::files::{Record, detect_format, read_export};

fn main() -> std::io::Result<()> {
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        let started = Instant::now();
        let format = detect_format(path)?;
        let (mut observations, mut skipped) = (0u64, 0u64);
        read_export(path, &format, marketscout::time::now_ms(), |record| {
            match record {
                Record::Observation(_) => observations += 1,
                Record::Skipped { .. } => skipped += 1,
            }
            true
        })?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{arg}: {:?} as {:?}: {observations} observations, {skipped} skipped in {:.1} ms \
             ({:.0} records/s)",
            format.content,
            format.layout,
            seconds * 1000.0,
            (observations + skipped) as f64 / seconds
        );
    }
    Ok(())
}
