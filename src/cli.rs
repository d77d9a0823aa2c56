//! The `marketscout` command line: `serve` (the default), `migrate`, `user`,
//! `backup` and `version`. Every command has `--help`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::api::auth::{USERNAME_PATTERN, check_email};
use crate::app::{Application, shutdown_signal};
use crate::auth::password;
use crate::config::{ServeArgs, StorageArgs};
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
    /// (see docs/observation.schema.json). `-` reads standard input.
    Import {
        /// Files to read; `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Read every file as this format instead of guessing from its name and content.
        #[arg(long, value_parser = ["ndjson", "json", "csv"])]
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
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from MARKETSCOUT_PASSWORD, or asked for.
    Create {
        #[arg(long)]
        username: String,
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
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
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
            println!("database is up to date");
            Ok(())
        }
        Some(Command::User(cmd)) => user(cmd).await,
        Some(Command::Backup { to, storage }) => {
            let store = open(&storage).await?;
            store.backup_sqlite(&to).await?;
            println!("backup written to {}", to.display());
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
        Some(Command::Version) => {
            println!("marketscout {}", env!("CARGO_PKG_VERSION"));
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
                    println!("created {role} {} (id {})", user.username, user.id);
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
                println!("no users yet: create one with `marketscout user create`");
            }
            for u in users {
                let role = if u.admin() { "admin" } else { "user" };
                println!(
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
                    println!("deleted user {name}");
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

/// Observations stored per transaction: large enough to be fast, small enough
/// that the progress bar moves and a failure loses little.
const IMPORT_CHUNK: usize = 5_000;

async fn import(store: &Store, files: &[PathBuf], format: Option<&str>) -> anyhow::Result<()> {
    use crate::engine::observation::{parse_csv_batch, parse_json_batch};
    use std::io::Read;

    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    for file in files {
        let name = file.display().to_string();
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
        let batch = if is_csv {
            parse_csv_batch(text.as_bytes(), now)
        } else {
            parse_json_batch(text, now)
        }
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;

        let bar = indicatif::ProgressBar::new(batch.observations.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} observations ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        for chunk in batch.observations.chunks(IMPORT_CHUNK) {
            let counts = store
                .ingest(chunk)
                .await
                .with_context(|| format!("{name}: storing observations"))?;
            accepted += counts.accepted;
            duplicates += counts.duplicates;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        for (line, reason) in batch.rejected.iter().take(20) {
            eprintln!("{name}:{line}: {reason}");
        }
        if batch.rejected.len() > 20 {
            eprintln!(
                "{name}: ... and {} more rejected lines",
                batch.rejected.len() - 20
            );
        }
        rejected += batch.rejected.len() as u64;
    }
    println!(
        "imported {accepted} observations, {duplicates} duplicates skipped, {rejected} rejected"
    );
    if rejected > 0 {
        bail!("{rejected} lines were rejected (the others were imported)");
    }
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
    eprintln!(
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
