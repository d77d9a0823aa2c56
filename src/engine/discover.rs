//! Discovering new products: the terms people suddenly post about that no
//! tracked product covers yet, ranked and explained, so a seller can turn one
//! into a tracked product (`GET /discover`).
//!
//! The rules, in words a seller can check (also in `docs/SCORING.md`,
//! "Discovering new products"):
//!
//! - **Candidates**: every hashtag (written `#tag`, compact: `#LED_Strip` is
//!   `#ledstrip`), whether in the post's hashtag list or written inline in its
//!   text, and every phrase of 1 to 3 consecutive words of the text,
//!   normalised like product terms ([`normalize`]: lower case, accents and
//!   punctuation removed). Phrases never span a sentence end (`. ! ? , ; :`),
//!   a line break, a hashtag, an `@mention`, a link or an emoji. A phrase
//!   that begins or ends with a stopword (a compact English list plus generic
//!   social words: "the", "my", "love", "best", "omg", "fyp", "viral",
//!   "tiktokmademebuyit", ...) is dropped, which drops stopword-only
//!   phrases; so are pure numbers and single words (or hashtags) of fewer
//!   than 4 characters. A post counts at most once per term.
//! - **Windows**: recent = the `recent_days` days ending today (inclusive);
//!   baseline = the `baseline_days` days before them. Posts after today are
//!   ignored: the result never depends on the future. When the data starts
//!   inside the baseline window (a young feed), the baseline rate is taken
//!   over the days the data covers, so a term that has been steady since the
//!   data began does not look new.
//! - **Burst**: growth = (recent posts per day + 0.5) / (baseline posts per
//!   day + 0.5). The pseudo-count of half a post a day keeps a few posts
//!   from looking like an explosion: with no history, a term needs at least
//!   4 posts in 7 days to double. A term surfaces only if growth >= 2 and at
//!   least `min_authors` distinct authors posted it in the recent window (so
//!   one account posting a lot never surfaces; posts without an author count
//!   together as a single "unknown" author).
//! - **Not tracked yet**: a term that a tracked product already matches
//!   (`Matcher::products_in` on the term's words and its compact form) is
//!   skipped.
//! - **No repeats**: a phrase is dropped when a longer candidate phrase that
//!   contains it appears in at least 80% of its recent posts: "led strip"
//!   mostly said as "led strip lights" is listed once, as the longer, more
//!   specific phrase, which is what a seller would track. The check runs
//!   before the tracked filter, so the pieces of a tracked phrase do not
//!   resurface either. Hashtags and phrases are listed separately.
//! - **Score** (0-100, one decimal) = 40 x growth part + 40 x volume part +
//!   20 x author part, each from 0 to 1: growth part = (log2 growth - 1) / 4
//!   (2x is 0, 32x is 1), volume part = log10(recent posts) / 3 (1,000 posts
//!   is 1), author part = ln(authors) / ln(recent posts) (1 when every post
//!   is by a different author; lower when a few accounts post most of it).
//!   Ranked by score, then by term: the output depends only on the posts,
//!   not on their order.
//!
//! Cost: one pass over the posts of the recent window builds the candidates
//! (words and terms interned as integers), one pass over older posts counts
//! the few candidates that could surface. Linear in the text.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use super::matching::{Matcher, normalize};

/// A post, as far as discovery is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub content_id: i64,
    /// Days since the Unix epoch.
    pub day: i64,
    pub author: Option<&'a str>,
    pub text: &'a str,
    pub hashtags: &'a [String],
    pub url: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Days in the recent window, today included.
    pub recent_days: usize,
    /// Days in the baseline window, just before the recent one.
    pub baseline_days: usize,
    /// Least distinct authors in the recent window.
    pub min_authors: usize,
    /// Most discoveries returned.
    pub limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent_days: 7,
            baseline_days: 28,
            min_authors: 3,
            limit: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    /// The normalised phrase, or `#tag` for a hashtag.
    pub term: String,
    /// `"hashtag"` or `"phrase"`.
    pub kind: &'static str,
    /// 0-100, what the list is ranked by.
    pub score: f64,
    /// Posts in the recent window.
    pub recent_count: u64,
    /// Posts in the baseline window.
    pub baseline_count: u64,
    /// Recent daily rate over baseline daily rate, both shrunk by the pseudo-count.
    pub growth: f64,
    /// Distinct authors in the recent window.
    pub authors: u64,
    /// The earliest day (days since the epoch) of a post with the term.
    pub first_seen_day: i64,
    /// Up to 3 content ids from the recent window, most recent first.
    pub examples: Vec<i64>,
    /// The figures above in plain words.
    pub reason: String,
}

/// Pseudo-count, in posts per day, added to both daily rates.
const PSEUDO_PER_DAY: f64 = 0.5;
/// Least growth to surface.
const MIN_GROWTH: f64 = 2.0;
/// Share of a phrase's recent posts a longer phrase must have to replace it.
const SUBSUME_SHARE: f64 = 0.8;
/// Single words and hashtags shorter than this are too vague.
const MIN_WORD_CHARS: usize = 4;
/// Longest phrase, in words.
const MAX_WORDS: usize = 3;
const EXAMPLES: usize = 3;

/// Words a phrase may not begin or end with: a compact English list, the
/// pieces contractions leave after normalisation ("don't" is "don t"), and
/// words every social post uses whatever it is about.
const STOPWORDS: &str = "\
    a about after again all also am an and any are as at back be because been before being \
    but by can cant could did do does doing don down each even ever every few for from get \
    gets getting go going got had has have having he her here him his how i if im in into is \
    it its ive just know let like ll m make made many me more most much must my need no nor \
    not now of off on once one only or other our out over own re really s same see she \
    should so some still such t than that thats the their them then there these they thing \
    things think this those through to today too under up us use using ve very want was way \
    we were what when where which while who why will with would yes yet you your yours d \
    ad ads amazon amazonfinds amazonmusthaves best bio check comment explore explorepage \
    follow foryou foryoupage fyp giveaway haha link lol love musthave new obsessed ok okay \
    omg post reel reels share shorts sponsored tiktok tiktokmademebuyit trend trending video \
    viral wow yeah";

const STOP: u8 = 1;
const NUMBER: u8 = 2;
const SHORT: u8 = 4;
/// Begins a term that could surface: the only words the pass over older posts looks up.
const LIVE: u8 = 8;

/// No word: pads phrases shorter than 3 words, and marks unknown words.
const NONE: u32 = u32::MAX;
/// Second slot of a hashtag's key.
const TAG: u32 = u32::MAX - 1;

type Key = [u32; MAX_WORDS];

/// FxHash: fast on short keys, and deterministic.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

impl Fx {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Words and terms, interned as integers.
#[derive(Default)]
struct Vocab {
    word_ids: FxMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    flags: Vec<u8>,
    stop: FxMap<&'static str, ()>,
    term_ids: FxMap<Key, u32>,
    terms: Vec<Key>,
}

/// Buffers reused from post to post.
#[derive(Default)]
struct Scratch<'a> {
    segments: Vec<&'a str>,
    tags: Vec<&'a str>,
    ids: Vec<u32>,
    normal: String,
    compact: String,
}

/// [`normalize`] into a reused buffer, skipping its Unicode work when the
/// text is ASCII (the result is the same).
fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if !text.is_ascii() {
        out.push_str(&normalize(text));
        return;
    }
    out.push(' ');
    let mut last_space = true;
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b.to_ascii_lowercase()));
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    if !last_space {
        out.push(' ');
    }
}

impl Vocab {
    fn new() -> Self {
        Self {
            stop: STOPWORDS.split_whitespace().map(|w| (w, ())).collect(),
            ..Self::default()
        }
    }

    fn word(&mut self, w: &str, insert: bool) -> u32 {
        if let Some(&id) = self.word_ids.get(w) {
            return id;
        }
        if !insert {
            return NONE;
        }
        let id = self.words.len() as u32;
        let mut flags = 0;
        if self.stop.contains_key(w) {
            flags |= STOP;
        }
        if w.chars().all(|c| c.is_numeric()) {
            flags |= NUMBER;
        }
        if w.chars().count() < MIN_WORD_CHARS {
            flags |= SHORT;
        }
        self.word_ids.insert(w.into(), id);
        self.words.push(w.into());
        self.flags.push(flags);
        id
    }

    fn term(&mut self, key: Key, insert: bool) -> Option<u32> {
        if let Some(&id) = self.term_ids.get(&key) {
            return Some(id);
        }
        if !insert {
            return None;
        }
        let id = self.terms.len() as u32;
        self.term_ids.insert(key, id);
        self.terms.push(key);
        Some(id)
    }

    /// The terms of a post, each once, into `out` (cleared first). Without
    /// `insert`, only terms already known are returned.
    fn doc_terms<'a>(
        &mut self,
        doc: &Doc<'a>,
        insert: bool,
        s: &mut Scratch<'a>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        split_text(doc.text, &mut s.segments, &mut s.tags);
        s.tags.extend(doc.hashtags.iter().map(String::as_str));
        // Looking up only: words that begin no candidate are skipped.
        let wanted = |flags: u8| insert || flags & LIVE != 0;
        for tag in &s.tags {
            normalize_into(tag, &mut s.normal);
            s.compact.clear();
            s.compact
                .extend(s.normal.chars().filter(|c| !c.is_whitespace()));
            if s.compact.is_empty() {
                continue;
            }
            let id = self.word(&s.compact, insert);
            if id == NONE {
                continue;
            }
            let flags = self.flags[id as usize];
            if flags & (STOP | NUMBER | SHORT) != 0 || !wanted(flags) {
                continue;
            }
            out.extend(self.term([id, TAG, NONE], insert));
        }
        for segment in &s.segments {
            normalize_into(segment, &mut s.normal);
            s.ids.clear();
            for w in s.normal.split(' ').filter(|w| !w.is_empty()) {
                let id = self.word(w, insert);
                s.ids.push(id);
            }
            for start in 0..s.ids.len() {
                let head = s.ids[start];
                if head == NONE || !wanted(self.flags[head as usize]) {
                    continue;
                }
                let mut key = [NONE; MAX_WORDS];
                for len in 1..=MAX_WORDS.min(s.ids.len() - start) {
                    let last = s.ids[start + len - 1];
                    if last == NONE {
                        break;
                    }
                    key[len - 1] = last;
                    let first = self.flags[key[0] as usize];
                    let end = self.flags[last as usize];
                    if first & STOP != 0 {
                        break;
                    }
                    if end & STOP != 0 || (len == 1 && end & SHORT != 0) {
                        continue;
                    }
                    if key[..len]
                        .iter()
                        .all(|&w| self.flags[w as usize] & NUMBER != 0)
                    {
                        continue;
                    }
                    out.extend(self.term(key, insert));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Forgets every term but `keep`, and every word no kept term uses, so
    /// the pass over older posts looks up small tables: a phrase with a
    /// forgotten word cannot be a kept term.
    fn keep_only(&mut self, keep: impl Iterator<Item = u32>) {
        let mut kept = vec![false; self.terms.len()];
        let mut used = vec![false; self.words.len()];
        for t in keep {
            kept[t as usize] = true;
            let key = self.terms[t as usize];
            self.flags[key[0] as usize] |= LIVE;
            for &w in key.iter().filter(|&&w| w < TAG) {
                used[w as usize] = true;
            }
        }
        self.term_ids.retain(|_, t| kept[*t as usize]);
        self.term_ids.shrink_to_fit();
        self.word_ids.retain(|_, w| used[*w as usize]);
        self.word_ids.shrink_to_fit();
    }

    fn is_tag(&self, term: u32) -> bool {
        self.terms[term as usize][1] == TAG
    }

    fn words_of(&self, term: u32) -> impl Iterator<Item = &str> {
        let key = &self.terms[term as usize];
        let n = if key[1] == TAG {
            1
        } else {
            key.iter().take_while(|&&w| w != NONE).count()
        };
        key[..n].iter().map(|&w| &*self.words[w as usize])
    }
}

/// The parts of a post's text phrases are read from, and the hashtags
/// written in it. Parts end at a sentence end, a line break, a hashtag, an
/// `@mention`, a link or a token without letters or digits (an emoji).
fn split_text<'a>(text: &'a str, segments: &mut Vec<&'a str>, tags: &mut Vec<&'a str>) {
    segments.clear();
    tags.clear();
    let base = text.as_ptr() as usize;
    let mut start: Option<usize> = None;
    let mut end = 0;
    for token in text.split_whitespace() {
        let pos = token.as_ptr() as usize - base;
        if let Some(s) = start
            && text[end..pos].contains('\n')
        {
            segments.push(&text[s..end]);
            start = None;
        }
        let link = token.contains("://")
            || token
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("www."));
        let breaker = link
            || token.starts_with('#')
            || token.starts_with('@')
            || !token.chars().any(char::is_alphanumeric);
        if breaker {
            if let Some(s) = start.take() {
                segments.push(&text[s..end]);
            }
            if !link && let Some(tag) = token.strip_prefix('#') {
                tags.extend(tag.split('#'));
            }
            continue;
        }
        start.get_or_insert(pos);
        end = pos + token.len();
        if token.ends_with(['.', '!', '?', ',', ';', ':', '…']) {
            segments.push(&text[start.take().unwrap_or(pos)..end]);
        }
    }
    if let Some(s) = start {
        segments.push(&text[s..end]);
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn days_ago(days: i64) -> String {
    match days {
        0 => "today".to_owned(),
        1 => "yesterday".to_owned(),
        n => format!("{n} days ago"),
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// 0-100: growth, volume and author breadth (see the module documentation).
fn score(growth: f64, posts: u64, authors: u64) -> f64 {
    let g = ((growth.log2() - 1.0) / 4.0).clamp(0.0, 1.0);
    let v = ((posts as f64).log10() / 3.0).clamp(0.0, 1.0);
    let a = if posts > 1 {
        ((authors as f64).ln() / (posts as f64).ln()).clamp(0.0, 1.0)
    } else {
        1.0
    };
    round(100.0 * (0.4 * g + 0.4 * v + 0.2 * a), 1)
}

/// A candidate that passed the count filter.
struct Candidate {
    term: u32,
    /// Indices into `docs`, ascending.
    docs: Vec<u32>,
    baseline: u64,
    first_seen: i64,
}

/// Size of the intersection of two ascending lists.
fn overlap(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// The terms bursting today that no tracked product covers, best first.
pub fn discover(
    docs: &[Doc<'_>],
    tracked: &Matcher,
    today: i64,
    settings: &Settings,
) -> Vec<Discovery> {
    let recent_days = settings.recent_days.max(1);
    let recent_start = today - recent_days as i64 + 1;
    let baseline_start = recent_start - settings.baseline_days as i64;
    let min_authors = settings.min_authors.max(1);
    // With no history, growth >= 2 needs a recent rate of at least the pseudo-count.
    let min_posts = (min_authors as u64).max((PSEUDO_PER_DAY * recent_days as f64).ceil() as u64);

    let mut vocab = Vocab::new();
    let mut scratch = Scratch::default();
    let mut terms = Vec::new();

    // Recent window: every candidate, its posts and its authors.
    let mut author_ids: FxMap<&str, u32> = FxMap::default();
    let mut author_of = vec![0u32; docs.len()];
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut recent: Vec<u32> = Vec::new();
    let mut earliest = today;
    for (i, doc) in docs.iter().enumerate() {
        if doc.day > today {
            continue;
        }
        earliest = earliest.min(doc.day);
        if doc.day < recent_start {
            continue;
        }
        // Id 0 is the unknown author.
        author_of[i] = match doc.author.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => {
                let next = author_ids.len() as u32 + 1;
                *author_ids.entry(a).or_insert(next)
            }
            None => 0,
        };
        vocab.doc_terms(doc, true, &mut scratch, &mut terms);
        recent.resize(vocab.terms.len(), 0);
        for &t in &terms {
            recent[t as usize] += 1;
            pairs.push((t, i as u32));
        }
    }

    // Only terms with enough recent posts can surface.
    let mut slot = vec![NONE; vocab.terms.len()];
    let mut candidates: Vec<Candidate> = Vec::new();
    for (t, &n) in recent.iter().enumerate() {
        if u64::from(n) >= min_posts {
            slot[t] = candidates.len() as u32;
            candidates.push(Candidate {
                term: t as u32,
                docs: Vec::with_capacity(n as usize),
                baseline: 0,
                first_seen: today,
            });
        }
    }
    if candidates.is_empty() {
        return Vec::new();
    }
    for &(t, i) in &pairs {
        let s = slot[t as usize];
        if s != NONE {
            let c = &mut candidates[s as usize];
            c.docs.push(i);
            c.first_seen = c.first_seen.min(docs[i as usize].day);
        }
    }
    drop(pairs);
    vocab.keep_only(candidates.iter().map(|c| c.term));

    // Older posts: baseline counts and first sightings of the candidates.
    for doc in docs {
        if doc.day >= recent_start {
            continue;
        }
        vocab.doc_terms(doc, false, &mut scratch, &mut terms);
        for &t in &terms {
            let s = slot[t as usize];
            if s != NONE {
                let c = &mut candidates[s as usize];
                c.first_seen = c.first_seen.min(doc.day);
                if doc.day >= baseline_start {
                    c.baseline += 1;
                }
            }
        }
    }

    // The baseline rate is over the days the data covers.
    let covered = (recent_start - baseline_start.max(earliest)).max(0);
    let baseline_rate = |n: u64| {
        if covered > 0 {
            n as f64 / covered as f64
        } else {
            0.0
        }
    };

    // Burst and breadth.
    let mut authors_buf = Vec::new();
    let mut bursting: Vec<(usize, f64, u64)> = Vec::new();
    for (s, c) in candidates.iter().enumerate() {
        let rate = c.docs.len() as f64 / recent_days as f64;
        let growth = (rate + PSEUDO_PER_DAY) / (baseline_rate(c.baseline) + PSEUDO_PER_DAY);
        if growth < MIN_GROWTH {
            continue;
        }
        authors_buf.clear();
        authors_buf.extend(c.docs.iter().map(|&i| author_of[i as usize]));
        authors_buf.sort_unstable();
        authors_buf.dedup();
        let authors = authors_buf.len() as u64;
        if authors >= min_authors as u64 {
            bursting.push((s, growth, authors));
        }
    }

    // A phrase mostly said as a longer bursting phrase is listed as the longer one.
    let is_bursting: FxMap<Key, usize> = bursting
        .iter()
        .map(|&(s, _, _)| (vocab.terms[candidates[s].term as usize], s))
        .collect();
    let mut subsumed = vec![false; candidates.len()];
    for &(s, _, _) in &bursting {
        let long = &candidates[s];
        let key = vocab.terms[long.term as usize];
        if key[1] == TAG {
            continue;
        }
        let n = key.iter().take_while(|&&w| w != NONE).count();
        for len in 1..n {
            for start in 0..=n - len {
                let mut sub = [NONE; MAX_WORDS];
                sub[..len].copy_from_slice(&key[start..start + len]);
                if let Some(&short) = is_bursting.get(&sub) {
                    let short_docs = &candidates[short].docs;
                    let shared = overlap(short_docs, &long.docs);
                    if shared as f64 >= SUBSUME_SHARE * short_docs.len() as f64 {
                        subsumed[short] = true;
                    }
                }
            }
        }
    }

    let mut out = Vec::new();
    for &(s, growth, authors) in &bursting {
        if subsumed[s] {
            continue;
        }
        let c = &candidates[s];
        let hashtag = vocab.is_tag(c.term);
        let words = vocab.words_of(c.term).collect::<Vec<_>>();
        let text = words.join(" ");
        let compact = [words.concat()];
        if !tracked.products_in(&text, &compact).is_empty() {
            continue;
        }
        let mut examples = c.docs.clone();
        examples.sort_unstable_by_key(|&i| {
            let d = &docs[i as usize];
            std::cmp::Reverse((d.day, d.content_id))
        });
        let examples: Vec<i64> = examples
            .iter()
            .take(EXAMPLES)
            .map(|&i| docs[i as usize].content_id)
            .collect();
        let recent_count = c.docs.len() as u64;
        let before = if c.baseline > 0 {
            format!("{growth:.1}x its usual rate")
        } else if covered > 0 {
            format!("none in the {} before", plural(covered as u64, "day"))
        } else {
            "no earlier posts to compare with".to_owned()
        };
        let reason = format!(
            "{} by {} in the last {}, {before}; first seen {}",
            plural(recent_count, "post"),
            plural(authors, "author"),
            plural(recent_days as u64, "day"),
            days_ago(today - c.first_seen),
        );
        out.push(Discovery {
            term: if hashtag { format!("#{text}") } else { text },
            kind: if hashtag { "hashtag" } else { "phrase" },
            score: score(growth, recent_count, authors),
            recent_count,
            baseline_count: c.baseline,
            growth: round(growth, 2),
            authors,
            first_seen_day: c.first_seen,
            examples,
            reason,
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.term.cmp(&b.term))
    });
    out.truncate(settings.limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::matching::ProductTerms;

    const TODAY: i64 = 20_000;

    /// A post, owned, so tests can build them in loops.
    struct Post {
        id: i64,
        day: i64,
        author: Option<String>,
        text: String,
        tags: Vec<String>,
    }

    fn post(id: i64, days_ago: i64, author: &str, text: &str) -> Post {
        Post {
            id,
            day: TODAY - days_ago,
            author: Some(author.to_owned()),
            text: text.to_owned(),
            tags: Vec::new(),
        }
    }

    fn docs(posts: &[Post]) -> Vec<Doc<'_>> {
        posts
            .iter()
            .map(|p| Doc {
                content_id: p.id,
                day: p.day,
                author: p.author.as_deref(),
                text: &p.text,
                hashtags: &p.tags,
                url: None,
            })
            .collect()
    }

    fn run_at(posts: &[Post], tracked: &Matcher, today: i64) -> Vec<Discovery> {
        discover(&docs(posts), tracked, today, &Settings::default())
    }

    fn run(posts: &[Post]) -> Vec<Discovery> {
        run_at(posts, &Matcher::new(&[]), TODAY)
    }

    fn terms(found: &[Discovery]) -> Vec<&str> {
        found.iter().map(|d| d.term.as_str()).collect()
    }

    /// `n` posts of `text` spread over the last 5 days, each by its own author.
    fn burst(first_id: i64, n: i64, text: &str) -> Vec<Post> {
        (0..n)
            .map(|k| {
                post(
                    first_id + k,
                    k * 5 / n,
                    &format!("author{}", first_id + k),
                    text,
                )
            })
            .collect()
    }

    /// Other people talking about other things, every day for 35 days.
    fn chatter() -> Vec<Post> {
        (0..35)
            .map(|d| {
                let text = format!("Morning coffee and a walk, day {}", d % 3);
                post(1000 + d, d, &format!("chatter{}", d % 4), &text)
            })
            .collect()
    }

    #[test]
    fn a_new_term_from_ten_authors_in_five_days_surfaces_with_its_figures() {
        let mut posts = chatter();
        posts.extend(burst(1, 10, "my cloud slippers"));
        let found = run(&posts);
        assert_eq!(terms(&found), ["cloud slippers"]);
        let d = &found[0];
        assert_eq!(d.kind, "phrase");
        assert_eq!((d.recent_count, d.baseline_count, d.authors), (10, 0, 10));
        assert_eq!(d.first_seen_day, TODAY - 4);
        assert_eq!(d.examples, [2, 1, 4], "most recent first, then by id");
        assert_eq!(d.growth, 3.86, "(10/7 + 0.5) / (0 + 0.5)");
        assert_eq!(
            d.reason,
            "10 posts by 10 authors in the last 7 days, none in the 28 days before; first seen 4 days ago"
        );
        assert!(d.score > 0.0 && d.score <= 100.0);
    }

    #[test]
    fn examples_are_the_three_most_recent_posts() {
        let mut posts = burst(1, 10, "cloud slippers");
        posts[9].day = TODAY;
        let found = run(&posts);
        assert_eq!(found[0].examples, [10, 2, 1]);
    }

    #[test]
    fn the_same_volume_from_one_author_or_from_anonymous_posts_does_not_surface() {
        let mut spam = burst(1, 10, "cloud slippers");
        spam.iter_mut()
            .for_each(|p| p.author = Some("shop".to_owned()));
        assert!(run(&spam).is_empty());
        spam.iter_mut().for_each(|p| p.author = None);
        assert!(run(&spam).is_empty(), "no author is one unknown author");
        spam[0].author = Some("a".to_owned());
        spam[1].author = Some("b".to_owned());
        assert_eq!(
            run(&spam)[0].authors,
            3,
            "two named authors and the unknown one"
        );
    }

    #[test]
    fn a_term_steady_for_35_days_does_not_surface() {
        let posts: Vec<Post> = (0..70)
            .map(|k| post(k, k / 2, &format!("a{}", k % 9), "cloud slippers"))
            .collect();
        assert!(run(&posts).is_empty());
    }

    #[test]
    fn a_young_feed_compares_with_the_days_it_covers() {
        // Steady for 10 days, all the data there is: not new.
        let posts: Vec<Post> = (0..20)
            .map(|k| post(k, k / 2, &format!("a{}", k % 9), "cloud slippers"))
            .collect();
        assert!(run(&posts).is_empty());
    }

    #[test]
    fn a_term_that_doubles_its_usual_rate_surfaces_with_its_growth() {
        // 1 post every 2 days for 28 days, then 3 a day for 7 days.
        let mut posts: Vec<Post> = (0..14)
            .map(|k| post(k, 8 + 2 * k, &format!("old{k}"), "cloud slippers"))
            .collect();
        posts.extend((0..21).map(|k| post(100 + k, k / 3, &format!("new{k}"), "cloud slippers")));
        let found = run(&posts);
        assert_eq!(terms(&found), ["cloud slippers"]);
        assert_eq!((found[0].recent_count, found[0].baseline_count), (21, 14));
        assert_eq!(found[0].growth, 3.5, "(3 + 0.5) / (0.5 + 0.5)");
        assert_eq!(
            found[0].reason,
            "21 posts by 21 authors in the last 7 days, 3.5x its usual rate; first seen 34 days ago"
        );
    }

    #[test]
    fn a_term_a_tracked_product_matches_does_not_surface_nor_do_its_pieces() {
        let posts = burst(1, 10, "my cloud slippers");
        let tracked = |terms: &[&str]| {
            Matcher::new(&[ProductTerms {
                product_id: 7,
                terms: terms.iter().map(|t| (*t).to_owned()).collect(),
                negative: Vec::new(),
            }])
        };
        assert!(run_at(&posts, &tracked(&["Cloud Slippers"]), TODAY).is_empty());
        assert!(run_at(&posts, &tracked(&["#cloudslippers"]), TODAY).is_empty());
        assert_eq!(
            terms(&run_at(&posts, &tracked(&["slipper socks"]), TODAY)),
            ["cloud slippers"]
        );
    }

    #[test]
    fn hashtags_surface_as_compact_tags_counted_once_per_post() {
        let mut posts = burst(1, 10, "so cozy #CloudSlippers #fyp");
        for p in &mut posts {
            p.tags = vec!["#cloud_slippers".to_owned(), "fyp".to_owned()];
        }
        let found = run(&posts);
        assert_eq!(terms(&found), ["#cloudslippers", "cozy"]);
        assert_eq!(found[0].kind, "hashtag");
        assert_eq!(found[0].recent_count, 10);
    }

    #[test]
    fn stopword_only_phrases_numbers_and_short_words_never_surface() {
        let posts = burst(
            1,
            20,
            "OMG this is the best one, I love it so much!!! 2024 fyp #viral #fyp #ad #diy",
        );
        assert!(run(&posts).is_empty(), "{:?}", terms(&run(&posts)));
    }

    #[test]
    fn phrases_keep_their_inner_stopwords_but_not_their_edges() {
        let found = run(&burst(1, 10, "the bag of chips for you"));
        assert_eq!(terms(&found), ["bag of chips"]);
    }

    #[test]
    fn phrases_do_not_cross_sentences_mentions_or_links() {
        let found = run(&burst(
            1,
            10,
            "Cloud slippers. Sunset lamp\nmirror @glowshop https://shop.example/lamp",
        ));
        assert_eq!(
            terms(&found),
            ["cloud slippers", "mirror", "sunset lamp"],
            "no \"slippers sunset\", \"lamp mirror\" or \"https\""
        );
    }

    #[test]
    fn posts_after_today_are_ignored() {
        let future: Vec<Post> = (0..10)
            .map(|k| post(k, -1 - k % 3, &format!("a{k}"), "cloud slippers"))
            .collect();
        assert!(run(&future).is_empty());
        let later = run_at(&future, &Matcher::new(&[]), TODAY + 3);
        assert_eq!(terms(&later), ["cloud slippers"]);
        // Adding the future never changes today's answer.
        let mut posts = chatter();
        posts.extend(burst(100, 10, "sunset lamp"));
        let before = run(&posts);
        posts.extend(future);
        assert_eq!(run(&posts), before);
    }

    #[test]
    fn a_phrase_mostly_said_as_a_longer_one_is_listed_as_the_longer_one() {
        let mut posts = burst(1, 10, "led strip lights");
        posts.push(post(50, 0, "x", "led strip"));
        assert_eq!(terms(&run(&posts)), ["led strip lights"]);

        // Half "lights", half "tape": "led strip" is its own trend too.
        let mut posts = burst(1, 10, "led strip lights");
        posts.extend(burst(100, 10, "led strip tape"));
        let found = run(&posts);
        let mut found = terms(&found);
        found.sort_unstable();
        assert_eq!(found, ["led strip", "led strip lights", "led strip tape"]);
    }

    #[test]
    fn ranked_by_score_then_term_deterministic_and_order_free() {
        let mut posts = chatter();
        posts.extend(burst(1, 10, "cloud slippers"));
        posts.extend(burst(100, 40, "sunset lamp"));
        posts.extend(burst(200, 10, "pet camera"));
        let found = run(&posts);
        assert_eq!(
            terms(&found),
            ["sunset lamp", "cloud slippers", "pet camera"]
        );
        assert!(found[0].score > found[1].score);
        assert_eq!(found[1].score, found[2].score);
        assert!(found.iter().all(|d| (0.0..=100.0).contains(&d.score)));
        assert_eq!(run(&posts), found);
        posts.reverse();
        assert_eq!(run(&posts), found);
        let limited = discover(
            &docs(&posts),
            &Matcher::new(&[]),
            TODAY,
            &Settings {
                limit: 2,
                ..Settings::default()
            },
        );
        assert_eq!(limited, found[..2]);
    }

    #[test]
    fn the_ascii_shortcut_normalises_like_product_terms() {
        let mut out = String::new();
        for text in ["", "  LED-strip, 3.5mm!! ", "a_b  C", "Crème brûlée", "ok"] {
            normalize_into(text, &mut out);
            assert_eq!(out, normalize(text), "{text:?}");
        }
    }

    #[test]
    fn scores_grow_with_growth_volume_and_authors() {
        assert!(score(8.0, 50, 40) > score(4.0, 50, 40));
        assert!(score(8.0, 500, 400) > score(8.0, 50, 40));
        assert!(score(8.0, 50, 40) > score(8.0, 50, 5));
        assert_eq!(score(32.0, 1000, 1000), 100.0);
        assert_eq!(score(2.0, 1, 1), 20.0);
    }

    /// `cargo test --release --lib discover -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run in release"]
    fn hundred_thousand_posts_timing() {
        let words: Vec<&str> = "cloud slippers sunset lamp mirror camera kitchen gadget \
            blender portable cozy aesthetic \
            desk setup bottle water serum skin care routine hair claw clip phone \
            case charger magnetic wireless earbuds hoodie oversized tote bag"
            .split_whitespace()
            .collect();
        let mut state = 42u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let posts: Vec<Post> = (0..100_000)
            .map(|k| {
                let n = 8 + next() % 20;
                let mut text = String::from("Honestly I love my");
                for _ in 0..n {
                    text.push(' ');
                    text.push_str(words[next() % words.len()]);
                }
                text.push_str(&format!(" item{} #fyp", next() % 5000));
                let mut p = post(
                    k,
                    (next() % 60) as i64,
                    &format!("u{}", next() % 20_000),
                    &text,
                );
                p.tags = vec![format!("#tag{}", next() % 3000)];
                p
            })
            .collect();
        let docs = docs(&posts);
        let tracked = Matcher::new(&[]);
        let start = std::time::Instant::now();
        let found = discover(&docs, &tracked, TODAY, &Settings::default());
        eprintln!(
            "discover: {} posts in {:?}, {} found",
            docs.len(),
            start.elapsed(),
            found.len()
        );
    }
}
