//! The command line, run as users run it: the real binary in a temp directory.

use std::process::{Command, Output, Stdio};

fn marketscout(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketscout"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MARKETSCOUT_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "--help"],
        vec!["user", "create", "--help"],
        vec!["user", "list", "--help"],
        vec!["user", "delete", "--help"],
        vec!["backup", "--help"],
        vec!["import", "--help"],
        vec!["backtest", "--help"],
        vec!["scan", "--help"],
        vec!["sources", "--help"],
        vec!["version", "--help"],
    ] {
        let out = marketscout(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("Usage"), "{args:?}");
    }
    let help = text(&marketscout(dir.path(), &["serve", "--help"], &[]));
    for var in [
        "DATABASE_URL",
        "SECRET_KEY",
        "RATE_LIMIT_REQUESTS",
        "REDIS_URL",
        "CORS_ORIGINS",
        "TRUSTED_PROXIES",
        "LOG_FORMAT",
        "SECRETS_FILE",
        "SCAN_CONCURRENCY",
    ] {
        assert!(help.contains(var), "serve --help names {var}");
    }
}

#[test]
fn import_reads_other_tools_exports_recognised_by_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/files");
    let youtube = fixtures.join("youtube/USvideos.csv");
    let tiktok = fixtures.join("tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl");
    let out = marketscout(
        dir.path(),
        &[
            "import",
            youtube.to_str().unwrap(),
            tiktok.to_str().unwrap(),
        ],
        &[],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("imported 13 observations, 1 duplicate skipped"),
        "{said}"
    );

    // The same files again: their times come from the exports, so nothing is new.
    let again = marketscout(
        dir.path(),
        &[
            "import",
            "--format",
            "export",
            youtube.to_str().unwrap(),
            tiktok.to_str().unwrap(),
        ],
        &[],
    );
    let said = text(&again);
    assert!(again.status.success(), "{said}");
    assert!(
        said.contains("imported 0 observations, 14 duplicates skipped"),
        "{said}"
    );
    // `--format export` insists: MarketScout's own observations are not an export.
    let own = dir.path().join("own.ndjson");
    std::fs::write(
        &own,
        r#"{"platform":"tiktok","kind":"video","platform_id":"1","observed_at":"2025-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let refused = marketscout(
        dir.path(),
        &["import", "--format", "export", own.to_str().unwrap()],
        &[],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("not an export of another tool"),
        "{}",
        text(&refused)
    );

    let listed = marketscout(dir.path(), &["sources"], &[]);
    assert!(
        text(&listed).contains("no sources configured"),
        "{}",
        text(&listed)
    );
    let scan = marketscout(dir.path(), &["scan", "--source", "nope"], &[]);
    assert!(!scan.status.success());
    assert!(
        text(&scan).contains("no source named \"nope\""),
        "{}",
        text(&scan)
    );
}

#[test]
fn users_are_created_listed_and_deleted_without_passwords_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let pw = [("MARKETSCOUT_PASSWORD", "a good password")];
    let out = marketscout(
        dir.path(),
        &[
            "user",
            "create",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
            "--admin",
        ],
        &pw,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("administrator boss"));
    let out = marketscout(
        dir.path(),
        &[
            "user",
            "create",
            "--username",
            "boss",
            "--email",
            "b2@example.com",
        ],
        &pw,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"));
    let out = marketscout(
        dir.path(),
        &[
            "user",
            "create",
            "--username",
            "x",
            "--email",
            "x@example.com",
        ],
        &pw,
    );
    assert!(text(&out).contains("--username"), "{}", text(&out));
    let out = marketscout(
        dir.path(),
        &[
            "user",
            "create",
            "--username",
            "nopw",
            "--email",
            "n@example.com",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("MARKETSCOUT_PASSWORD"),
        "{}",
        text(&out)
    );
    let listed = text(&marketscout(dir.path(), &["user", "list"], &[]));
    assert!(
        listed.contains("boss") && listed.contains("admin"),
        "{listed}"
    );
    assert!(!listed.contains("argon2"));
    assert!(
        marketscout(dir.path(), &["user", "delete", "boss"], &[])
            .status
            .success()
    );
    let out = marketscout(dir.path(), &["user", "delete", "boss"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no user named boss"));
}

#[test]
fn migrate_backup_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = marketscout(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("data/marketscout.db").exists());
    let out = marketscout(
        dir.path(),
        &[
            "user",
            "create",
            "--username",
            "ann",
            "--email",
            "ann@example.com",
        ],
        &[("MARKETSCOUT_PASSWORD", "secret1")],
    );
    assert!(out.status.success());
    let out = marketscout(dir.path(), &["backup", "--to", "copy.db"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let listed = text(&marketscout(
        dir.path(),
        &["user", "list"],
        &[("DATABASE_URL", &copy)],
    ));
    assert!(
        listed.contains("ann"),
        "the backup holds the data: {listed}"
    );
    let again = marketscout(dir.path(), &["backup", "--to", "copy.db"], &[]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    let out = marketscout(dir.path(), &["version"], &[]);
    assert!(text(&out).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_configuration_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("SECRET_KEY", "too-short"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("CORS_ORIGINS", "not an origin"),
        ("TRUSTED_PROXIES", "banana"),
        ("PORT", "eighty"),
        ("RATE_LIMIT_REQUESTS", "0"),
        ("ALGORITHM", "RS256"),
        ("LOG_FORMAT", "xml"),
        ("DEBUG", "maybe"),
        ("REDIS_URL", "http://not-redis"),
    ] {
        let out = marketscout(dir.path(), &["serve", "--port", "0"], &[(var, value)]);
        assert!(!out.status.success(), "{var}={value} was accepted");
        let msg = text(&out);
        assert!(msg.contains(var), "{var}: {msg}");
        assert!(!msg.contains("panicked"), "{var}: {msg}");
    }
}

#[test]
fn arguments_that_cannot_work_together_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["simulate", "--out", "-"], "--out must name a file"),
        (
            &["demo", "--remove", "--products", "5"],
            "'--remove' cannot be used",
        ),
        (
            &["simulate", "--viral-share", "-0.1", "--out", "s.ndjson"],
            "between 0 and 1",
        ),
    ];
    for (args, expected) in cases {
        let out = marketscout(dir.path(), args, &[]);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    assert!(!dir.path().join("-").exists(), "no file named -");
    let help = text(&marketscout(dir.path(), &["scan", "--help"], &[]));
    assert!(
        !help.contains("--scanner-enabled"),
        "serve's switch only: {help}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn serve_runs_on_sqlite_logs_no_secrets_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketscout"))
        .current_dir(dir.path())
        .env("MARKETSCOUT_DATA_DIR", dir.path().join("data"))
        .env("PORT", port.to_string())
        .env("DATABASE_URL", "sqlite:///./brief-style.db")
        .env("LOG_FORMAT", "json")
        .env("DEBUG", "true")
        .env_remove("SECRET_KEY")
        .env_remove("RUST_LOG")
        .env_remove("LOG_LEVEL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first_lines = String::new();
    while !first_lines.contains("listening") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the server exited: {first_lines}"
        );
        assert!(line.starts_with('{'), "JSON logs: {line}");
        first_lines.push_str(&line);
    }
    assert!(
        dir.path().join("brief-style.db").exists(),
        "the SQLAlchemy URL form is relative"
    );
    let key = std::fs::read_to_string(dir.path().join("data/secret_key"))
        .expect("a key was generated and kept");

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let password = "hunter2-is-my-password";
    let res = client
        .post(format!("{base}/signup"))
        .json(&serde_json::json!({"username": "ann", "email": "ann@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token: serde_json::Value = client
        .post(format!("{base}/token"))
        .form(&[("username", "ann"), ("password", password)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap();
    client
        .get(format!("{base}/watchlists"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();

    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let logs = first_lines + &rest;
    assert!(
        logs.contains("/watchlists"),
        "requests are logged at debug level: {logs}"
    );
    for secret in [
        password,
        access,
        token["refresh_token"].as_str().unwrap(),
        key.trim(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs: {logs}");
    }
}
#[cfg(unix)]
unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn import_reads_ndjson_csv_and_stdin_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.ndjson"),
        "{\"platform\":\"youtube\",\"kind\":\"video\",\"platform_id\":\"v1\",\"observed_at\":\"2025-09-01T00:00:00Z\",\"views\":5}\n\
         {\"platform\":\"youtube\",\"kind\":\"video\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "platform,kind,platform_id,observed_at,views\nreddit,post,t3_x,2025-09-01,7\n",
    )
    .unwrap();
    let out = marketscout(dir.path(), &["import", "a.ndjson", "b.csv"], &[]);
    let msg = text(&out);
    assert!(
        !out.status.success(),
        "a rejected line makes the exit status non-zero"
    );
    assert!(msg.contains("a.ndjson:2: platform_id is required"), "{msg}");
    assert!(
        msg.contains("imported 2 observations, 0 duplicates skipped, 1 rejected"),
        "{msg}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_marketscout"))
        .args(["import", "-"])
        .current_dir(dir.path())
        .env("MARKETSCOUT_DATA_DIR", dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"[{\"platform\":\"reddit\",\"kind\":\"post\",\"platform_id\":\"t3_x\",\"observed_at\":\"2025-09-01\"}]")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 0 observations, 1 duplicate skipped, 0 rejected"),
        "{}",
        text(&out)
    );
}

/// The ratchet of docs/SCORING.md: on the real dev set, the engine must keep its recorded
/// recall (within 0.02), its false-alarm rate and its lead over every baseline.
#[test]
fn backtest_keeps_its_recorded_figures_on_real_data() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let series = shared.join("data/attention/dev.csv");
    let scorer = shared.join("tools/score_detection.py");
    if !series.exists() || !scorer.exists() {
        eprintln!("skipped: the real attention data (../shared/data/attention) is not here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.csv");
    let out = marketscout(
        dir.path(),
        &[
            "backtest",
            "--input",
            series.to_str().unwrap(),
            "--output",
            flags.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let scored = Command::new("python3")
        .arg(&scorer)
        .args([
            "--series",
            series.to_str().unwrap(),
            "--flags",
            flags.to_str().unwrap(),
            "--best-baseline-at-fa",
        ])
        .output()
        .expect("python3 runs the scorer");
    let report = text(&scored);
    assert!(scored.status.success(), "{report}");
    let figure = |line_start: &str, key: &str| -> Vec<f64> {
        report
            .lines()
            .filter(|l| l.starts_with(line_start))
            .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix(key)))
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let recall = figure("recall_before_half_peak=", "recall_before_half_peak=")[0];
    let false_alarms = figure("recall_before_half_peak=", "false_alarms_per_1000_days=")[0];
    let lead = figure("recall_before_half_peak=", "median_lead_days=")[0];
    let recorded = marketscout::api::quality::RECORDED.real_data;
    assert!(
        recall >= recorded.recall_before_half_peak - 0.02,
        "recall fell to {recall}: {report}"
    );
    // What users are shown (GET /quality) is what the engine measures.
    assert!(
        (recall - recorded.recall_before_half_peak).abs() < 0.005,
        "{report}"
    );
    assert!(
        (false_alarms - recorded.false_alarms_per_1000_days).abs() < 0.005,
        "{report}"
    );
    assert!((lead - recorded.median_lead_days).abs() < 0.5, "{report}");
    assert!(
        false_alarms <= 1.0,
        "{false_alarms} false alarms per 1000 days: {report}"
    );
    assert!(lead >= 7.0, "median lead {lead} days: {report}");
    for baseline in figure("baseline_at_fa", "recall_before_half_peak=") {
        assert!(
            recall >= 2.0 * baseline,
            "a baseline reaches {baseline} at our false-alarm rate: {report}"
        );
    }
}

/// The report of `backtest --report` on the real dev set: the forecast's 80% interval
/// holds the actual value 7 and 14 days later 75% to 85% of the time, and the
/// report's figures are the ones the yardstick's own scorer prints for the same flags.
#[test]
fn backtest_report_matches_the_scorer_and_its_forecast_is_calibrated_on_real_data() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let series = shared.join("data/attention/dev.csv");
    let scorer = shared.join("tools/score_detection.py");
    if !series.exists() {
        eprintln!("skipped: the real attention data (../shared/data/attention) is not here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.csv");
    let out = marketscout(
        dir.path(),
        &[
            "backtest",
            "--input",
            series.to_str().unwrap(),
            "--output",
            flags.to_str().unwrap(),
            "--report",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    for part in ["all", "gtrends", "stkvol"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("forecast part={part} ")))
            .unwrap_or_else(|| panic!("no coverage line for {part}: {report}"));
        for horizon in ["coverage_7d=", "coverage_14d="] {
            let coverage: f64 = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(horizon))
                .unwrap()
                .parse()
                .unwrap();
            let range = if part == "all" {
                0.75..=0.85
            } else {
                0.70..=0.90
            };
            assert!(
                range.contains(&coverage),
                "{part} {horizon}{coverage}: {report}"
            );
        }
    }

    if !scorer.exists() || Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped the comparison with the scorer: python3 or the scorer is missing");
        return;
    }
    let scored = Command::new("python3")
        .arg(&scorer)
        .args([
            "--series",
            series.to_str().unwrap(),
            "--flags",
            flags.to_str().unwrap(),
            "--best-baseline-at-fa",
        ])
        .output()
        .expect("python3 runs the scorer");
    assert!(scored.status.success(), "{}", text(&scored));
    let expected: Vec<String> = String::from_utf8_lossy(&scored.stdout)
        .lines()
        .filter(|l| l.starts_with("recall_before_half_peak=") || l.starts_with("baseline_at_fa"))
        .map(str::to_owned)
        .collect();
    assert_eq!(expected.len(), 4, "{}", text(&scored));
    for line in &expected {
        assert!(
            report.lines().any(|l| l == line),
            "the scorer prints {line:?}, the report does not:\n{report}"
        );
    }
}

/// `backtest --report` on a small file: the report's sections, and `--truth` replacing
/// the derived explosions by known ones.
#[test]
fn backtest_report_reads_and_a_truth_file_replaces_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    // "shop:boom" is quiet at 10, climbs from day 150 to 200 at day 160, then calms;
    // "shop:calm" stays at 10 with a weekly wobble.
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let mut csv = String::from("series,date,value\n");
    for t in 0..260u64 {
        let date = start + chrono::Days::new(t);
        let boom = match t {
            150..=159 => 10.0 + 19.0 * (t - 149) as f64,
            160 => 210.0,
            161..=162 => 180.0,
            _ => 10.0,
        };
        let calm = 10.0 + (t % 7) as f64;
        csv.push_str(&format!(
            "shop:boom,{date},{boom}\nshop:calm,{date},{calm}\n"
        ));
    }
    std::fs::write(dir.path().join("series.csv"), csv).unwrap();
    let out = marketscout(
        dir.path(),
        &[
            "backtest",
            "--input",
            "series.csv",
            "--output",
            "flags.csv",
            "--report",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    for expected in [
        "== Early detection (explosions found by the yardstick's rule)",
        "ramping events: 1   shock events (not scored): 0   control series: 1",
        "growth7 (3)",
        "ratio_median (5)",
        "zscore28 (6)",
        "recall before half-peak [h-30, h)",
        "false alarms per 1000 series-days",
        "baseline_at_fa name=growth7 ",
        "== Forecast: share of actual values inside the 80% interval",
        "forecast part=all origins=54 coverage_7d=",
        "forecast part=shop origins=54 ",
    ] {
        assert!(report.contains(expected), "{expected:?} missing:\n{report}");
    }

    std::fs::write(
        dir.path().join("truth.csv"),
        "series,viral,half_peak,peak\nshop:boom,true,2025-06-05,2025-06-10\nshop:calm,false,,\n",
    )
    .unwrap();
    let out = marketscout(
        dir.path(),
        &[
            "backtest",
            "--input",
            "series.csv",
            "--output",
            "-",
            "--truth",
            "truth.csv",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("series,date,score,stage\n"),
        "with --output -, the flags alone go to standard output"
    );
    for expected in [
        "== Early detection (explosions from the truth file)",
        "viral series: 1   non-viral series: 1   input series not in the truth file: 0",
        "viral flagged before half-peak [h-30, h)",
        "non-viral series ever flagged",
    ] {
        assert!(report.contains(expected), "{expected:?} missing:\n{report}");
    }
    assert!(!report.contains("yardstick's rule"), "{report}");

    std::fs::write(
        dir.path().join("bad.csv"),
        "series,viral,half_peak,peak\nshop:other,false,,\n",
    )
    .unwrap();
    let out = marketscout(
        dir.path(),
        &[
            "backtest",
            "--input",
            "series.csv",
            "--output",
            "f.csv",
            "--truth",
            "bad.csv",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("line 2"), "{}", text(&out));
}
