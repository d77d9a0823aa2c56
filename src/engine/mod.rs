//! The domain core: pure functions over plain data. No I/O, no database and
//! no clock: time is always an argument, so every result can be reproduced,
//! tested and benchmarked on its own.

pub mod alerts;
pub mod attention;
pub mod chars;
pub mod detect;
pub mod discover;
pub mod engagement;
pub mod forecast;
pub mod geo;
pub mod matching;
pub mod observation;
pub mod simulate;
pub mod trend;
pub mod viral;
