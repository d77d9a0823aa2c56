//! Files: the exports users already have (Apify TikTok and Instagram
//! datasets, the Kaggle YouTube trending CSVs, MarketScout's own
//! observations), read completely with their quirks, streamed in pages that
//! resume where the last one stopped, and stamped with the export's own time
//! so a second read is all duplicates.
//!
//! Small real excerpts live under `tests/fixtures/files/`; the tests over the
//! whole real files read `../shared/data/` next to the repository and skip
//! with a note when it is not there (a user's clone has none).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use marketscout::connectors::SourceKind;
use marketscout::connectors::files::{
    self, Content, ExportFormat, Layout, Position, Record, detect_format, read_export, read_from,
    scan_page,
};
use marketscout::engine::observation::Observation;

use crate::common::*;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/files")
        .join(sub)
}

const TIKTOK: &str = "tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl";
const INSTAGRAM: &str = "instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl";
/// 2025-09-21T13:33:25.969Z and 2025-09-21T13:10:57.668Z, from the file names.
const TIKTOK_EXPORTED: i64 = 1_758_461_605_969;
const INSTAGRAM_EXPORTED: i64 = 1_758_460_257_668;

fn ms(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp_millis()
}

/// Everything in a file: its format, observations and skipped (line, reason).
struct Read {
    format: ExportFormat,
    observations: Vec<Observation>,
    skipped: Vec<(u64, String)>,
}

impl Read {
    fn rows(&self) -> usize {
        self.observations.len() + self.skipped.len()
    }

    /// Observations of a content at a time already seen (what storage counts
    /// as duplicates).
    fn duplicates(&self) -> usize {
        let mut seen = HashSet::new();
        self.observations
            .iter()
            .filter(|o| !seen.insert((o.platform, o.platform_id.clone(), o.observed_at)))
            .count()
    }

    fn by_id(&self, id: &str) -> Vec<&Observation> {
        self.observations
            .iter()
            .filter(|o| o.platform_id == id)
            .collect()
    }
}

fn read(path: &Path) -> Read {
    let format = detect_format(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Read {
        format: format.clone(),
        observations: Vec::new(),
        skipped: Vec::new(),
    };
    read_export(path, &format, NOW_MS, |r| {
        match r {
            Record::Observation(o) => out.observations.push(o),
            Record::Skipped { line, reason } => out.skipped.push((line, reason)),
        }
        true
    })
    .unwrap();
    out
}

/// A file of the real exports next to the repository, or `None` (with a note)
/// in a clone without them.
pub(crate) fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("shared/data")
        .join(relative);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: the real export {relative} is not next to the repository (../shared/data)"
        );
        None
    }
}

fn tags(o: &Observation) -> Vec<&str> {
    o.hashtags.iter().map(String::as_str).collect()
}

// ---- Apify TikTok ----

#[test]
fn a_tiktok_overview_export_takes_ids_from_urls_and_its_time_from_its_name() {
    let r = read(&dir(TIKTOK));
    assert_eq!(r.format.content, Content::ApifyTiktok);
    assert_eq!(r.format.layout, Layout::JsonLines);
    assert_eq!(r.format.exported_at_ms, Some(TIKTOK_EXPORTED));
    assert_eq!((r.rows(), r.observations.len()), (4, 4));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.duplicates(), 1, "the last line repeats the first");
    let o = &r.observations[0];
    assert_eq!(o.platform, "tiktok");
    assert_eq!(o.kind, "video");
    assert_eq!(o.platform_id, "7387791587394325766");
    assert_eq!(o.author.as_deref(), Some("beambackk"));
    assert_eq!(
        o.url.as_deref(),
        Some("https://www.tiktok.com/@beambackk/video/7387791587394325766")
    );
    // Rounded as TikTok displays them, kept as exported.
    assert_eq!(o.views, Some(30_600_000));
    assert_eq!(o.likes, Some(3_100_000));
    assert_eq!(o.comments, Some(10_400));
    assert_eq!(o.shares, Some(12_800));
    assert_eq!(o.published_at, Some(ms("2024-07-04T14:44:36Z")));
    assert_eq!(o.observed_at, TIKTOK_EXPORTED);
    assert_eq!(o.country, None, "overview exports do not say where");
    assert!(
        tags(o).starts_with(&["fyp", "kesfet", "foryou"]),
        "{:?}",
        o.hashtags
    );
    assert!(tags(o).contains(&"realy2k"), "{:?}", o.hashtags);
    assert_eq!(r.observations[3], r.observations[0]);
    let chiprooma = &r.observations[1];
    assert_eq!(chiprooma.platform_id, "7467964742515166496");
    assert_eq!(
        (chiprooma.views, chiprooma.comments, chiprooma.shares),
        (Some(308_200), Some(136), Some(369)),
        "small counts are exact"
    );
}

#[test]
fn full_tiktok_items_in_a_json_array_read_nested_fields_ads_and_display_counts() {
    // No time in the name: the file's modification time, set here as a
    // checkout leaves it wherever.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiktok_full_items.json");
    std::fs::copy(dir("tiktok/tiktok_full_items.json"), &path).unwrap();
    let modified = ms("2025-09-22T08:00:00Z");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_millis(modified as u64))
        .unwrap();
    let r = read(&path);
    assert_eq!(r.format.content, Content::ApifyTiktok);
    assert_eq!(r.format.layout, Layout::JsonArray);
    assert_eq!(r.format.exported_at_ms, Some(modified));
    assert_eq!((r.rows(), r.observations.len()), (3, 2));
    let first = &r.observations[0];
    assert_eq!(first.platform_id, "7301234567890123456");
    assert_eq!(first.author.as_deref(), Some("gadgetgarage"));
    assert_eq!(first.country.as_deref(), Some("US"));
    assert_eq!(first.language.as_deref(), Some("en"));
    assert_eq!(tags(first), ["tiktokmademebuyit", "cargadgets"]);
    assert_eq!(first.published_at, Some(1_732_019_400_000));
    assert_eq!(first.observed_at, modified);
    assert_eq!(
        (first.views, first.likes, first.comments, first.shares),
        (Some(2_400_000), Some(210_000), Some(3_120), Some(15_800))
    );
    let ad = &r.observations[1];
    assert_eq!(ad.kind, "ad");
    assert_eq!(
        ad.views,
        Some(1_200_000),
        "\"1.2M\" is read as the number it rounds"
    );
    assert_eq!(
        ad.country.as_deref(),
        Some("GB"),
        "the account's region as a fallback"
    );
    assert_eq!(ad.language, None, "\"un\" is unknown");
    assert_eq!(r.skipped.len(), 1);
    let (line, reason) = &r.skipped[0];
    assert_eq!(*line, 27, "the line where the item starts");
    assert!(reason.contains("no video id"), "{reason}");
}

// ---- Apify Instagram ----

#[test]
fn an_instagram_export_keeps_hidden_likes_unknown_and_real_zeros() {
    let r = read(&dir(INSTAGRAM));
    assert_eq!(r.format.content, Content::ApifyInstagram);
    assert_eq!(r.format.exported_at_ms, Some(INSTAGRAM_EXPORTED));
    assert_eq!((r.rows(), r.observations.len()), (5, 5));
    assert_eq!(r.duplicates(), 1, "line 5 repeats line 4");
    let hidden = r.by_id("DOyn74BAYZz");
    let o = hidden[0];
    assert_eq!(o.platform, "instagram");
    assert_eq!(o.kind, "post");
    assert_eq!(o.likes, None, "-1 means hidden: no value, never -1 or 0");
    assert_eq!(o.comments, Some(0), "a real zero stays");
    assert_eq!(o.author.as_deref(), Some("ns.rice"));
    assert_eq!(
        o.url.as_deref(),
        Some("https://www.instagram.com/p/DOyn74BAYZz/")
    );
    assert_eq!(o.published_at, Some(ms("2025-09-19T16:45:12Z")));
    assert_eq!(o.observed_at, INSTAGRAM_EXPORTED);
    assert!(
        tags(o).starts_with(&["nsrice", "over60yearsoftrust"]),
        "{:?}",
        o.hashtags
    );
    // "ponnirice🍚": the emoji is not part of the tag.
    assert!(
        r.observations
            .iter()
            .any(|o| tags(o).contains(&"ponnirice")),
        "{:?}",
        r.observations
            .iter()
            .map(|o| &o.hashtags)
            .collect::<Vec<_>>()
    );
    assert_eq!(r.by_id("DO3Y6fhEk68").len(), 2);
}

// ---- Kaggle YouTube trending ----

#[test]
fn a_youtube_trending_csv_reads_its_dates_tags_and_disabled_counts() {
    let r = read(&dir("youtube/USvideos.csv"));
    assert_eq!(r.format.content, Content::YoutubeTrending);
    assert_eq!(r.format.layout, Layout::Csv);
    assert_eq!(r.format.country.as_deref(), Some("US"));
    assert_eq!((r.rows(), r.observations.len()), (10, 10));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.duplicates(), 0);
    let o = r.by_id("2kyS6SvSYSE")[0];
    assert_eq!((o.platform, o.kind), ("youtube", "video"));
    assert_eq!(o.country.as_deref(), Some("US"));
    assert_eq!(
        o.observed_at,
        ms("2017-11-14T00:00:00Z"),
        "17.14.11 is yy.dd.mm"
    );
    assert_eq!(o.published_at, Some(ms("2017-11-13T17:13:01Z")));
    assert_eq!(
        (o.views, o.likes, o.comments, o.shares),
        (Some(748_374), Some(57_527), Some(15_954), None)
    );
    assert_eq!(o.author.as_deref(), Some("CaseyNeistat"));
    assert_eq!(
        o.url.as_deref(),
        Some("https://www.youtube.com/watch?v=2kyS6SvSYSE")
    );
    let text = o.text.as_deref().unwrap();
    assert!(
        text.starts_with("WE WANT TO TALK ABOUT OUR MARRIAGE\nSHANTELL'S CHANNEL"),
        "{text}"
    );
    assert!(!text.contains("\\n"), "literal \\n become newlines");
    assert_eq!(tags(o), ["shantellmartin"]);
    let superman = r.by_id("5qpjK5DgCt4")[0];
    assert_eq!(
        &tags(superman)[..5],
        ["racistsuperman", "rudy", "mancuso", "king", "bach"],
        "every quoted tag, quotes and spaces gone"
    );
    let comments_off = r.by_id("CBVGjS_EJok")[0];
    assert_eq!(
        comments_off.comments, None,
        "comments disabled: unknown, not 0"
    );
    assert_eq!(
        (comments_off.views, comments_off.likes),
        (Some(26_000), Some(119))
    );
    assert!(
        r.by_id("NZFhMSgbKKM")[0].hashtags.is_empty(),
        "[none] is no tag"
    );
    let snapshots = r.by_id("TyHvyGVs42U");
    assert_eq!(snapshots.len(), 2, "one snapshot per trending day");
    assert!(snapshots[0].observed_at < snapshots[1].observed_at);
    assert!(snapshots[0].views < snapshots[1].views);
    assert!(r.by_id("-").is_empty());
    assert!(
        r.observations
            .iter()
            .any(|o| o.platform_id.starts_with('-'))
    );
}

#[test]
fn youtube_rows_with_ratings_off_or_removed_videos_are_kept_without_fake_zeros() {
    let r = read(&dir("youtube/USvideos.csv"));
    let ratings_off: Vec<_> = r
        .observations
        .iter()
        .filter(|o| o.likes.is_none())
        .collect();
    assert_eq!(ratings_off.len(), 1, "{ratings_off:?}");
    assert_eq!(ratings_off[0].platform_id, "Kn5UgGQukYQ");
    assert_eq!(
        (ratings_off[0].views, ratings_off[0].comments),
        (Some(15_058), None)
    );
    assert_eq!(
        r.observations
            .iter()
            .filter(|o| o.comments.is_none())
            .count(),
        2
    );
    let removed = r.by_id("RK_B4Ez4_5Q")[0];
    assert_eq!(
        removed.views,
        Some(2_618_344),
        "a removed video's last counts stay"
    );
}

// ---- MarketScout's own observations ----

#[test]
fn observation_ndjson_names_each_bad_line_and_keeps_the_rest() {
    let r = read(&dir("observations/observations.ndjson"));
    assert_eq!(r.format.content, Content::Observations);
    assert_eq!(r.format.layout, Layout::JsonLines);
    assert_eq!(r.observations.len(), 2);
    assert_eq!(r.observations[0].platform_id, "7301234567890123456");
    assert_eq!(r.observations[0].observed_at, ms("2025-11-19T08:00:00Z"));
    assert_eq!(r.observations[1].platform_id, "t3_1abcde");
    let lines: Vec<u64> = r.skipped.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3]);
    assert!(r.skipped[0].1.contains("not JSON"), "{:?}", r.skipped);
    assert!(
        r.skipped[1].1.contains("platform_id is required"),
        "{:?}",
        r.skipped
    );
}

#[test]
fn observation_csv_reads_as_marketscout_import_does() {
    let r = read(&dir("observations/observations.csv"));
    assert_eq!(r.format.content, Content::Observations);
    assert_eq!(r.format.layout, Layout::Csv);
    assert_eq!(r.observations.len(), 2);
    assert_eq!(r.observations[0].views, Some(120_000));
    assert_eq!(tags(&r.observations[0]), ["phonemount", "carmount"]);
    assert_eq!(r.observations[1].likes, Some(903));
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].0, 3);
    assert!(r.skipped[0].1.contains("views"), "{:?}", r.skipped);
}

// ---- Detection and broken files ----

#[test]
fn the_format_comes_from_the_content_not_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    let misnamed_tiktok = tmp.path().join("export.csv");
    std::fs::copy(dir(TIKTOK), &misnamed_tiktok).unwrap();
    let f = detect_format(&misnamed_tiktok).unwrap();
    assert_eq!(
        (f.content, f.layout),
        (Content::ApifyTiktok, Layout::JsonLines)
    );
    let misnamed_kaggle = tmp.path().join("trending.json");
    std::fs::copy(dir("youtube/USvideos.csv"), &misnamed_kaggle).unwrap();
    let f = detect_format(&misnamed_kaggle).unwrap();
    assert_eq!(
        (f.content, f.layout),
        (Content::YoutubeTrending, Layout::Csv)
    );
    assert_eq!(f.country, None, "no country in this name");
    let r = read(&misnamed_kaggle);
    assert_eq!(r.observations.len(), 10);
    assert!(r.observations.iter().all(|o| o.country.is_none()));
}

#[test]
fn broken_lines_are_skipped_with_their_line_numbers_and_the_rest_kept() {
    let r = read(&dir(
        "broken/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
    ));
    assert_eq!(r.observations.len(), 1);
    assert_eq!(r.observations[0].platform_id, "7552237273119558942");
    let lines: Vec<u64> = r.skipped.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert!(r.skipped[0].1.contains("not JSON"), "{:?}", r.skipped);
    assert!(r.skipped[1].1.contains("published_at"), "{:?}", r.skipped);
    assert!(r.skipped[2].1.contains("no video id"), "{:?}", r.skipped);
}

#[test]
fn broken_youtube_rows_are_skipped_with_their_line_numbers() {
    let r = read(&dir("broken/GBvideos.csv"));
    assert_eq!(r.format.country.as_deref(), Some("GB"));
    assert_eq!(r.observations.len(), 1);
    assert_eq!(r.observations[0].country.as_deref(), Some("GB"));
    let lines: Vec<u64> = r.skipped.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 4]);
    assert!(r.skipped[0].1.contains("3 fields"), "{:?}", r.skipped);
    assert!(r.skipped[1].1.contains("yy.dd.mm"), "{:?}", r.skipped);
}

#[test]
fn files_that_are_no_export_say_why() {
    let old = detect_format(&dir("broken/old_layout.csv")).unwrap_err();
    assert_eq!(old.kind(), std::io::ErrorKind::InvalidData);
    assert!(old.to_string().contains("2017"), "{old}");
    let other = detect_format(&dir("broken/US_category_id.json")).unwrap_err();
    assert_eq!(other.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn a_file_that_is_no_export_is_described_never_quoted() {
    // A source pointed at the wrong file must not show its content to every
    // user who reads the scan's errors.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("shadow");
    std::fs::write(
        &path,
        "root:$6$salt$hash:20228:0:99999:7:::,second\nbob:x\n",
    )
    .unwrap();
    let err = detect_format(&path).unwrap_err().to_string();
    assert!(err.contains("not an export"), "{err}");
    assert!(err.contains("2 fields"), "{err}");
    for leaked in ["root", "$6$", "20228", "second"] {
        assert!(!err.contains(leaked), "{err}");
    }
}

// ---- Streaming and resuming ----

/// Reads a file `size` records at a time, each page resuming at the last one's position.
fn in_pieces(path: &Path, size: usize) -> (Vec<Record>, usize) {
    let format = detect_format(path).unwrap();
    let (mut all, mut pages, mut at) = (Vec::new(), 0, Position::default());
    loop {
        pages += 1;
        let next = read_from(path, &format, NOW_MS, at, size, |r| {
            all.push(r);
            true
        })
        .unwrap();
        match next {
            Some(p) => at = p,
            None => return (all, pages),
        }
        assert!(pages < 100, "no progress");
    }
}

fn whole(path: &Path) -> Vec<Record> {
    let format = detect_format(path).unwrap();
    let mut all = Vec::new();
    read_export(path, &format, NOW_MS, |r| {
        all.push(r);
        true
    })
    .unwrap();
    all
}

#[test]
fn every_layout_resumes_exactly_where_the_previous_page_stopped() {
    for file in [
        TIKTOK,
        INSTAGRAM,
        "tiktok/tiktok_full_items.json",
        "youtube/USvideos.csv",
        "observations/observations.ndjson",
        "observations/observations.csv",
        "broken/GBvideos.csv",
    ] {
        let path = dir(file);
        let expected = whole(&path);
        let (pieces, pages) = in_pieces(&path, 2);
        assert_eq!(pieces, expected, "{file}");
        assert!(pages >= expected.len() / 2, "{file}: {pages} pages");
    }
}

/// The clock, for scans over fixtures whose time is their checkout's.
fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn fixture_query() -> Vec<String> {
    ["tiktok", "instagram", "youtube", "observations"]
        .iter()
        .map(|d| dir(d).display().to_string())
        .collect()
}

#[test]
fn a_scan_pages_through_every_file_of_its_folders_and_resumes_from_its_cursor() {
    let query = fixture_query();
    let now = real_now();
    let all = scan_page(&query, now, None, usize::MAX).unwrap();
    assert_eq!(all.next, None);
    // 4 + 2 TikTok, 5 Instagram, 10 YouTube, 2 + 2 observations.
    assert_eq!(all.observations.len(), 25);
    assert_eq!(all.skipped.len(), 1 + 2 + 1);
    assert!(
        all.skipped
            .iter()
            .any(|s| s.contains("observations.ndjson:2: not JSON")),
        "{:?}",
        all.skipped
    );
    let (mut observations, mut skipped, mut cursor, mut pages) =
        (Vec::new(), Vec::new(), None::<String>, 0);
    loop {
        let page = scan_page(&query, now, cursor.as_deref(), 4).unwrap();
        pages += 1;
        assert!(page.observations.len() + page.skipped.len() <= 4);
        observations.extend(page.observations);
        skipped.extend(page.skipped);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 8, "29 records, 4 a page");
    assert_eq!(observations, all.observations);
    assert_eq!(skipped, all.skipped);
}

#[tokio::test]
async fn scanning_the_same_folders_again_gives_the_same_observations() {
    let query = fixture_query();
    let refs: Vec<&str> = query.iter().map(String::as_str).collect();
    let source = source(SourceKind::File, "", &refs, &[]);
    let c = files::build(&source, &secrets(&[]), &fast_policy()).unwrap();
    let mut first_scan = request(&refs, &[]);
    first_scan.now_ms = real_now();
    first_scan.until_ms = first_scan.now_ms;
    let first = all_pages(c.as_ref(), &first_scan, 10).await.unwrap();
    let mut later = first_scan.clone();
    later.now_ms += 7 * 86_400_000;
    later.until_ms = later.now_ms;
    let second = all_pages(c.as_ref(), &later, 10).await.unwrap();
    let observations = |pages: &[marketscout::connectors::Page]| -> Vec<Observation> {
        pages.iter().flat_map(|p| p.observations.clone()).collect()
    };
    assert_eq!(observations(&first).len(), 25);
    // Same contents at the same times: storage counts them as duplicates.
    assert_eq!(observations(&first), observations(&second));
}

#[tokio::test]
async fn a_missing_folder_is_a_configuration_error_naming_it() {
    let missing = dir("no-such-folder").display().to_string();
    let c = files::build(
        &source(SourceKind::File, "", &[&missing], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap();
    let err = c.fetch(&request(&[&missing], &[]), None).await.unwrap_err();
    assert_eq!(err.code(), "misconfigured");
    assert!(err.to_string().contains(&missing), "{err}");
}

#[tokio::test]
async fn an_empty_folder_is_an_empty_last_page() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("README.md"), "not an export").unwrap();
    let folder = tmp.path().display().to_string();
    let c = files::build(
        &source(SourceKind::File, "", &[&folder], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap();
    let page = c.fetch(&request(&[&folder], &[]), None).await.unwrap();
    assert!(page.observations.is_empty() && page.skipped.is_empty());
    assert_eq!(page.next, None);
    // An empty export file reads as nothing, not as an error.
    std::fs::write(tmp.path().join("empty.jsonl"), "").unwrap();
    let page = c.fetch(&request(&[&folder], &[]), None).await.unwrap();
    assert!(page.observations.is_empty() && page.skipped.is_empty());
}

#[tokio::test]
async fn a_file_that_is_no_export_is_one_skipped_line_and_the_folder_goes_on() {
    let folder = dir("broken").display().to_string();
    let c = files::build(
        &source(SourceKind::File, "", &[&folder], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap();
    let page = c.fetch(&request(&[&folder], &[]), None).await.unwrap();
    assert_eq!(page.observations.len(), 2);
    assert!(
        page.skipped.iter().any(|s| s.contains("old_layout.csv")),
        "{:?}",
        page.skipped
    );
    assert!(
        page.skipped
            .iter()
            .any(|s| s.contains("US_category_id.json")),
        "{:?}",
        page.skipped
    );
    assert!(c.not_covered().iter().any(|n| n.contains("hide")));
}

#[tokio::test]
async fn a_cursor_from_elsewhere_is_refused() {
    let folder = dir("tiktok").display().to_string();
    let c = files::build(
        &source(SourceKind::File, "", &[&folder], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap();
    let err = c
        .fetch(&request(&[&folder], &[]), Some("page-2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "misconfigured");
}

// ---- The whole real exports (../shared/data), when present ----

#[test]
fn the_real_tiktok_export_imports_completely() {
    let Some(path) = shared("apify-tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl")
    else {
        return;
    };
    let r = read(&path);
    assert_eq!(
        (r.rows(), r.observations.len(), r.skipped.len()),
        (16, 16, 0)
    );
    assert_eq!(r.duplicates(), 1);
    let o = r.by_id("7552237273119558942")[0];
    assert_eq!(o.author.as_deref(), Some("zwallsss"));
    assert_eq!(
        (o.views, o.likes, o.comments, o.shares),
        (Some(2_812), Some(438), Some(9), Some(6))
    );
    assert_eq!(o.published_at, Some(ms("2025-09-20T18:18:03Z")));
    assert_eq!(o.observed_at, TIKTOK_EXPORTED);
    assert_eq!(
        tags(o),
        ["fyp", "newpickups", "fashion", "streetwear", "haul"]
    );
}

#[test]
fn the_real_instagram_export_imports_completely() {
    let Some(path) =
        shared("apify-instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl")
    else {
        return;
    };
    let r = read(&path);
    assert_eq!(
        (r.rows(), r.observations.len(), r.skipped.len()),
        (354, 354, 0)
    );
    assert_eq!(r.duplicates(), 6);
    assert_eq!(
        r.observations.iter().filter(|o| o.likes.is_none()).count(),
        46
    );
    assert!(
        r.observations
            .iter()
            .all(|o| o.observed_at == INSTAGRAM_EXPORTED)
    );
    let o = r.by_id("DO2T70WEbC0")[0];
    assert_eq!(o.author.as_deref(), Some("millieebandz"));
    assert_eq!((o.likes, o.comments), (Some(352), Some(113)));
    assert_eq!(o.published_at, Some(ms("2025-09-21T03:07:24Z")));
    assert!(tags(o).contains(&"edhardy"), "{:?}", o.hashtags);
}

#[test]
fn the_real_youtube_trending_file_imports_completely() {
    let Some(path) = shared("youtube-trending/USvideos.csv") else {
        return;
    };
    let started = std::time::Instant::now();
    let r = read(&path);
    eprintln!(
        "read {} rows of USvideos.csv in {:.1} ms",
        r.rows(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        (r.rows(), r.observations.len(), r.skipped.len()),
        (3000, 3000, 0)
    );
    assert_eq!(r.duplicates(), 0);
    let distinct: HashSet<&str> = r
        .observations
        .iter()
        .map(|o| o.platform_id.as_str())
        .collect();
    assert_eq!(distinct.len(), 791);
    assert!(
        r.observations
            .iter()
            .all(|o| o.country.as_deref() == Some("US"))
    );
    assert_eq!(
        r.observations
            .iter()
            .filter(|o| o.comments.is_none())
            .count(),
        49
    );
    assert_eq!(
        r.observations.iter().filter(|o| o.likes.is_none()).count(),
        15
    );
    let snapshots = r.by_id("TyHvyGVs42U");
    assert_eq!(snapshots.len(), 10);
    let views: Vec<i64> = snapshots.iter().map(|o| o.views.unwrap()).collect();
    assert_eq!(views[0], 499_946);
    assert_eq!(views[5], 56_843_038);
    assert_eq!(views[9], 102_012_605);
    assert!(views.windows(2).all(|w| w[0] < w[1]), "{views:?}");
    assert_eq!(
        r.observations.last().unwrap().observed_at,
        ms("2017-11-28T00:00:00Z")
    );
}

#[tokio::test]
async fn the_real_folders_scan_in_pages_of_a_thousand() {
    let Some(path) = shared("youtube-trending/USvideos.csv") else {
        return;
    };
    let folder = path.parent().unwrap().display().to_string();
    let c = files::build(
        &source(SourceKind::File, "", &[&folder], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap();
    let pages = all_pages(c.as_ref(), &request(&[&folder], &[]), 10)
        .await
        .unwrap();
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p.observations.len() + p.skipped.len())
        .collect();
    // The category file (no export, sorted first), then 3,000 rows.
    assert_eq!(sizes, [1000, 1000, 1000, 1]);
    assert!(pages[0].skipped[0].contains("US_category_id.json"));
}
