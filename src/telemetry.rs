//! Logging: `tracing` to stderr as text or JSON. Secrets never reach it: the
//! configuration hides them, request logs carry the path without the query,
//! and no handler logs a body.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str, debug: bool) {
    let default = if debug {
        "marketscout=debug,tower_http=debug,info"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_env("LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a log file or a collector gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
