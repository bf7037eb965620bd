//! Log setup: stderr, text or JSON lines, `RUST_LOG` over the configured level.

use crate::config::{Log, LogFormat};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber (once; later calls are ignored).
pub fn init(log: &Log) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // sled logs its own I/O errors as Rust debug text, many lines each (ten
    // on a failing flush at exit); every store error reaches our own log
    // lines in plain words, so sled's are off unless RUST_LOG names sled.
    let names_sled = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("sled"));
    let filter = match "sled=off".parse() {
        Ok(quiet) if !names_sled => filter.add_directive(quiet),
        _ => filter,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
