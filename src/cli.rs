//! The `marketscout` command line: `serve` (the default), `migrate`, `user`,
//! `backup`, `import`, `backtest`, `simulate`, `demo`, `scan`, `sources` and
//! `version`. Every command has `--help`.

/// `println!` and `eprintln!` that give up quietly when the other end is gone
/// (`marketscout sources | head -1`) instead of panicking: the command has
/// nobody left to tell.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::api::auth::{USERNAME_PATTERN, check_email};
use crate::app::{Application, shutdown_signal};
use crate::auth::password;
use crate::config::{ScanArgs, ServeArgs, StorageArgs};
use crate::store::{NewUser, PoolOptions, Store, StoreError};
use crate::time::{iso, now_ms};

#[derive(Debug, Parser)]
#[command(
    name = "marketscout",
    version,
    about = "Self-hosted trend intelligence: which products are about to go viral, and why.",
    long_about = "Self-hosted trend intelligence: which products are about to go viral, and why.\n\n\
                  Without a command, `marketscout` runs `serve`. Every option can also be set with \
                  the environment variable shown in brackets, or in a .env file.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API (the default command).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit (serve also applies them at start).
    Migrate(StorageArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the SQLite database to a new file while the server keeps running.
    Backup {
        /// The new file to write (must not exist yet).
        #[arg(long = "to", value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Load observations from files: NDJSON, a JSON array, or CSV with a header row
    /// (see docs/observation.schema.json), or exports of Apify's TikTok and Instagram
    /// scrapers and Kaggle's YouTube trending CSVs. `-` reads standard input.
    Import {
        /// Files to read; `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Read every file as this format instead of guessing from its name and content.
        /// `export` insists on a recognised export of another tool (Apify TikTok or
        /// Instagram scraper datasets, Kaggle's YouTube trending CSVs), which are
        /// otherwise recognised by their content anyway.
        #[arg(long, value_parser = ["ndjson", "json", "csv", "export"])]
        format: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Run the early-detection engine over daily series, day by day, as it would have
    /// run live. Input: CSV `series,date,value` (rows in any order; missing days are 0).
    /// Output: CSV `series,date,score,stage`; a row whose stage is `emerging` or
    /// `exploding` is a flag. Each row uses only input dated on or before its day.
    Backtest {
        /// Input CSV, or `-` for standard input.
        #[arg(long, value_name = "SERIES.csv")]
        input: PathBuf,
        /// Output CSV, or `-` for standard output.
        #[arg(long, value_name = "FLAGS.csv")]
        output: PathBuf,
        /// After writing the flags, print a report (to standard output, or to standard
        /// error with `--output -`): recall before half-peak, lead and false alarms of
        /// the engine next to three simple baselines, on explosions found by the
        /// attention yardstick's rule; and how often the 14-day forecast's 80% interval
        /// held the actual value 7 and 14 days later.
        #[arg(long)]
        report: bool,
        /// With the report: take the explosions from this CSV `series,viral,half_peak,peak`
        /// (`viral` true or false; dates YYYY-MM-DD, empty when not viral) instead of
        /// deriving them. Implies `--report`.
        #[arg(long, value_name = "TRUTH.csv")]
        truth: Option<PathBuf>,
    },
    /// Generate realistic, reproducible multi-platform observations where some products go
    /// viral at known times, with the ground truth, for testing imports and measuring early
    /// detection. The same arguments always write the same bytes.
    Simulate(SimulateArgs),
    /// Load a simulated data set into the database so a new install shows a working product
    /// at once: products (marked as demo data) and their posts, videos and ads over the last
    /// months, scored. `--remove` takes all of it out again and leaves everything else.
    Demo {
        /// Take the demo data out instead of loading it.
        #[arg(long, conflicts_with_all = ["products", "days", "seed"])]
        remove: bool,
        /// Number of demo products.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=2000))]
        products: u64,
        /// Days of history, ending today.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(90..=365))]
        days: u64,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Run scans of the configured sources now, with a live progress bar and a summary:
    /// every enabled source that is due, or the one named (due or not).
    // The background scanner's switch means nothing to a scan run by hand.
    #[command(mut_arg("scanner_enabled", |a| a.hide(true)))]
    Scan {
        /// The source to scan (its name, as `marketscout sources` lists it).
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Scan every enabled source, due or not.
        #[arg(long, conflicts_with = "source")]
        all: bool,
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// List the configured sources with their schedule, status and last scan.
    Sources {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Number of products (1-100000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    products: usize,
    /// Number of days (90-1095). Viral rises start at least 80 days in.
    #[arg(long, default_value_t = 240, value_name = "D")]
    days: usize,
    /// Seed of the random generator.
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
    /// Last simulated day (UTC), YYYY-MM-DD; defaults to today.
    #[arg(long, value_name = "YYYY-MM-DD")]
    end: Option<String>,
    /// Share of products that go viral (0-1).
    #[arg(long, default_value_t = crate::engine::simulate::VIRAL_SHARE, value_name = "SHARE", allow_negative_numbers = true)]
    viral_share: f64,
    /// Observations, one JSON object per line, sorted by observed_at. Also writes
    /// `<stem>.truth.csv` (unless --truth) and `<stem>.products.json` next to it.
    #[arg(long, value_name = "FILE.ndjson")]
    out: PathBuf,
    /// Ground truth CSV `series,viral,half_peak,peak` (default: `<stem>.truth.csv`).
    #[arg(long, value_name = "FILE.csv")]
    truth: Option<PathBuf>,
    /// Also write the daily attention of every product, `series,date,value`, computed from the
    /// observations as the server does (the input of `marketscout backtest`), and print how the
    /// early-detection engine does on it against the truth.
    #[arg(long, value_name = "FILE.csv")]
    series: Option<PathBuf>,
}

/// Exits on a command-line error as clap does, adding, when the bad value
/// came from an environment variable rather than the command line, which
/// variable: that is what the user set, not the flag clap names.
fn exit_naming_the_variable(e: clap::Error) -> ! {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    fn env_of(cmd: &clap::Command, long: &str) -> Option<String> {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|v| v.to_string_lossy().into_owned())
            .or_else(|| cmd.get_subcommands().find_map(|s| env_of(s, long)))
    }
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let long = arg
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .trim_start_matches("--");
        let on_command_line = std::env::args()
            .any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
        if let Some(var) = env_of(&Cli::command(), long)
            && !on_command_line
            && std::env::var_os(&var).is_some()
        {
            let rendered = e.render().to_string();
            let (first, rest) = rendered.split_once('\n').unwrap_or((&rendered, ""));
            use std::io::Write as _;
            let _ = write!(
                std::io::stderr(),
                "{first}\n  (the value comes from the environment variable {var})\n{rest}"
            );
            std::process::exit(2);
        }
    }
    e.exit()
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from MARKETSCOUT_PASSWORD, or asked for.
    Create {
        /// The name to log in with: 3-50 letters, digits or `_`.
        #[arg(long)]
        username: String,
        /// The user's email address (for alert emails).
        #[arg(long)]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Delete a user with their watchlists and sessions.
    Delete {
        /// The username.
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| exit_naming_the_variable(e));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Migrate(storage)) => {
            let store = open(&storage).await?;
            store.migrate().await?;
            outln!("database is up to date");
            Ok(())
        }
        Some(Command::User(cmd)) => user(cmd).await,
        Some(Command::Backup { to, storage }) => {
            let store = open(&storage).await?;
            store.backup_sqlite(&to).await?;
            outln!("backup written to {}", to.display());
            Ok(())
        }
        Some(Command::Import {
            files,
            format,
            storage,
        }) => {
            let store = open(&storage).await?;
            store.migrate().await?;
            import(&store, &files, format.as_deref()).await
        }
        Some(Command::Backtest {
            input,
            output,
            report,
            truth,
        }) => backtest(&input, &output, report || truth.is_some(), truth.as_deref()),
        Some(Command::Simulate(args)) => simulate(&args),
        Some(Command::Demo {
            remove,
            products,
            days,
            seed,
            storage,
        }) => {
            let store = open(&storage).await?;
            store.migrate().await?;
            if remove {
                let (products, contents) = store.remove_demo().await?;
                outln!(
                    "removed the demo data: {products} products, {contents} posts, videos and ads"
                );
                Ok(())
            } else {
                demo(&store, products as usize, days as usize, seed).await
            }
        }
        Some(Command::Scan {
            source,
            all,
            storage,
            scan,
        }) => {
            let store = open(&storage).await?;
            store.migrate().await?;
            scan_now(store, source.as_deref(), all, scan).await
        }
        Some(Command::Sources { storage }) => {
            let store = open(&storage).await?;
            store.migrate().await?;
            list_sources(&store).await
        }
        Some(Command::Version) => {
            outln!("marketscout {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init(&args.storage.log_format, args.storage.debug);
    let config = args.into_config()?;
    let database = config.database.redacted();
    let app = Application::build(config).await?;
    let shutdown = shutdown_signal();
    let addr = app.local_addr()?;
    tracing::info!(%database, "MarketScout listening on http://{addr} (API docs at /docs)");
    app.run_until(shutdown).await
}

async fn open(storage: &StorageArgs) -> anyhow::Result<Store> {
    crate::telemetry::init(&storage.log_format, storage.debug);
    let store = Store::connect(&storage.database()?, PoolOptions::default()).await?;
    Ok(store)
}

async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            admin,
            storage,
        } => {
            if !(3..=50).contains(&username.chars().count())
                || !username
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bail!("--username must be 3-50 characters matching {USERNAME_PATTERN}");
            }
            check_email(&email)
                .map_err(|reason| anyhow::anyhow!("--email is not valid: {reason}"))?;
            let password = read_password()?;
            let store = open(&storage).await?;
            store.migrate().await?;
            let hashed = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            let created = store
                .create_user(NewUser {
                    username: &username,
                    email: &email,
                    hashed_password: &hashed,
                    is_admin: admin,
                    now: now_ms(),
                })
                .await;
            match created {
                Ok(user) => {
                    let role = if user.admin() {
                        "administrator"
                    } else {
                        "user"
                    };
                    outln!("created {role} {} (id {})", user.username, user.id);
                    Ok(())
                }
                Err(StoreError::Conflict("email")) => {
                    bail!("a user with email {email} already exists")
                }
                Err(StoreError::Conflict(_)) => bail!("a user named {username} already exists"),
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::List { storage } => {
            let store = open(&storage).await?;
            store.migrate().await?;
            let users = store.list_users().await?;
            if users.is_empty() {
                outln!("no users yet: create one with `marketscout user create`");
            }
            for u in users {
                let role = if u.admin() { "admin" } else { "user" };
                outln!(
                    "{:>6}  {:<24} {:<32} {:<5}  {}",
                    u.id,
                    u.username,
                    u.email,
                    role,
                    iso(u.created_at)
                );
            }
            Ok(())
        }
        UserCommand::Delete { name, storage } => {
            let store = open(&storage).await?;
            store.migrate().await?;
            match store.delete_user(&name).await {
                Ok(()) => {
                    outln!("deleted user {name}");
                    Ok(())
                }
                Err(StoreError::NotFound(_)) => bail!("no user named {name}"),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The new user's password, from MARKETSCOUT_PASSWORD or typed twice at a prompt;
/// never from the command line, where other users could read it.
fn read_password() -> anyhow::Result<String> {
    let password = match std::env::var("MARKETSCOUT_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "set MARKETSCOUT_PASSWORD, or run in a terminal to be asked for the password"
                );
            }
            let first = rpassword::prompt_password("Password: ").context("reading the password")?;
            let second =
                rpassword::prompt_password("Repeat it: ").context("reading the password")?;
            if first != second {
                bail!("the passwords do not match");
            }
            first
        }
    };
    if !(6..=100).contains(&password.chars().count()) {
        bail!("the password must be 6-100 characters");
    }
    Ok(password)
}

/// Observations stored per transaction, read while the one before is stored.
/// A content seen in several transactions is upserted and matched in each:
/// 20,000 took less time than 5,000, and still holds the write lock for well
/// under a second.
const IMPORT_CHUNK: usize = 20_000;

/// Reads one file (`-`: standard input) of observations and hands them to
/// `each` in pieces of [`IMPORT_CHUNK`]; stops early when `each` answers false.
fn read_observations(
    file: &Path,
    format: Option<&str>,
    each: impl FnMut(crate::engine::observation::Batch) -> bool,
) -> anyhow::Result<()> {
    use crate::engine::observation::{parse_csv_pieces, parse_json_pieces};
    use std::io::Read;

    let name = file.display().to_string();
    // Exports of other tools (Apify's TikTok and Instagram scrapers, Kaggle's
    // YouTube trending lists) are recognised by their content and streamed.
    if name != "-" && matches!(format, None | Some("export")) {
        use crate::connectors::files::{Content, detect_format};
        let detected = detect_format(file);
        match detected {
            Ok(found) if found.content == Content::Observations && format.is_some() => bail!(
                "{name}: not an export of another tool but MarketScout observations; \
                 import it without --format export"
            ),
            Ok(found) if found.content != Content::Observations => {
                return read_export_pieces(file, &name, &found, each);
            }
            Err(e) if format.is_some() => bail!("{name}: {e}"),
            _ => {}
        }
    }
    let mut text = String::new();
    if name == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_csv = match format {
        Some(f) => f == "csv",
        None => {
            name.to_ascii_lowercase().ends_with(".csv")
                || !matches!(text.trim_start().chars().next(), Some('[' | '{') | None)
        }
    };
    let now = now_ms();
    if is_csv {
        parse_csv_pieces(text.as_bytes(), now, IMPORT_CHUNK, each)
    } else {
        parse_json_pieces(text, now, IMPORT_CHUNK, each)
    }
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// Streams an export through the file connector's reader in pieces of
/// `IMPORT_CHUNK` observations: constant memory whatever the file's size.
fn read_export_pieces(
    file: &Path,
    name: &str,
    format: &crate::connectors::files::ExportFormat,
    mut each: impl FnMut(crate::engine::observation::Batch) -> bool,
) -> anyhow::Result<()> {
    use crate::connectors::files::{Record, read_export};
    let mut piece = crate::engine::observation::Batch::default();
    let mut going = true;
    read_export(file, format, now_ms(), |record| {
        match record {
            Record::Observation(o) => piece.observations.push(o),
            Record::Skipped { line, reason } => piece.rejected.push((line as usize, reason)),
        }
        if piece.observations.len() + piece.rejected.len() >= IMPORT_CHUNK {
            going = each(std::mem::take(&mut piece));
        }
        going
    })
    .with_context(|| format!("reading {name}"))?;
    if going && (!piece.observations.is_empty() || !piece.rejected.is_empty()) {
        each(piece);
    }
    Ok(())
}

async fn import(store: &Store, files: &[PathBuf], format: Option<&str>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let matcher = crate::refresh::MatcherCache::default()
        .get(store)
        .await
        .context("reading product terms")?;
    let mut touched = std::collections::BTreeSet::new();
    for file in files {
        let name = file.display().to_string();
        // Reading and validating run on their own thread, a piece ahead of the
        // database: the two overlap instead of taking turns.
        let (pieces, mut received) = tokio::sync::mpsc::channel(2);
        let reader = {
            let (file, format) = (file.clone(), format.map(str::to_owned));
            std::thread::spawn(move || {
                read_observations(&file, format.as_deref(), |piece| {
                    pieces.blocking_send(piece).is_ok()
                })
            })
        };
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} {pos} observations ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name.clone());
        let mut bad = Vec::new();
        while let Some(piece) = received.recv().await {
            let counts = store
                .ingest(&piece.observations, &matcher)
                .await
                .with_context(|| format!("{name}: storing observations"))?;
            touched.extend(counts.products);
            accepted += counts.accepted;
            duplicates += counts.duplicates;
            bad.extend(piece.rejected);
            bar.inc(piece.observations.len() as u64);
        }
        bar.finish_and_clear();
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("{name}: the reader stopped unexpectedly"))??;
        for (line, reason) in bad.iter().take(20) {
            errln!("{name}:{line}: {reason}");
        }
        if bad.len() > 20 {
            errln!("{name}: ... and {} more rejected lines", bad.len() - 20);
        }
        rejected += bad.len() as u64;
    }
    let stored_in = started.elapsed();
    let products: Vec<i64> = touched.into_iter().collect();
    let refreshing = std::time::Instant::now();
    let refreshed = crate::refresh::refresh_products(store, &products, now_ms(), false)
        .await
        .context("refreshing trend scores")?;
    outln!(
        "imported {}, {} skipped, {rejected} rejected in {:.2} s; {} refreshed in {:.2} s",
        crate::engine::trend::plural(accepted as usize, "observation", "observations"),
        crate::engine::trend::plural(duplicates as usize, "duplicate", "duplicates"),
        stored_in.as_secs_f64(),
        crate::engine::trend::plural(refreshed.products, "product", "products"),
        refreshing.elapsed().as_secs_f64()
    );
    if rejected > 0 {
        let lines = crate::engine::trend::plural(rejected as usize, "line was", "lines were");
        bail!("{lines} rejected (the others were imported)");
    }
    Ok(())
}

/// Runs scans in the foreground: the one source named, every enabled one
/// (`all`), or those due. Each shows a progress bar, then a line of summary;
/// the command fails when any scan failed.
async fn scan_now(
    store: Store,
    name: Option<&str>,
    all: bool,
    args: ScanArgs,
) -> anyhow::Result<()> {
    use crate::scan::{ScanSettings, Scanner};
    let config = args.into_config();
    let secrets = crate::connectors::Secrets::load(config.secrets_file.as_deref())?;
    let scanner = Scanner::new(
        store.clone(),
        secrets,
        ScanSettings {
            owner: format!("cli:{}", std::process::id()),
            http: crate::connectors::http::HttpPolicy {
                timeout: config.timeout,
                retries: config.retries,
                ..Default::default()
            },
            ..ScanSettings::default()
        },
        std::sync::Arc::new(crate::refresh::MatcherCache::default()),
    );
    let ids: Vec<i64> = match name {
        Some(name) => match store.source_by_name(name).await {
            Ok(s) => vec![s.id],
            Err(StoreError::NotFound(_)) => {
                let known: Vec<String> =
                    store.sources().await?.into_iter().map(|s| s.name).collect();
                if known.is_empty() {
                    bail!(
                        "no source named {name:?}: no sources are configured yet (POST /sources)"
                    );
                }
                bail!(
                    "no source named {name:?}; the sources are: {}",
                    known.join(", ")
                );
            }
            Err(e) => return Err(e.into()),
        },
        None if all => store
            .sources()
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.id)
            .collect(),
        None => Vec::new(),
    };
    let mut failed = 0;
    let mut ran = 0;
    let mut run_one = async |claimed: crate::store::sources::ClaimedScan| -> anyhow::Result<()> {
        let label = claimed.source.name.clone();
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.clone());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let pages = std::cell::Cell::new((0i64, 0i64, 0i64));
        let outcome = scanner
            .run(claimed, |p| {
                let (n, items, accepted) = pages.get();
                let now = (n + 1, items + p.items, accepted + p.accepted);
                pages.set(now);
                bar.set_message(format!(
                    "{} pages, {} items, {} new observations",
                    now.0, now.1, now.2
                ));
            })
            .await?;
        bar.finish_and_clear();
        ran += 1;
        let status = outcome.status.as_str();
        outln!(
            "{label}: {status}: {}, {} new, {}, {} refreshed",
            crate::engine::trend::plural(outcome.pages as usize, "page", "pages"),
            crate::engine::trend::plural(outcome.accepted as usize, "observation", "observations"),
            crate::engine::trend::plural(outcome.duplicates as usize, "duplicate", "duplicates"),
            crate::engine::trend::plural(
                outcome.products_refreshed as usize,
                "product",
                "products"
            ),
        );
        for e in &outcome.errors {
            errln!("{label}: {}: {}", e.code, e.message);
        }
        if !outcome.errors.is_empty() && outcome.pages == 0 {
            failed += 1;
        }
        Ok(())
    };
    if name.is_some() || all {
        for id in ids {
            match scanner.claim(id, "cli").await? {
                Some(claimed) => run_one(claimed).await?,
                None => {
                    let s = store.source(id).await?;
                    errln!("{}: a scan of it is already running elsewhere", s.name);
                }
            }
        }
    } else {
        while let Some(claimed) = scanner.claim_due().await? {
            run_one(claimed).await?;
        }
    }
    if ran == 0 && name.is_none() {
        outln!("no source is due (use --all to scan every enabled source now)");
    }
    if failed > 0 {
        bail!("{failed} of {ran} scans failed");
    }
    Ok(())
}

async fn list_sources(store: &Store) -> anyhow::Result<()> {
    let sources = store.sources().await?;
    if sources.is_empty() {
        outln!("no sources configured (add one with POST /sources)");
        return Ok(());
    }
    let mut last = std::collections::HashMap::new();
    for scan in store.scans(None, 500).await? {
        last.entry(scan.source_id).or_insert(scan);
    }
    outln!(
        "{:<24} {:<16} {:>7} {:<8} {:<22} last scan",
        "name",
        "kind",
        "every",
        "enabled",
        "paused until"
    );
    for s in sources {
        let result = match last.get(&s.id) {
            None => "never".to_owned(),
            Some(scan) => {
                let mut text = format!(
                    "{} at {}: {} pages, {} new, {} duplicates",
                    scan.status.as_str(),
                    iso(scan.created_at),
                    scan.pages,
                    scan.accepted,
                    scan.duplicates
                );
                if let Some(e) = scan.errors.last() {
                    text.push_str(&format!("; {}: {}", e.code, e.message));
                }
                text
            }
        };
        outln!(
            "{:<24} {:<16} {:>6}m {:<8} {:<22} {result}",
            s.name,
            s.kind.as_str(),
            s.every_minutes,
            if s.enabled { "yes" } else { "no" },
            s.paused_until.map(iso).unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

async fn demo(store: &Store, products: usize, days: usize, seed: u64) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "demo [{bar:30}] {pos}/{len} observations ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let loaded = crate::demo::load(store, products, days, seed, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    outln!(
        "loaded the demo data: {} products ({} of them going viral), {} observations; {} products scored in {} ms",
        loaded.products,
        loaded.viral,
        loaded.observations,
        loaded.scored,
        loaded.millis
    );
    outln!("remove it with `marketscout demo --remove`");
    Ok(())
}

fn backtest(
    input: &std::path::Path,
    output: &std::path::Path,
    report: bool,
    truth: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let series = if input.as_os_str() == "-" {
        crate::backtest::read_series(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        crate::backtest::read_series(std::io::BufReader::new(file))
    }
    .with_context(|| format!("reading {}", input.display()))?;
    // A bad truth file stops the run before any work.
    let truth = truth
        .map(|path| crate::backtest::read_truth_file(path, &series))
        .transpose()?;
    let rows = if output.as_os_str() == "-" {
        crate::backtest::write_flags(&series, std::io::stdout().lock())?
    } else {
        let file = std::fs::File::create(output)
            .with_context(|| format!("creating {}", output.display()))?;
        crate::backtest::write_flags(&series, file)?
    };
    errln!(
        "{} series, {rows} days scored in {:.2} s",
        series.len(),
        started.elapsed().as_secs_f64()
    );
    if report {
        let text = crate::backtest::report::report(&series, truth.as_ref());
        if output.as_os_str() == "-" {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    Ok(())
}

/// `<dir>/<stem><suffix>` for `--out <dir>/<stem>.<ext>`.
fn beside(out: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "simulation".into());
    out.with_file_name(format!("{stem}{suffix}"))
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    use crate::engine::simulate::{Params, Simulation, date_of, score};
    use std::io::Write;

    let started = std::time::Instant::now();
    for (flag, path) in [
        ("--out", Some(&args.out)),
        ("--truth", args.truth.as_ref()),
        ("--series", args.series.as_ref()),
    ] {
        if path.is_some_and(|p| p.as_os_str() == "-") {
            anyhow::bail!(
                "{flag} must name a file: simulate writes several files side by side, so it cannot write to standard output"
            );
        }
    }
    let end = match &args.end {
        Some(text) => chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .with_context(|| format!("--end {text:?} is not a date (YYYY-MM-DD)"))?,
        None => chrono::Utc::now().date_naive(),
    };
    let end_day = end
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    let params = Params {
        products: args.products,
        days: args.days,
        seed: args.seed,
        first_day: end_day - args.days as i64 + 1,
        viral_share: args.viral_share,
    };
    let sim = Simulation::generate(&params).map_err(|e| anyhow::anyhow!("{e}"))?;
    let create = |path: &std::path::Path| {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .with_context(|| format!("creating {}", path.display()))
    };
    let mut written = Vec::new();
    {
        let mut out = create(&args.out)?;
        let mut line = String::new();
        for n in 0..sim.len() {
            sim.line_into(n, &mut line);
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.flush()
            .with_context(|| format!("writing {}", args.out.display()))?;
        written.push(args.out.clone());
    }
    let truth = args
        .truth
        .clone()
        .unwrap_or_else(|| beside(&args.out, ".truth.csv"));
    let products = beside(&args.out, ".products.json");
    for (path, text) in [(&truth, sim.truth_csv()), (&products, sim.products_json())] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path.clone());
    }
    let mut detection = None;
    if let Some(path) = &args.series {
        let series = sim.series();
        std::fs::write(path, sim.series_csv(&series))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path.clone());
        detection = Some(score(
            &sim.products,
            params.first_day,
            &crate::engine::simulate::product_flags(&sim),
        ));
    }
    let s = sim.summary();
    errln!(
        "{} products ({} viral), {} days {} to {}, {} contents ({} ads, {} unrelated), {} observations in {:.2} s; wrote {}",
        s.products,
        s.viral,
        params.days,
        date_of(params.first_day),
        date_of(end_day),
        s.contents,
        s.ads,
        s.unrelated,
        s.observations,
        started.elapsed().as_secs_f64(),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(d) = detection {
        let lead = d
            .median_lead
            .map(|l| format!("{l} days"))
            .unwrap_or_else(|| "none".into());
        errln!(
            "early detection: {}/{} viral products flagged before half-peak ({:.3}), median lead before the peak {lead}, {}/{} never-viral products flagged ({:.3})",
            d.before_half_peak,
            d.viral,
            d.recall_before_half_peak(),
            d.never_viral_flagged,
            d.never_viral,
            d.never_viral_flagged_share()
        );
    }
    Ok(())
}
