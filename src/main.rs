//! The `newsdesk` command line: parses arguments, calls into the library, and
//! maps errors to exit codes (2: bad configuration, 1: anything else).

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc: the pipeline allocates many small strings per item; glibc malloc
/// cost a quarter of ingest time in profiles, mimalloc roughly halves that.
/// `--features system-alloc` builds with the system allocator instead, for
/// heaptrack (mimalloc hides allocations from it).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use newsdesk::config::{self, ConfigErrors};
use newsdesk::pipeline::Desk;
use newsdesk::poll;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "newsdesk",
    version,
    about = "A newsroom wire desk: polls feeds, clusters stories, republishes merged feeds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll, store and serve until SIGTERM or SIGINT
    Run {
        /// Configuration file [default: $NEWSDESK_CONFIG, else /etc/newsdesk/newsdesk.toml]
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration: exit 0, or 2 with every error found
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Poll every source once, store, print a line per source, exit
    Once {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print config TOML for an OPML file: a [[sections]] per folder, a [[sources]] per feed
    ImportOpml {
        /// The OPML file (a feed reader's export)
        file: PathBuf,
    },
    /// Print the configured sources as OPML
    ExportOpml {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy a store into another, empty one (sled into PostgreSQL, or back),
    /// with a progress bar, then compare their record counts
    Migrate {
        /// The configuration whose [storage] is copied
        #[arg(long)]
        from: PathBuf,
        /// The configuration whose [storage] receives the copy (must be empty)
        #[arg(long)]
        to: PathBuf,
    },
    /// Print counts: sources, items, stories, stories per section, store size
    Stats {
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON object instead of `name: value` lines
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    #[cfg(not(feature = "system-alloc"))]
    purge_freed_memory_at_once();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => runtime()
            .and_then(|rt| {
                let result = rt.block_on(newsdesk::app::run(&config.unwrap_or_else(config::default_path)));
                // The store is flushed by now; do not wait for read-only background
                // work (the story index loading on a big store) before exiting.
                rt.shutdown_background();
                result
            })
            .map(|()| 0),
        Command::Check { config } => check(config.unwrap_or_else(config::default_path)),
        Command::Once { config } => {
            runtime().and_then(|rt| rt.block_on(once(config.unwrap_or_else(config::default_path))))
        }
        Command::ImportOpml { file } => import_opml(&file),
        Command::ExportOpml { config } => export_opml(config.unwrap_or_else(config::default_path)),
        Command::Migrate { from, to } => migrate(&from, &to),
        Command::Stats { config, json } => stats(config.unwrap_or_else(config::default_path), json),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(errors) = e.downcast_ref::<ConfigErrors>() {
                for err in &errors.0 {
                    eprintln!("{err}");
                }
                eprintln!("{} error(s) in the configuration", errors.0.len());
                ExitCode::from(2)
            } else {
                eprintln!("newsdesk: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

/// mimalloc gives freed memory back to the system a purge delay after it is
/// freed (1 s by default); at 0 it gives it back at once. A first poll of
/// 100,000 sources frees and allocates all the time, and with the delay its
/// peak RSS runs well above its heap (README, "Polling schedule"). The
/// environment (`MIMALLOC_PURGE_DELAY`, or its old name `MIMALLOC_RESET_DELAY`)
/// still wins: the value is set only when neither is.
#[cfg(not(feature = "system-alloc"))]
fn purge_freed_memory_at_once() {
    use std::os::raw::{c_int, c_long};
    // `mi_option_purge_delay` in mimalloc.h's `mi_option_t` (v2 and v3 alike);
    // the Rust bindings name no constant for it. The function is mimalloc's,
    // linked in by the `mimalloc` crate.
    const MI_OPTION_PURGE_DELAY: c_int = 15;
    extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() && std::env::var_os("MIMALLOC_RESET_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc reads it at each purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn import_opml(file: &std::path::Path) -> anyhow::Result<u8> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let subs = newsdesk::opml::parse(&bytes).with_context(|| file.display().to_string())?;
    print!("{}", newsdesk::opml::to_toml(&subs));
    Ok(0)
}

fn export_opml(path: PathBuf) -> anyhow::Result<u8> {
    let config = config::load(&path)?;
    print!("{}", newsdesk::opml::export(&config));
    Ok(0)
}

fn stats(path: PathBuf, json: bool) -> anyhow::Result<u8> {
    let config = config::load(&path)?;
    let store = newsdesk::app::open_store(&config)?;
    let mut sections = Vec::new();
    for s in &config.sections {
        sections.push((s.id.clone(), store.feed_len(&format!("s:{}", s.id))?));
    }
    let (items, stories, size) = (store.item_count()?, store.story_count()?, store.size_on_disk()?);
    if json {
        let per: serde_json::Map<String, serde_json::Value> =
            sections.into_iter().map(|(k, v)| (k, v.into())).collect();
        let v = serde_json::json!({
            "sources": config.sources.len(), "items": items, "stories": stories,
            "sections": per, "store_bytes": size,
        });
        println!("{v}");
    } else {
        println!("sources: {}", config.sources.len());
        println!("items: {items}");
        println!("stories: {stories}");
        for (id, n) in sections {
            println!("section {id}: {n}");
        }
        println!("store bytes: {size}");
    }
    Ok(0)
}

fn migrate(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<u8> {
    let (source, target) = (config::load(from)?, config::load(to)?);
    let a = newsdesk::app::open_store(&source)?;
    let b = newsdesk::app::open_store(&target)?;
    let total: u64 = a.table_sizes()?.iter().map(|(_, n)| n).sum();
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records  {elapsed_precise}") {
        bar.set_style(style);
    }
    let copied = a.copy_into(&b, &mut |n| bar.inc(n)).with_context(|| {
        format!("cannot copy {} ({}) into {} ({})", a.path().display(), a.backend(), b.path().display(), b.backend())
    })?;
    bar.finish_and_clear();
    println!(
        "copied {copied} records ({} items, {} stories) from {} ({}) to {} ({}); counts match",
        b.item_count()?,
        b.story_count()?,
        a.path().display(),
        a.backend(),
        b.path().display(),
        b.backend()
    );
    Ok(0)
}

fn check(path: PathBuf) -> anyhow::Result<u8> {
    let config = config::load(&path)?;
    // A shared database must answer, with a schema this release can run.
    if let Some(pg) = &config.storage.postgres {
        let options = newsdesk::app::pg_options(pg);
        let version = newsdesk::store::pg::PgEngine::check(&options)
            .with_context(|| format!("{}: storage.url", path.display()))?;
        println!("{}: database schema version {version}", options.shown_url());
    }
    println!(
        "{}: ok ({} sources, {} sections, {} regions)",
        path.display(),
        config.sources.len(),
        config.sections.len(),
        config.regions.len()
    );
    Ok(0)
}

async fn once(path: PathBuf) -> anyhow::Result<u8> {
    let config = Arc::new(config::load(&path)?);
    let store = newsdesk::app::open_store(&config)?; // before logging: see app::run
    newsdesk::logging::init(&config.log);
    let desk = Arc::new(Desk::new(store.clone(), config.clone())?);
    let fetcher = desk.runtime().fetcher.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let total = config.sources.len();
    let poll = tokio::spawn(poll::poll_all_once(desk.clone(), fetcher, tx));
    // On a terminal: a progress bar, with each source's line printed above it.
    let bar = std::io::stdout().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total as u64), indicatif::ProgressDrawTarget::stdout());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sources  {elapsed_precise}  {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut ok = 0usize;
    while let Some(o) = rx.recv().await {
        if o.error.is_none() {
            ok += 1;
        }
        let detail = match &o.error {
            Some(e) => e.clone(),
            None => format!("{} new, {} updated", o.report.new, o.report.updated),
        };
        let line = format!("{} {} {}", o.source, o.status.as_str(), detail);
        match &bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(o.source.clone());
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_with_message(format!("{ok} of {total} sources polled"));
    }
    poll.await?;
    // Settled when due, as the daemon would (`dedup.settle_every`); the
    // polls are stored either way.
    let settled = tokio::task::spawn_blocking(move || desk.settle_if_due(newsdesk::pipeline::now())).await;
    if let Err(e) = settled.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
        tracing::error!(error = %e, "settling the stories failed");
    }
    tokio::task::spawn_blocking(move || store.flush()).await??;
    Ok(if ok > 0 || total == 0 { 0 } else { 1 })
}
