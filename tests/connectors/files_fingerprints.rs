//! Files, exactly: a fingerprint of everything read from each export (the
//! format found, every record with all its fields, every skipped line with its
//! number and reason, and the positions where paged reads stop and resume),
//! compared with the fingerprints the reader gave before it was made faster.
//! A change to how files are read may change its speed, never its output.
//!
//! The cases: every fixture under `tests/fixtures/files/`, the real exports
//! under `../shared/data/` when they are next to the repository (skipped with
//! a note otherwise), the JSON Lines ones again as JSON arrays (one item per
//! line, and pretty-printed as Apify's console exports them), and small files
//! written here for the corners of both JSON layouts. Every file is copied to
//! a temporary folder with one modification time, the export time of files
//! whose name carries none.
//!
//! When a fingerprint differs on purpose, the failure prints every case's
//! new one to paste below. To see what differs, set
//! `MARKETSCOUT_FINGERPRINT_DUMP` to a folder: each case's text is written
//! there before hashing, to compare between two versions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use marketscout::connectors::files::{Position, Record, detect_format, read_export, read_from};
use sha2::{Digest, Sha256};

use crate::common::NOW_MS;
use crate::files::shared;

/// The fingerprints of the reader at commit 561c7ba (before the speed work).
const EXPECTED: &[(&str, &str)] = &[
    (
        "fixture tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
        "cf1b9a486ab355b4dc8bc35b3bfe9a1a401ac1e8e66608c2199d1fb6c85cfaee",
    ),
    (
        "fixture tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl as an array",
        "38875f69c0392958631f44c4e6a997f21f8ef006747316386c9c0de5c3f2280f",
    ),
    (
        "fixture tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl as a pretty array",
        "ad6ada5187b1269b50ece37e28f000091c4365049b6f147c853fa0ec77330eed",
    ),
    (
        "fixture tiktok/tiktok_full_items.json",
        "0348f7e919a3e00a361e7eadfe34491577d08704c9890e6e351419041f943382",
    ),
    (
        "fixture instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl",
        "74bf160ea86dca3e32493124748302824d509756b4752a472a370278df2409ea",
    ),
    (
        "fixture instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl as an array",
        "57157986fba9fad52b9ac93650a04ff0f5a406d48eaa4ac1855090ebb00a71cc",
    ),
    (
        "fixture instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl as a pretty array",
        "c3f5830efa6e22e1c2fe2216ebf7757c85e86b012dc88dec952435162be80e05",
    ),
    (
        "fixture youtube/USvideos.csv",
        "45c158a5eaca1f51ac73b6fcf92e8ccb04913c72a883290e908c7c98ae53c320",
    ),
    (
        "fixture observations/observations.ndjson",
        "e054291e5bf06f9064b4dc7f81951b6587f677429a3f18fae3b1c3a3b7551f7b",
    ),
    (
        "fixture observations/observations.csv",
        "49b3efbe360f3397338c65c80f9bb0514ed4666c9f46ebaaef4c1c6f79322465",
    ),
    (
        "fixture broken/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
        "80b2af68b592a24e6d2eaaacfc66f77e84a66851422f46555b1141cdf1534f29",
    ),
    (
        "fixture broken/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl as an array",
        "cc13a934f488a40e98ae908746ba2d48b61f8b3e5820de2df2b95064095553eb",
    ),
    (
        "fixture broken/GBvideos.csv",
        "981d52325fb6bc7c9c61e9c0a33a418205147098d7bd74ab59823086f83f24c9",
    ),
    (
        "fixture broken/old_layout.csv",
        "4c35e40e627805b88e08816e632ac0d8d52f75040fee8b571017a5b9bc038a16",
    ),
    (
        "fixture broken/US_category_id.json",
        "d531785b46966c1480fe94c21246a1748f9369318a00fe2672876dfc06b2f431",
    ),
    (
        "shared apify-instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl",
        "1712bd419e1802d3fe47dff92a97363e3532407d0c7de99e39d0f2f0fa80c71d",
    ),
    (
        "shared apify-instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl as an array",
        "e972595ecefe98e36e46e2795db88432d307f3983243e462dec202833179bd96",
    ),
    (
        "shared apify-instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl as a pretty array",
        "445535219d63f91cbdac1f43294e25af407d7b8d0a88f061514d97f61c5fb404",
    ),
    (
        "shared apify-tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
        "5b824d2788c50268bafd8aa194bd24caf1ee0beb08e30f4c462d18d1d5501f9a",
    ),
    (
        "shared apify-tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl as an array",
        "f5c1aff45e65e146bebad214334acb833633c29b6213430c0e36907d074e2652",
    ),
    (
        "shared apify-tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl as a pretty array",
        "79f284174e65d7fc5cc5d3cf550a5a67addf2590d4d6d669f4b6551b650367c4",
    ),
    (
        "shared youtube-trending/USvideos.csv",
        "ed1b7e402ed84e329b57a7dd0262946c166769dfc4231b4ae7ee5eed703967a6",
    ),
    (
        "edge array-bom-one-line_2025-09-21_13-10-57-668.json",
        "c21470031082c95f3477208f743f97e382d255d5f049d6f6b97a0199f2845010",
    ),
    (
        "edge array-empty_2025-09-21_13-10-57-668.json",
        "e1eb50b871b77e4c89fe1f1dfe0b58ce49ae52d6a34f5c8be6fbb2cf589a8b82",
    ),
    (
        "edge array-blank_2025-09-21_13-10-57-668.json",
        "37c232064f89ada743f24670357d5a802b5e3fbb728e574eb0575ea1ddd622b3",
    ),
    (
        "edge array-crlf-pretty_2025-09-21_13-10-57-668.json",
        "ed94903b8fa4b741228d0a73c0c8e8d6b55cdf2d5764cd06dbd54f8c362a3905",
    ),
    (
        "edge array-not-objects_2025-09-21_13-10-57-668.json",
        "b9c5870e9218313f8f8a4ddf2210050b9357927c914290be137c29cf7dd041de",
    ),
    (
        "edge array-truncated-in-item_2025-09-21_13-10-57-668.json",
        "780d62dfa6c42914b9a70fc359c82d1d72baee78ef510f61a1fac18d00ff7e0a",
    ),
    (
        "edge array-truncated-after-item_2025-09-21_13-10-57-668.json",
        "e675345daf77c42227b85320da69685847999d6fc91dc359a62bc24d48563925",
    ),
    (
        "edge array-broken-item_2025-09-21_13-10-57-668.json",
        "28390fd6c27693500c9a2041aca4a3b1dabd340a01edcce43e2f10fd54ddc30e",
    ),
    (
        "edge array-stray-close_2025-09-21_13-10-57-668.json",
        "e7b33ff6d0c85daae48101d84f551a1d1d4a0888c09e6cd79f8f81c021d264c2",
    ),
    (
        "edge array-of-videos_2025-09-21_13-10-57-668.json",
        "1cd52bf412eca41e6e426f8b7f8092142fb2ace7db1c672eb2b29d0995eaeea8",
    ),
    (
        "edge lines-corners_2025-09-21_13-10-57-668.jsonl",
        "f20c57e4d76c57ed3f88d9f5c7f0ea82c307b533567325047974e1327be0d0af",
    ),
    (
        "edge lines-videos_2025-09-21_13-10-57-668.jsonl",
        "80a836ab69772088d68eb451cd419b303f8d5d6c5e5e8e756c23512b18e8f0e1",
    ),
    (
        "edge lines-invalid-utf8_2025-09-21_13-10-57-668.jsonl",
        "5236308ee934d96c043d4f8a0eed2efdc1d9063f840238c52f3d3359bc6046e8",
    ),
    (
        "edge tiktok-columns_2025-09-21_13-10-57-668.csv",
        "232aa07cfa308a2817bb352b594ff472d02868839fa5867435b2aa8288df693b",
    ),
    (
        "edge array-deep_2025-09-21_13-10-57-668.json",
        "a153ce127f3e824adf79fd980f90ffb73424c0dd71ae7999e96bc455e249ce51",
    ),
];

/// Records per page in the paged reads.
const PAGE: usize = 3;
/// Records before the reader is told to stop, in the stopped reads.
const STOP_AFTER: usize = 2;

/// The modification time of every copy: 2025-09-22T08:00:00Z.
const MODIFIED_MS: u64 = 1_758_528_000_000;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/files")
        .join(relative)
}

const FIXTURES: &[&str] = &[
    "tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
    "tiktok/tiktok_full_items.json",
    "instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl",
    "youtube/USvideos.csv",
    "observations/observations.ndjson",
    "observations/observations.csv",
    "broken/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
    "broken/GBvideos.csv",
    "broken/old_layout.csv",
    "broken/US_category_id.json",
];

const SHARED: &[&str] = &[
    "apify-instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl",
    "apify-tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
    "youtube-trending/USvideos.csv",
];

/// An Instagram post, a TikTok video, as the edge cases below embed them.
const POST: &str = r##"{"shortCode":"P1","url":"https://www.instagram.com/p/P1/","ownerUsername":"a","caption":"x #One #two","likesCount":3,"commentsCount":-1,"timestamp":"2025-09-20T10:00:00.000Z","hashtags":["One","two"]}"##;
const VIDEO: &str = r##"{"authorMeta.name":"b","text":"y #fyp","playCount":"1.2M","createTimeISO":"2025-09-20T18:18:03.000Z","webVideoUrl":"https://www.tiktok.com/@b/video/7552237273119558942"}"##;

/// Files written for the corners of each layout: (name, content). Names carry
/// an export time, as Apify's do.
fn edge_cases() -> Vec<(String, Vec<u8>)> {
    let at = "2025-09-21_13-10-57-668";
    let text =
        |name: &str, body: String| (format!("{name}_{at}.{}", ext(&body)), body.into_bytes());
    let mut cases = vec![
        text(
            "array-bom-one-line",
            format!(
                "\u{feff}[{POST},{{\"shortCode\":\"Q\",\"caption\":\"say \\\"hi\\\" ] [ }} {{ \\\\\",\"hashtags\":[[\"nested\"],{{\"name\":\"x]\"}}]}} , {POST}]"
            ),
        ),
        text("array-empty", "[]".into()),
        text("array-blank", " \n[ \n ]\n\n".into()),
        text(
            "array-crlf-pretty",
            format!("[\r\n  {POST},\r\n\r\n  {POST}\r\n]\r\n").replace(",\"", ",\r\n    \""),
        ),
        text(
            "array-not-objects",
            format!("[{POST}, \"text\", [1, [2]], null, true, {{}}, {POST}]"),
        ),
        text(
            "array-truncated-in-item",
            format!("[\n{POST},\n{{\"shortCode\":\"C\",\"caption\":\"cut"),
        ),
        text(
            "array-truncated-after-item",
            format!("[\n{POST},\n{POST}\n"),
        ),
        text(
            "array-broken-item",
            format!("[\n{POST},\n{{\"shortCode\": x}},\n{POST}]"),
        ),
        text(
            "array-stray-close",
            format!("[{POST}}}, {POST}]"),
        ),
        text(
            "array-of-videos",
            format!("[\n{VIDEO},\n{VIDEO}\n]"),
        ),
        text(
            "lines-corners",
            [
                format!("\u{feff}{POST}\r"),
                String::new(),
                "   ".into(),
                "[1, 2]".into(),
                "\"text\"".into(),
                r##"{"shortCode":"D","shortCode":"E","url":"https://www.instagram.com/reel/E/","unused":1e400}"##.into(),
                format!(r##"{{"shortCode":"F","unused":{}1{}}}"##, "[".repeat(200), "]".repeat(200)),
                format!(r##"{{"shortCode":"G","unused":{}1{}}}"##, "[".repeat(100), "]".repeat(100)),
                r##"{"shortCode":"H","caption":"\u00e9t\u00c9 #\u00c9t\u00e9 #caf\u00e9\ud83c\udf70","likesCount":"2,5K","videoPlayCount":"-1","videoViewCount":7,"isSponsored":"TRUE"}"##.into(),
                r##"{"url":"https://www.instagram.com/tv/I?x=1","type":"Video","likesCount":null,"hashtags":null,"caption":"  "}"##.into(),
                r##"{"error":"no_items","errorDescription":"nothing"}"##.into(),
                r##"{"ownerUsername":"profile only"}"##.into(),
                format!("{POST} trailing"),
                format!("{{\"shortCode\":\"J\",\"caption\":\"{}\"}}", "é#long".repeat(2_000)),
                r##"{"shortCode":"K","timestamp":1758400000,"likesCount":1.5,"commentsCount":[1],"hashtags":"one two"}"##.into(),
                r##"{"shortCode":"L","hashtags":[{"name":"#Named"},{"title":"titled"},3,"plain"],"caption":"#a#b #c"}"##.into(),
                r##"{"shortCode":"M","url":"ftp://x","timestamp":"next year"}"##.into(),
            ]
            .join("\n"),
        ),
        text(
            "lines-videos",
            [
                VIDEO.to_owned(),
                r##"{"authorMeta":{"name":"nested","region":"fr","avatar":"x"},"id":7301234567890123456,"text":"#a","isAd":"true","textLanguage":"un","locationCreated":"ZZ","createTime":1732019400,"diggCount":-1,"shareCount":"12,800","commentCount":"3.3K","playCount":2e3}"##.into(),
                r##"{"authorMeta.name":"dotted","authorMeta/name":"slashed","authorMeta":{"name":"nested"},"authorMeta.region":"de","id":"  42 ","hashtags.0.name":"zero","hashtags.10.name":"ten","hashtags.2.name":"two","hashtags/3/name":"three","hashtags.4":"four","hashtags.5.id":"x"}"##.into(),
                r##"{"authorMeta.name":null,"authorMeta":{"name":"hidden"},"id":"1","text":"#x","hashtags":[]}"##.into(),
                r##"{"authorMeta":{"name":"first"},"authorMeta":"second","id":"2","textLanguage":"pt_BR","createTimeISO":"2025-09-20"}"##.into(),
                r##"{"webVideoUrl":"https://www.tiktok.com/@c/video/notanumber"}"##.into(),
                r##"{"webVideoUrl":"https://www.tiktok.com/@c/video/123/?lang=en","id":1.5,"text":null}"##.into(),
                r##"{"id":"3","text":"caption","createTimeISO":"2099-01-01T00:00:00Z","playCount":true}"##.into(),
            ]
            .join("\n"),
        ),
        (
            format!("lines-invalid-utf8_{at}.jsonl"),
            [
                POST.as_bytes(),
                b"\n{\"shortCode\":\"U\",\"unused\":\"\xff\xfe\"}\n",
                b"{\"shortCode\":\"V\",\"caption\":\"ok\"}\n",
            ]
            .concat(),
        ),
        text(
            "tiktok-columns",
            "authorMeta/name,text,webVideoUrl,hashtags/0/name,hashtags/10/name,hashtags/2/name,playCount\n\
             a,#t,https://www.tiktok.com/@a/video/1,zero,ten,two,30.6K\n\
             b,,https://www.tiktok.com/@b/video/2,,,,\n"
                .into(),
        ),
    ];
    cases.push(text(
        "array-deep",
        format!(
            "[{POST}, {{\"shortCode\":\"Z\",\"unused\":{}1{}}}, {POST}]",
            "[".repeat(200),
            "]".repeat(200)
        ),
    ));
    cases
}

fn ext(body: &str) -> &'static str {
    match body
        .trim_start_matches('\u{feff}')
        .trim_start()
        .as_bytes()
        .first()
    {
        Some(b'[') => "json",
        Some(b'{') => "jsonl",
        _ => "csv",
    }
}

/// A JSON Lines file as a JSON array: one item per line, or pretty-printed.
fn as_array(lines: &str, pretty: bool) -> String {
    let items: Vec<String> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            if pretty {
                let value: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if pretty {
        format!("[{}]\n", items.join(",\n"))
    } else {
        format!("[\n{}\n]\n", items.join(",\n"))
    }
}

/// Every case: its name and the copy in `folder`.
fn cases(folder: &Path) -> Vec<(String, PathBuf)> {
    let mut cases = Vec::new();
    let mut add = |name: String, file_name: &str, content: &[u8]| {
        let sub = folder.join(cases.len().to_string());
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join(file_name);
        std::fs::write(&path, content).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_millis(MODIFIED_MS))
            .unwrap();
        cases.push((name, path));
    };
    let sources = FIXTURES
        .iter()
        .map(|f| (format!("fixture {f}"), Some(fixture(f))))
        .chain(SHARED.iter().map(|f| (format!("shared {f}"), shared(f))));
    for (name, source) in sources {
        let Some(source) = source else { continue };
        let content = std::fs::read(&source).unwrap();
        let file_name = source.file_name().unwrap().to_str().unwrap().to_owned();
        add(name.clone(), &file_name, &content);
        let text = String::from_utf8_lossy(&content);
        // The broken line list is not JSON: as an array it stops at the broken item.
        if let Some(stem) = file_name.strip_suffix(".jsonl") {
            let json = format!("{stem}.json");
            add(
                format!("{name} as an array"),
                &json,
                as_array(&text, false).as_bytes(),
            );
            if !name.contains("broken") {
                let pretty = as_array(&text, true);
                add(
                    format!("{name} as a pretty array"),
                    &json,
                    pretty.as_bytes(),
                );
            }
        }
    }
    for (file_name, content) in edge_cases() {
        add(format!("edge {file_name}"), &file_name, &content);
    }
    cases
}

/// Everything read from a file, written out (to be hashed): the format, a whole
/// read, a read in pages of [`PAGE`] with where each page stopped, and a read
/// told to stop every [`STOP_AFTER`] records with where it stopped.
fn fingerprint(path: &Path) -> String {
    let mut out = String::new();
    let format = match detect_format(path) {
        Ok(f) => f,
        Err(e) => {
            writeln!(out, "not read: {:?} {e}", e.kind()).unwrap();
            return out;
        }
    };
    writeln!(out, "{format:?}").unwrap();
    read_export(path, &format, NOW_MS, |r| {
        describe(&mut out, &r);
        true
    })
    .unwrap();
    for (limit, stop_after) in [(PAGE, usize::MAX), (usize::MAX, STOP_AFTER)] {
        let mut at = Position::default();
        for page in 0.. {
            assert!(page < 100_000, "no progress in {}", path.display());
            let mut taken = 0;
            let next = read_from(path, &format, NOW_MS, at, limit, |r| {
                describe(&mut out, &r);
                taken += 1;
                taken < stop_after
            })
            .unwrap();
            writeln!(out, "stopped at {next:?}").unwrap();
            match next {
                Some(p) => at = p,
                None => break,
            }
        }
    }
    out
}

fn describe(out: &mut String, record: &Record) {
    writeln!(out, "{record:?}").unwrap();
}

fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn every_export_reads_exactly_as_before() {
    let folder = tempfile::tempdir().unwrap();
    let dump = std::env::var_os("MARKETSCOUT_FINGERPRINT_DUMP").map(PathBuf::from);
    let mut actual = Vec::new();
    for (i, (name, path)) in cases(folder.path()).into_iter().enumerate() {
        let text = fingerprint(&path);
        if let Some(dump) = &dump {
            std::fs::write(dump.join(format!("{i:02}.txt")), format!("{name}\n{text}")).unwrap();
        }
        actual.push((name, hash(&text)));
    }
    let table: String = actual
        .iter()
        .map(|(name, print)| format!("    ({name:?}, {print:?}),\n"))
        .collect();
    let mut differ = Vec::new();
    for (name, print) in &actual {
        match EXPECTED.iter().find(|(n, _)| n == name) {
            Some((_, expected)) if expected == print => {}
            Some(_) => differ.push(format!("{name}: a different output")),
            None => differ.push(format!("{name}: no fingerprint recorded")),
        }
    }
    assert!(
        differ.is_empty(),
        "{}\n\nthe fingerprints now:\n{table}",
        differ.join("\n")
    );
}
