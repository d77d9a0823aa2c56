//! Benchmarks of the HTTP platform connectors: what our code costs to turn a
//! page of 100 items into observations. Run with
//! `cargo bench --bench connectors -- --warm-up-time 1 --measurement-time 5`
//! (add a filter to run one connector, e.g. `-- meta_ads`).
//!
//! Each connector (YouTube, X, Reddit, the Meta Ad Library, TikTok's video
//! query and ad library) reads 100 items from a local `wiremock` server in its
//! platform's exact format: the first page of its fixture under
//! `tests/fixtures/<source>/`, its items repeated with fresh ids (so nothing
//! looks like a duplicate). Two benchmarks per connector, in the group
//! `connectors/page_100_items`, throughput in items:
//!
//! - `fetch/<connector>`: `Connector::fetch` end to end, local HTTP included;
//! - `http_and_json_only/<connector>`: the same responses from the same server
//!   with a plain `reqwest` GET each, parsed into `serde_json::Value` only.
//!
//! Their difference is what mapping and validating the items costs (with
//! building each request, a few microseconds). YouTube and TikTok's ad library
//! send at most 50 items a page, so for them 100 items are two fetches
//! (YouTube: two searches and two `videos.list` calls), and the reference
//! reads the same four or two responses. Before measuring,
//! each connector's 100 items are checked to come back as observations, none
//! skipped, so no benchmark can time an error path; the counts are printed.
//!
//! TikTok's client token is fetched by that check and then cached, as in a
//! scan: the benchmarks time the pages, not the token.

use std::collections::HashSet;
use std::hint::black_box;
use std::ops::Range;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketscout::connectors::http::{HttpPolicy, USER_AGENT};
use marketscout::connectors::{
    self, Connector, Page, ScanRequest, Secrets, SourceConfig, SourceKind,
};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const ITEMS: usize = 100;
/// 2025-11-20T12:00:00Z: the clock of the fixtures, as in the connector tests.
const NOW_MS: i64 = 1_763_640_000_000;

/// One connector ready to fetch its 100 items.
struct Case {
    name: &'static str,
    /// Wiremock keeps every request a mock matched, recording off or not:
    /// dropping the server with its case frees them.
    _server: MockServer,
    connector: Box<dyn Connector>,
    request: ScanRequest,
    /// Fetches that bring the 100 items.
    fetches: usize,
    /// The responses those fetches read, again, for the reference.
    reference_urls: Vec<String>,
    /// What those responses weigh, for the printout.
    body_bytes: usize,
}

fn fixture(source: &str, name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(source)
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An item's id as text, whether the platform sends a string or a number.
fn id_at(item: &Value, pointer: &str) -> String {
    match item.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        other => panic!("no id at {pointer}: {other:?}"),
    }
}

/// Copy number `i` of an id: its last three characters become `i`, so the copy
/// keeps the length and alphabet of the original (digits, base 36, YouTube's
/// base 64) and no two copies share an id.
fn copy_id(id: &str, i: usize) -> String {
    format!("{}{i:03}", &id[..id.len() - 3])
}

/// Items `range` of the page made by repeating `originals`: item `i` is
/// `originals[i % len]` with its id replaced by `copy_id(id, i)` everywhere
/// it occurs (URLs, permalinks and edit histories repeat it). Replacing in
/// the JSON text keeps numeric ids numbers, beyond 2^53 too.
fn repeat(originals: &[Value], id_pointer: &str, range: Range<usize>) -> Vec<Value> {
    range
        .map(|i| {
            let original = &originals[i % originals.len()];
            let id = id_at(original, id_pointer);
            let text = original.to_string().replace(&id, &copy_id(&id, i));
            serde_json::from_str(&text).expect("an id swap keeps JSON valid")
        })
        .collect()
}

fn items<'v>(page: &'v Value, pointer: &str) -> &'v [Value] {
    page.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("the fixture has no {pointer}"))
}

fn answer(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json")
}

/// Starts a server that answers each route with its response, and the same
/// response again at a plain URL of its own for the reference. Routes come in
/// the order a fetch of the 100 items reads them.
async fn serve(routes: Vec<(MockBuilder, ResponseTemplate)>) -> (MockServer, Vec<String>) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let mut urls = Vec::with_capacity(routes.len());
    for (n, (route, response)) in routes.into_iter().enumerate() {
        let reference = format!("/reference/{n}");
        Mock::given(method("GET"))
            .and(path(reference.as_str()))
            .respond_with(response.clone())
            .mount(&server)
            .await;
        route.respond_with(response).mount(&server).await;
        urls.push(format!("{}{reference}", server.uri()));
    }
    (server, urls)
}

fn build(
    kind: SourceKind,
    server: &MockServer,
    request: &ScanRequest,
    secrets: &[(&str, &str)],
) -> Box<dyn Connector> {
    let config = SourceConfig {
        kind,
        name: format!("bench {kind}"),
        query: request.query.clone(),
        countries: request.countries.clone(),
        base_url: Some(server.uri()),
    };
    let secrets = Secrets::new(
        secrets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    connectors::build(&config, &secrets, &HttpPolicy::default())
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// A scan of the day before [`NOW_MS`], the window the fixtures' items are in.
fn request(query: &[&str], countries: &[&str]) -> ScanRequest {
    ScanRequest {
        query: query.iter().map(|s| (*s).to_owned()).collect(),
        countries: countries.iter().map(|s| (*s).to_owned()).collect(),
        since_ms: NOW_MS - 86_400_000,
        until_ms: NOW_MS,
        now_ms: NOW_MS,
    }
}

fn body_bytes(bodies: &[&Value]) -> usize {
    bodies.iter().map(|b| b.to_string().len()).sum()
}

fn youtube(rt: &Runtime) -> Case {
    // search.list sends 50 results a page at most, and the connector asks
    // videos.list for one page's ids: 100 videos are two of each.
    const PAGE: usize = 50;
    let search = fixture("youtube", "search_us_page1.json");
    let videos = fixture("youtube", "videos_us_page1.json");
    let token = search["nextPageToken"].as_str().expect("a next page token");
    let mut routes = Vec::new();
    let mut bytes = 0;
    for page in 0..ITEMS / PAGE {
        let range = page * PAGE..(page + 1) * PAGE;
        let mut found = search.clone();
        found["items"] = repeat(items(&search, "/items"), "/id/videoId", range.clone()).into();
        found["pageInfo"]["resultsPerPage"] = PAGE.into();
        if range.end == ITEMS {
            found
                .as_object_mut()
                .expect("an object")
                .remove("nextPageToken");
        }
        let ids: Vec<String> = items(&found, "/items")
            .iter()
            .map(|r| id_at(r, "/id/videoId"))
            .collect();
        let mut stats = videos.clone();
        stats["items"] = repeat(items(&videos, "/items"), "/id", range).into();
        stats["pageInfo"] = json!({ "totalResults": PAGE, "resultsPerPage": PAGE });
        let searched = Mock::given(method("GET")).and(path("/search"));
        let searched = if page == 0 {
            searched.and(query_param_is_missing("pageToken"))
        } else {
            searched.and(query_param("pageToken", token))
        };
        let listed = Mock::given(method("GET"))
            .and(path("/videos"))
            .and(query_param("id", ids.join(",").as_str()));
        routes.push((searched, answer(&found)));
        routes.push((listed, answer(&stats)));
        bytes += body_bytes(&[&found, &stats]);
    }
    let (server, reference_urls) = rt.block_on(serve(routes));
    let request = request(&["magnetic phone mount", "car gadgets"], &["US"]);
    Case {
        name: "youtube",
        connector: build(
            SourceKind::Youtube,
            &server,
            &request,
            &[("YOUTUBE_API_KEY", "AIzaSyBenchKey")],
        ),
        _server: server,
        request,
        fetches: ITEMS / PAGE,
        reference_urls,
        body_bytes: bytes,
    }
}

fn x(rt: &Runtime) -> Case {
    let mut page = fixture("x", "search_page1.json");
    let posts = items(&page, "/data").to_vec();
    let users = items(&page, "/includes/users").to_vec();
    // A search's posts come from about as many authors: each copy gets its
    // own, listed once in `includes.users` as X does.
    let mut data = repeat(&posts, "/id", 0..ITEMS);
    let mut authors = Vec::with_capacity(ITEMS);
    for (i, post) in data.iter_mut().enumerate() {
        let author = id_at(post, "/author_id");
        let mut user = users
            .iter()
            .find(|u| u["id"] == author.as_str())
            .expect("every author is in includes.users")
            .clone();
        let id = copy_id(&author, i);
        post["author_id"] = id.as_str().into();
        user["id"] = id.into();
        user["username"] = format!("{}{i}", user["username"].as_str().unwrap_or("user")).into();
        authors.push(user);
    }
    page["meta"]["newest_id"] = data[0]["id"].clone();
    page["meta"]["oldest_id"] = data[ITEMS - 1]["id"].clone();
    page["meta"]["result_count"] = ITEMS.into();
    page["data"] = data.into();
    page["includes"]["users"] = authors.into();
    let response = answer(&page)
        .insert_header("x-rate-limit-limit", "450")
        .insert_header("x-rate-limit-remaining", "449")
        .insert_header("x-rate-limit-reset", "1763643600");
    let route = Mock::given(method("GET")).and(path("/tweets/search/recent"));
    let (server, reference_urls) = rt.block_on(serve(vec![(route, response)]));
    let request = request(&["magnetic phone mount", "#tiktokmademebuyit"], &["GB"]);
    Case {
        name: "x",
        connector: build(
            SourceKind::X,
            &server,
            &request,
            &[("X_BEARER_TOKEN", "AAAAAAAAAAAAAAAAAAAAABenchToken")],
        ),
        _server: server,
        request,
        fetches: 1,
        reference_urls,
        body_bytes: body_bytes(&[&page]),
    }
}

fn reddit(rt: &Runtime) -> Case {
    let mut listing = fixture("reddit", "new_page1.json");
    let children = repeat(items(&listing, "/data/children"), "/data/id", 0..ITEMS);
    listing["data"]["after"] = children[ITEMS - 1]["data"]["name"].clone();
    listing["data"]["dist"] = ITEMS.into();
    listing["data"]["children"] = children.into();
    let response = answer(&listing)
        .insert_header("x-ratelimit-used", "3")
        .insert_header("x-ratelimit-remaining", "997.0")
        .insert_header("x-ratelimit-reset", "15");
    // Without credentials: the public `.json` pages, no token to fetch.
    let route = Mock::given(method("GET")).and(path("/r/gadgets/new.json"));
    let (server, reference_urls) = rt.block_on(serve(vec![(route, response)]));
    let request = request(&["r/gadgets"], &[]);
    Case {
        name: "reddit",
        connector: build(SourceKind::Reddit, &server, &request, &[]),
        _server: server,
        request,
        fetches: 1,
        reference_urls,
        body_bytes: body_bytes(&[&listing]),
    }
}

fn meta_ads(rt: &Runtime) -> Case {
    let mut page = fixture("meta_ads", "page1.json");
    page["data"] = repeat(items(&page, "/data"), "/id", 0..ITEMS).into();
    let route = Mock::given(method("GET")).and(path("/ads_archive"));
    let (server, reference_urls) = rt.block_on(serve(vec![(route, answer(&page))]));
    let request = request(&["phone mount"], &["DE"]);
    Case {
        name: "meta_ads",
        connector: build(
            SourceKind::MetaAds,
            &server,
            &request,
            &[("META_ACCESS_TOKEN", "EAAtestSECRETtoken42")],
        ),
        _server: server,
        request,
        fetches: 1,
        reference_urls,
        body_bytes: body_bytes(&[&page]),
    }
}

const TIKTOK_SECRETS: &[(&str, &str)] = &[
    ("TIKTOK_CLIENT_KEY", "awbenchclientkey"),
    ("TIKTOK_CLIENT_SECRET", "bench-tiktok-client-secret"),
];

async fn mount_tiktok_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(answer(&fixture("tiktok", "token.json")))
        .mount(server)
        .await;
}

fn tiktok_research(rt: &Runtime) -> Case {
    let mut page = fixture("tiktok", "videos_page1.json");
    page["data"]["videos"] = repeat(items(&page, "/data/videos"), "/id", 0..ITEMS).into();
    page["data"]["cursor"] = ITEMS.into();
    let route = Mock::given(method("POST")).and(path("/v2/research/video/query/"));
    let (server, reference_urls) = rt.block_on(serve(vec![(route, answer(&page))]));
    rt.block_on(mount_tiktok_token(&server));
    let request = request(&["phone mount"], &["GB"]);
    Case {
        name: "tiktok_research",
        connector: build(
            SourceKind::TiktokResearch,
            &server,
            &request,
            TIKTOK_SECRETS,
        ),
        _server: server,
        request,
        fetches: 1,
        reference_urls,
        body_bytes: body_bytes(&[&page]),
    }
}

fn tiktok_ads(rt: &Runtime) -> Case {
    // The ad query returns 50 ads a page at most: 100 ads are two pages of
    // one search, the second asked for with the first's search id.
    const PAGE: usize = 50;
    let first = fixture("tiktok", "ads_page1.json");
    let search_id = first["data"]["search_id"].clone();
    let mut routes = Vec::new();
    let mut bytes = 0;
    for page in 0..ITEMS / PAGE {
        let range = page * PAGE..(page + 1) * PAGE;
        let mut body = first.clone();
        if range.end == ITEMS {
            body["data"]["has_more"] = false.into();
        }
        body["data"]["ads"] = repeat(items(&first, "/data/ads"), "/ad/id", range).into();
        // The first page is asked for without a search id, the next with
        // the one the first page gave.
        let asked_with = (page > 0).then(|| search_id.clone());
        let route = Mock::given(method("POST"))
            .and(path("/v2/research/adlib/ad/query/"))
            .and(move |r: &Request| {
                let body: Option<Value> = serde_json::from_slice(&r.body).ok();
                body.and_then(|b| b.get("search_id").cloned()) == asked_with
            });
        routes.push((route, answer(&body)));
        bytes += body_bytes(&[&body]);
    }
    let (server, reference_urls) = rt.block_on(serve(routes));
    rt.block_on(mount_tiktok_token(&server));
    let request = request(&["phone mount"], &["DE"]);
    Case {
        name: "tiktok_ads",
        connector: build(SourceKind::TiktokAds, &server, &request, TIKTOK_SECRETS),
        _server: server,
        request,
        fetches: ITEMS / PAGE,
        reference_urls,
        body_bytes: bytes,
    }
}

/// The 100 items through the connector, page after page as a scan reads them.
async fn fetch_items(case: &Case) -> Vec<Page> {
    let mut pages = Vec::with_capacity(case.fetches);
    let mut cursor: Option<String> = None;
    for _ in 0..case.fetches {
        let page = case
            .connector
            .fetch(&case.request, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        cursor = page.next.clone();
        pages.push(page);
    }
    pages
}

/// The same responses without the connector: HTTP and JSON parsing only.
async fn http_and_json(client: &reqwest::Client, urls: &[String]) -> Vec<Value> {
    let mut parsed = Vec::with_capacity(urls.len());
    for url in urls {
        let body = client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the reference route answers")
            .bytes()
            .await
            .expect("a whole body");
        parsed.push(serde_json::from_slice::<Value>(&body).expect("JSON"));
    }
    parsed
}

/// Fails unless every one of the 100 items became an observation (the Meta
/// Ad Library gives one per platform an ad ran on: more than 100).
fn check(case: &Case, pages: &[Page]) {
    let skipped: Vec<&String> = pages.iter().flat_map(|p| &p.skipped).collect();
    assert!(skipped.is_empty(), "{}: skipped {skipped:?}", case.name);
    let observations = pages.iter().map(|p| p.observations.len()).sum::<usize>();
    // Meta's Instagram copy of an ad has the id `<library id>:instagram`.
    let items: HashSet<&str> = pages
        .iter()
        .flat_map(|p| &p.observations)
        .map(|o| o.platform_id.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(items.len(), ITEMS, "{}: items observed", case.name);
    eprintln!(
        "{}: {} items -> {observations} observations, none skipped \
         ({} fetch(es), {} response(s), {} bytes)",
        case.name,
        items.len(),
        case.fetches,
        case.reference_urls.len(),
        case.body_bytes,
    );
}

fn page_100_items(c: &mut Criterion) {
    // One thread drives the client; wiremock serves from a thread of its own.
    // On a small machine this keeps the two from competing with more threads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let policy = HttpPolicy::default();
    // Built as `connectors::http::Http` builds the connectors' client.
    let client = reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout)
        .user_agent(USER_AGENT)
        .build()
        .expect("a reqwest client");
    let cases: [fn(&Runtime) -> Case; 6] =
        [youtube, x, reddit, meta_ads, tiktok_research, tiktok_ads];
    let mut group = c.benchmark_group("connectors/page_100_items");
    group.throughput(Throughput::Elements(ITEMS as u64));
    for make in cases {
        let case = make(&rt);
        check(&case, &rt.block_on(fetch_items(&case)));
        group.bench_function(format!("fetch/{}", case.name), |b| {
            b.iter(|| black_box(rt.block_on(fetch_items(&case))));
        });
        group.bench_function(format!("http_and_json_only/{}", case.name), |b| {
            b.iter(|| black_box(rt.block_on(http_and_json(&client, &case.reference_urls))));
        });
    }
    group.finish();
}

criterion_group!(benches, page_100_items);
criterion_main!(benches);
