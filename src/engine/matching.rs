//! Matching content to products by looking its words up in tables built from
//! every product's terms, so the cost of matching a post does not grow with
//! the number of products.
//!
//! Text and terms are normalised the same way (lower case, accents removed,
//! punctuation as spaces), and matched on word boundaries: "LED strip" matches
//! "Best led-strip ever!" but "cat" does not match "catalog". Because a match
//! is always a run of whole words, the text is cut into words and each word
//! hashed while it is normalised (ASCII words eight bytes at a time), and as
//! each word ends the runs ending with it are looked up in a hash table of
//! terms; the table also holds every term's leading words, so a run is
//! extended only while some term still begins with it. Hashtags are also compared with each term written
//! without spaces, so `#ledstriplights` matches the term "LED strip lights":
//! through a table when the whole tag is the term, and, for terms long enough
//! to be specific, by walking a trie of terms from the tag's first byte and a
//! trie of reversed terms from its last one (`#ledstriplightsdeal`). A
//! negative term found in the same content vetoes its product.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, MatchKind};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfd_quick};

/// The terms a product is tracked by.
#[derive(Debug, Clone, Default)]
pub struct ProductTerms {
    pub product_id: i64,
    /// The name and every keyword, alias and hashtag: any of them matches.
    pub terms: Vec<String>,
    /// Terms whose presence means the content is about something else.
    pub negative: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Pattern {
    product: usize,
    negative: bool,
}

/// One word of a normalised text: where it lies and its [`word_hash`].
#[derive(Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    hash: u64,
}

/// Buffers reused from one call of [`Matcher::products_in`] to the next, so
/// matching a post allocates nothing unless it names a product.
#[derive(Default)]
struct Scratch {
    /// The normalised text, then one normalised hashtag at a time.
    normal: Vec<u8>,
    /// The runs of words of `normal` some term begins with.
    runs: Vec<Run>,
    /// One hashtag, compact.
    compact: Vec<u8>,
    /// Patterns found.
    marks: Vec<Pattern>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Hashes a word a byte at a time, as the normalised text is written, so that
/// no second pass reads the word again: eight bytes to a multiply, and most
/// words (shorter than eight bytes) cost one. A word's bytes are never 0, so
/// the bytes alone tell words apart and the length need not be hashed.
#[derive(Clone, Copy)]
struct WordHasher {
    hash: u64,
    chunk: u64,
    len: usize,
}

impl WordHasher {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    const START: Self = WordHasher {
        hash: Self::K,
        chunk: 0,
        len: 0,
    };

    /// Bytes are packed into a chunk in order, the first in the low byte.
    fn push(&mut self, byte: u8) {
        self.chunk |= u64::from(byte) << (8 * (self.len % 8));
        self.len += 1;
        if self.len.is_multiple_of(8) {
            self.hash = Self::mix(self.hash, self.chunk);
            self.chunk = 0;
        }
    }

    /// Pushes ASCII letters and digits in lower case, eight at a time: `| 0x20`
    /// lower-cases an ASCII letter and leaves a digit as it is.
    fn push_ascii(&mut self, word: &[u8]) {
        if !self.len.is_multiple_of(8) {
            // The word began with other characters: rare, byte by byte.
            for byte in word {
                self.push(byte | 0x20);
            }
            return;
        }
        let mut chunks = word.chunks_exact(8);
        for chunk in &mut chunks {
            let bytes: [u8; 8] = chunk.try_into().expect("chunks of eight");
            self.hash = Self::mix(self.hash, u64::from_le_bytes(bytes) | LOWER);
        }
        self.chunk = chunks
            .remainder()
            .iter()
            .rev()
            .fold(0, |chunk, byte| chunk << 8 | u64::from(byte | 0x20));
        self.len += word.len();
    }

    fn finish(self) -> u64 {
        Self::mix(self.hash, self.chunk)
    }

    fn mix(hash: u64, chunk: u64) -> u64 {
        (hash.rotate_left(5) ^ chunk).wrapping_mul(Self::K)
    }
}

/// Hashes one word; a run of words hashes as [`extend`] over its words'
/// hashes, from [`RUN_SEED`].
fn word_hash(word: &[u8]) -> u64 {
    let mut hasher = WordHasher::START;
    for byte in word {
        hasher.push(*byte);
    }
    hasher.finish()
}

const RUN_SEED: u64 = 0x243F_6A88_85A3_08D3;

/// The hash of a run of words followed by one more word (MurmurHash3's
/// finaliser, so that every bit of the result is usable as a table index).
fn extend(run: u64, word: u64) -> u64 {
    let mut h = run ^ word;
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

fn run_hash<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    words
        .into_iter()
        .fold(RUN_SEED, |run, word| extend(run, word_hash(word)))
}

/// A run of words (single spaces between them) that is a term, or the first
/// words of one, or both.
struct Entry {
    hash: u64,
    text: (usize, usize),
    patterns: (usize, usize),
    /// Some longer term begins with this run.
    longer: bool,
}

/// A set of hashes that may answer "maybe" for a hash it does not hold (about
/// one time in eight) but never "no" for one it holds: small enough to stay
/// in cache, it turns most words of a post, which begin no term, away before
/// anything bigger is read. Indexed by a hash's top bits, which stay
/// independent of a table slot's low ones.
#[derive(Default)]
struct Bitmap {
    bits: Vec<u64>,
    /// log2 of the number of bits.
    width: u32,
}

impl Bitmap {
    fn new(hashes: impl ExactSizeIterator<Item = u64>) -> Self {
        let width = (hashes.len() * 8)
            .next_power_of_two()
            .max(64)
            .trailing_zeros();
        let mut map = Bitmap {
            bits: vec![0; (1usize << width) / 64],
            width,
        };
        for hash in hashes {
            let bit = map.bit(hash);
            map.bits[bit / 64] |= 1 << (bit % 64);
        }
        map
    }

    fn bit(&self, hash: u64) -> usize {
        (hash >> (64 - self.width)) as usize
    }

    fn may_hold(&self, hash: u64) -> bool {
        !self.bits.is_empty() && {
            let bit = self.bit(hash);
            self.bits[bit / 64] & (1 << (bit % 64)) != 0
        }
    }
}

/// Runs of words by hash, with their bytes to tell apart runs whose hashes
/// collide: open addressing, linear probing.
#[derive(Default)]
struct Table {
    /// Index + 1 into `entries`; 0 is free. Never more than half full.
    slots: Vec<u32>,
    /// Every entry's hash: most runs looked up are in no term.
    filter: Bitmap,
    entries: Vec<Entry>,
    text: Vec<u8>,
    patterns: Vec<Pattern>,
}

impl Table {
    /// `runs`: each run's bytes, whether a longer term begins with it, and
    /// the patterns it is a term of.
    fn new(runs: HashMap<Vec<u8>, (bool, Vec<Pattern>)>) -> Self {
        let mut table = Table {
            slots: vec![0; (runs.len() * 2).next_power_of_two().max(2)],
            ..Table::default()
        };
        let mask = table.slots.len() - 1;
        for (run, (longer, patterns)) in runs {
            let hash = run_hash(run.split(|b| *b == b' '));
            let text = (table.text.len(), table.text.len() + run.len());
            table.text.extend_from_slice(&run);
            let from = table.patterns.len();
            table.patterns.extend(patterns);
            table.entries.push(Entry {
                hash,
                text,
                patterns: (from, table.patterns.len()),
                longer,
            });
            let mut slot = hash as usize & mask;
            while table.slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table.slots[slot] = u32::try_from(table.entries.len()).expect("fewer than 2^32 runs");
        }
        table.filter = Bitmap::new(table.entries.iter().map(|e| e.hash));
        table
    }

    fn get(&self, hash: u64, run: &[u8]) -> Option<&Entry> {
        if !self.filter.may_hold(hash) {
            return None;
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut slot = hash as usize & mask;
        loop {
            let index = *self.slots.get(slot)?;
            if index == 0 {
                return None;
            }
            let entry = &self.entries[index as usize - 1];
            if entry.hash == hash && &self.text[entry.text.0..entry.text.1] == run {
                return Some(entry);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn patterns(&self, entry: &Entry) -> &[Pattern] {
        &self.patterns[entry.patterns.0..entry.patterns.1]
    }
}

/// Compact terms as a trie, walked from a hashtag's first byte.
struct Affixes {
    trie: NFA,
    patterns: Vec<Pattern>,
}

impl Affixes {
    fn new(terms: Vec<(Vec<u8>, Pattern)>) -> Option<Self> {
        if terms.is_empty() {
            return None;
        }
        let trie = NFA::builder()
            .match_kind(MatchKind::Standard)
            .build(terms.iter().map(|(term, _)| term))
            .expect("compact terms always build a trie");
        Some(Affixes {
            trie,
            patterns: terms.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Marks the terms `tag` begins with.
    fn find(&self, tag: impl Iterator<Item = u8>, marks: &mut Vec<Pattern>) {
        let trie = &self.trie;
        let Ok(mut state) = trie.start_state(Anchored::Yes) else {
            return;
        };
        for (at, byte) in tag.enumerate() {
            state = trie.next_state(Anchored::Yes, state, byte);
            if trie.is_dead(state) {
                return;
            }
            if trie.is_match(state) {
                for i in 0..trie.match_len(state) {
                    let id = trie.match_pattern(state, i);
                    // A state also reports the terms that end here but began
                    // after the tag's first byte.
                    if trie.pattern_len(id) == at + 1 {
                        marks.push(self.patterns[id.as_usize()]);
                    }
                }
            }
        }
    }
}

pub struct Matcher {
    product_ids: Vec<i64>,
    /// Every term, and every term's leading words, as runs of words.
    words: Table,
    /// The word hash of every term's first word: a word that begins no term
    /// is passed over without hashing a run.
    first_words: Bitmap,
    /// Compact terms (no spaces), for hashtags: equal to a tag...
    compact: Table,
    /// ...or, when long enough to be specific, beginning it...
    prefixes: Option<Affixes>,
    /// ...or ending it (these terms reversed).
    suffixes: Option<Affixes>,
}

/// Lower case, accents removed, anything but letters and digits as single
/// spaces, padded with one space on each side.
pub fn normalize(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    normalize_into(text, &mut out, &mut ());
    String::from_utf8(out).expect("only whole characters are written")
}

/// Each ASCII byte's lower-case letter or digit, 0 for a separator, and
/// [`NOT_ASCII`] for the bytes of other characters: one look-up answers
/// all three questions.
const BYTES: [u8; 256] = {
    let mut table = [NOT_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            0
        };
        b += 1;
    }
    table
};
const NOT_ASCII: u8 = 0x80;

/// `| LOWER` lower-cases the ASCII letters of eight bytes and leaves digits as
/// they are.
const LOWER: u64 = 0x2020_2020_2020_2020;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each of eight bytes that is an ASCII letter or digit, the
/// others clear: range checks on all eight at once. With the high bits
/// cleared first, no addition carries from one byte into the next.
fn alphanumeric_lanes(chunk: u64) -> u64 {
    let ascii = !chunk & HIGH_BITS;
    let low = chunk & !HIGH_BITS;
    let folded = low | LOWER;
    let within = |x: u64, from: u8, to: u8| {
        x.wrapping_add(ONES * u64::from(0x80 - from)) & !x.wrapping_add(ONES * u64::from(0x7f - to))
    };
    (within(folded, b'a', b'z') | within(low, b'0', b'9')) & ascii & HIGH_BITS
}

/// Told each word of a text as soon as normalisation has written it.
trait WordSink {
    /// `normal`: the normalised text so far, which ends with `word` and a space.
    fn word(&mut self, normal: &[u8], word: Word);
}

/// Words are not wanted, only the normalised text.
impl WordSink for () {
    fn word(&mut self, _: &[u8], _: Word) {}
}

/// Writes normalised text and cuts it into hashed words on the way, so no
/// later pass reads the text again to find its words.
struct Writer<'a, S> {
    out: &'a mut Vec<u8>,
    sink: &'a mut S,
    /// Where the word being written began, if one is.
    word: Option<usize>,
    hasher: WordHasher,
}

impl<S: WordSink> Writer<'_, S> {
    /// One byte of a letter or digit, already in lower case.
    fn letter(&mut self, byte: u8) {
        if self.word.is_none() {
            self.word = Some(self.out.len());
            self.hasher = WordHasher::START;
        }
        self.out.push(byte);
        self.hasher.push(byte);
    }

    /// Anything else: ends the word being written, if any.
    fn separator(&mut self) {
        if let Some(start) = self.word.take() {
            let word = Word {
                start,
                end: self.out.len(),
                hash: self.hasher.finish(),
            };
            self.out.push(b' ');
            self.sink.word(self.out, word);
        }
    }

    /// Writes the ASCII letters and digits `bytes` begins with, in lower
    /// case, and returns how many there were. Most text is ASCII words: each
    /// is found, then hashed and copied a chunk at a time, instead of one
    /// [`Writer::letter`] call (and one capacity check) a byte.
    fn ascii_letters(&mut self, bytes: &[u8]) -> usize {
        if self.word.is_none() {
            self.word = Some(self.out.len());
            self.hasher = WordHasher::START;
        }
        // Eight bytes at a time while eight remain and the hash is at a chunk
        // boundary (the word did not begin with other characters).
        let mut done = 0;
        while self.hasher.len.is_multiple_of(8) {
            let Some(chunk) = bytes.get(done..done + 8) else {
                break;
            };
            let chunk = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let lower = chunk | LOWER;
            let letters = alphanumeric_lanes(chunk);
            if letters == HIGH_BITS {
                self.hasher.hash = WordHasher::mix(self.hasher.hash, lower);
                self.hasher.len += 8;
                self.out.extend_from_slice(&lower.to_le_bytes());
                done += 8;
                continue;
            }
            // The word ends inside this chunk: its first `len` bytes.
            let len = (!letters & HIGH_BITS).trailing_zeros() as usize / 8;
            self.hasher.chunk = lower & ((1u64 << (8 * len)) - 1);
            self.hasher.len += len;
            // All eight bytes, then the word's only: a fixed-size copy is one
            // store, where a copy of `len` bytes is a call to memcpy.
            let end = self.out.len() + len;
            self.out.extend_from_slice(&lower.to_le_bytes());
            self.out.truncate(end);
            return done + len;
        }
        done + self.ascii_letters_bytewise(&bytes[done..])
    }

    /// [`Writer::ascii_letters`] near the end of the text, or inside a word
    /// that began with other characters.
    fn ascii_letters_bytewise(&mut self, bytes: &[u8]) -> usize {
        let len = bytes
            .iter()
            .position(|b| matches!(BYTES[*b as usize], 0 | NOT_ASCII))
            .unwrap_or(bytes.len());
        let word = &bytes[..len];
        self.hasher.push_ascii(word);
        self.out.extend(word.iter().map(|b| b | 0x20));
        len
    }

    /// A character outside ASCII.
    fn char(&mut self, c: char) {
        if super::chars::is_alphanumeric(c) {
            for lower in c.to_lowercase() {
                for byte in lower.encode_utf8(&mut [0; 4]).bytes() {
                    self.letter(byte);
                }
            }
        } else {
            self.separator();
        }
    }
}

/// Appends [`normalize`]`(text)`, as UTF-8, to `out`, and tells `sink` its
/// words.
///
/// ASCII is handled byte by byte; only runs of other characters go through
/// Unicode decomposition, and only when they are not already decomposed (most
/// emoji are). That is exact: an ASCII character decomposes to itself and has
/// combining class 0, so decomposition never reorders across it.
fn normalize_into(text: &str, out: &mut Vec<u8>, sink: &mut impl WordSink) {
    out.reserve(text.len() + 2);
    out.push(b' ');
    let mut writer = Writer {
        out,
        sink,
        word: None,
        hasher: WordHasher::START,
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = BYTES[bytes[i] as usize];
        if c == 0 {
            writer.separator();
            i += 1;
            continue;
        }
        if c != NOT_ASCII {
            i += writer.ascii_letters(&bytes[i..]);
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(u8::is_ascii)
            .map_or(bytes.len(), |n| i + n);
        let run = &text[i..end];
        if is_nfd_quick(run.chars()) == IsNormalized::Yes {
            for c in run.chars().filter(|c| !is_combining_mark(*c)) {
                writer.char(c);
            }
        } else {
            for c in run.nfd().filter(|c| !is_combining_mark(*c)) {
                writer.char(c);
            }
        }
        i = end;
    }
    writer.separator();
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Compact terms shorter than this must equal a hashtag; longer ones may also
/// begin or end it (`#ledstriplightsdeal`).
const MIN_AFFIX: usize = 6;

impl Matcher {
    pub fn new(products: &[ProductTerms]) -> Self {
        let mut words: HashMap<Vec<u8>, (bool, Vec<Pattern>)> = HashMap::new();
        let mut compact: HashMap<Vec<u8>, (bool, Vec<Pattern>)> = HashMap::new();
        let mut prefixes = Vec::new();
        let mut suffixes = Vec::new();
        for (index, p) in products.iter().enumerate() {
            let lists = [(&p.terms, false), (&p.negative, true)];
            for (list, negative) in lists {
                for term in list {
                    let normal = normalize(term);
                    let run = normal.trim_matches(' ').as_bytes();
                    if run.is_empty() {
                        continue;
                    }
                    let pattern = Pattern {
                        product: index,
                        negative,
                    };
                    // Every space ends a run of leading words some longer term begins with.
                    for (at, _) in run.iter().enumerate().filter(|(_, b)| **b == b' ') {
                        words.entry(run[..at].to_vec()).or_default().0 = true;
                    }
                    words.entry(run.to_vec()).or_default().1.push(pattern);
                    let short: Vec<u8> = run.iter().copied().filter(|b| *b != b' ').collect();
                    if std::str::from_utf8(&short).map_or(0, |s| s.chars().count()) >= MIN_AFFIX {
                        suffixes.push((short.iter().rev().copied().collect(), pattern));
                        prefixes.push((short.clone(), pattern));
                    }
                    compact.entry(short).or_default().1.push(pattern);
                }
            }
        }
        let firsts: std::collections::HashSet<u64> = words
            .keys()
            .filter_map(|run| run.split(|b| *b == b' ').next())
            .map(word_hash)
            .collect();
        Self {
            product_ids: products.iter().map(|p| p.product_id).collect(),
            first_words: Bitmap::new(firsts.into_iter()),
            words: Table::new(words),
            compact: Table::new(compact),
            prefixes: Affixes::new(prefixes),
            suffixes: Affixes::new(suffixes),
        }
    }

    /// The products a piece of content is about, in ascending id order.
    pub fn products_in(&self, text: &str, hashtags: &[String]) -> Vec<i64> {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.products_in_with(&mut scratch, text, hashtags),
            Err(_) => self.products_in_with(&mut Scratch::default(), text, hashtags),
        })
    }

    fn products_in_with(&self, s: &mut Scratch, text: &str, hashtags: &[String]) -> Vec<i64> {
        // Every term, hashtag-only or not, is in `words`: none means no term at all.
        if self.words.entries.is_empty() {
            return Vec::new();
        }
        s.marks.clear();
        self.find_words(text, &mut s.normal, &mut s.runs, &mut s.marks);
        for tag in hashtags {
            // A tag's words match like the text's, but never together with another tag's.
            self.find_words(tag, &mut s.normal, &mut s.runs, &mut s.marks);
            // The compact form is the normalised one without its spaces.
            s.compact.clear();
            s.compact.extend(s.normal.iter().filter(|b| **b != b' '));
            if s.compact.is_empty() {
                continue;
            }
            if let Some(entry) = self.compact.get(run_hash([&s.compact[..]]), &s.compact) {
                s.marks.extend_from_slice(self.compact.patterns(entry));
            }
            if let Some(prefixes) = &self.prefixes {
                prefixes.find(s.compact.iter().copied(), &mut s.marks);
            }
            if let Some(suffixes) = &self.suffixes {
                suffixes.find(s.compact.iter().rev().copied(), &mut s.marks);
            }
        }
        if s.marks.is_empty() {
            return Vec::new();
        }
        // A product counts when one of its terms was found and none of its negative ones.
        s.marks.sort_unstable_by_key(|p| (p.product, p.negative));
        let mut out = Vec::new();
        for group in s.marks.chunk_by(|a, b| a.product == b.product) {
            if !group[0].negative && !group[group.len() - 1].negative {
                out.push(self.product_ids[group[0].product]);
            }
        }
        out.sort_unstable();
        out
    }

    /// Normalises `text` into `normal` and marks the terms that are runs of
    /// its whole words.
    fn find_words(
        &self,
        text: &str,
        normal: &mut Vec<u8>,
        runs: &mut Vec<Run>,
        marks: &mut Vec<Pattern>,
    ) {
        runs.clear();
        let mut finder = RunFinder {
            matcher: self,
            runs,
            marks,
        };
        normal.clear();
        normalize_into(text, normal, &mut finder);
    }
}

/// A run of words that some term begins with, still growing.
struct Run {
    start: usize,
    hash: u64,
}

/// Looks up runs of words as the text is normalised: each word grows the runs
/// that end just before it and some term still begins with, and may begin a
/// new one.
struct RunFinder<'a> {
    matcher: &'a Matcher,
    runs: &'a mut Vec<Run>,
    marks: &'a mut Vec<Pattern>,
}

impl WordSink for RunFinder<'_> {
    #[inline(always)]
    fn word(&mut self, normal: &[u8], word: Word) {
        let table = &self.matcher.words;
        let marks = &mut *self.marks;
        // Whether the run, grown by `word`, is a term (marked), and may grow further.
        let mut grow = |start: usize, hash: u64| match table.get(hash, &normal[start..word.end]) {
            Some(entry) => {
                marks.extend_from_slice(table.patterns(entry));
                entry.longer
            }
            None => false,
        };
        if !self.runs.is_empty() {
            self.runs.retain_mut(|run| {
                run.hash = extend(run.hash, word.hash);
                grow(run.start, run.hash)
            });
        }
        if self.matcher.first_words.may_hold(word.hash) {
            let hash = extend(RUN_SEED, word.hash);
            if grow(word.start, hash) {
                self.runs.push(Run {
                    start: word.start,
                    hash,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, terms: &[&str], negative: &[&str]) -> ProductTerms {
        ProductTerms {
            product_id: id,
            terms: terms.iter().map(|s| (*s).to_owned()).collect(),
            negative: negative.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn case_accents_and_punctuation_do_not_matter() {
        let m = Matcher::new(&[
            product(1, &["LED strip"], &[]),
            product(2, &["crème brûlée torch"], &[]),
        ]);
        assert_eq!(m.products_in("Best led-strip EVER!!!", &[]), [1]);
        assert_eq!(m.products_in("My CREME BRULEE torch arrived", &[]), [2]);
    }

    #[test]
    fn words_match_on_boundaries_only() {
        let m = Matcher::new(&[product(1, &["cat"], &[])]);
        assert!(m.products_in("new catalog out", &[]).is_empty());
        assert_eq!(m.products_in("my cat loves it", &[]), [1]);
    }

    #[test]
    fn hashtags_match_terms_written_without_spaces() {
        let m = Matcher::new(&[
            product(1, &["LED strip lights"], &[]),
            product(2, &["mug"], &[]),
        ]);
        assert_eq!(m.products_in("", &tags(&["#LEDStripLights"])), [1]);
        assert_eq!(m.products_in("", &tags(&["ledstriplightsdeal"])), [1]);
        assert!(
            m.products_in("", &tags(&["smugglers"])).is_empty(),
            "short terms need the whole tag"
        );
        assert_eq!(m.products_in("", &tags(&["mug"])), [2]);
    }

    #[test]
    fn negative_terms_veto_their_product_only() {
        let m = Matcher::new(&[
            product(1, &["apple watch band"], &["apple pie"]),
            product(2, &["pie dish"], &[]),
        ]);
        assert_eq!(
            m.products_in("apple watch band and apple pie in a pie dish", &[]),
            [2]
        );
        assert_eq!(m.products_in("my apple watch band", &[]), [1]);
    }

    #[test]
    fn no_products_or_empty_terms_match_nothing() {
        assert!(
            Matcher::new(&[])
                .products_in("anything", &tags(&["x"]))
                .is_empty()
        );
        let m = Matcher::new(&[product(1, &["", "!!!"], &[])]);
        assert!(m.products_in("!!!", &[]).is_empty());
    }

    /// The definition: decompose the whole text, then map character by character.
    fn reference(text: &str) -> String {
        let mut out = String::from(" ");
        let mut last_space = true;
        for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
            if c.is_alphanumeric() {
                out.extend(c.to_lowercase());
                last_space = false;
            } else if !last_space {
                out.push(' ');
                last_space = true;
            }
        }
        if !last_space {
            out.push(' ');
        }
        out
    }

    #[test]
    fn normalising_ascii_apart_from_the_rest_changes_nothing() {
        for text in [
            "Best LED-strip EVER!!! 🔥🔥",
            "e\u{301}clair and cafe\u{301} 😍 crème brûlée",
            "İstanbul ΣΊΣΥΦΟΣ straße ǅemal",
            "한국어 텍스트 a\u{323}\u{302}b",
            "x\u{302}\u{323}y ✨✨ #ad ½ Ⅻ ①",
            "",
            "🙌",
        ] {
            assert_eq!(normalize(text), reference(text), "{text}");
        }
    }

    #[test]
    fn a_term_and_its_veto_in_hashtags_and_text_together() {
        let m = Matcher::new(&[
            product(3, &["glow lamp"], &["lamp repair"]),
            product(1, &["desk mug"], &[]),
        ]);
        let found = m.products_in(
            "my Glow-Lamp 🔥 and desk mug",
            &tags(&["#GlowLamp", "#fyp"]),
        );
        assert_eq!(found, [1, 3]);
        assert_eq!(
            m.products_in("glow lamp", &tags(&["#LampRepair"])),
            [] as [i64; 0]
        );
        assert_eq!(
            m.products_in("", &tags(&["#glow", "#lamp"])),
            [] as [i64; 0]
        );
    }

    /// Every word's hash, computed on the way, is [`word_hash`] of its bytes
    /// as written (terms are hashed that way), whatever mix of ASCII and other
    /// characters and whatever length it has.
    #[test]
    fn eight_bytes_at_a_time_tell_letters_and_digits_as_one_byte_does() {
        for byte in 0..=255u8 {
            for lane in 0..8 {
                // The byte among neighbours of every kind: letters, digits, others.
                let mut chunk = *b"a0Z ~\xff9_";
                chunk[lane] = byte;
                let lanes = alphanumeric_lanes(u64::from_le_bytes(chunk));
                for (i, b) in chunk.iter().enumerate() {
                    let set = lanes >> (8 * i) & 0xff;
                    assert_eq!(
                        set == 0x80,
                        b.is_ascii_alphanumeric(),
                        "{byte:#x} in lane {lane}"
                    );
                    assert!(set == 0x80 || set == 0);
                }
            }
        }
    }

    #[test]
    fn words_are_hashed_as_their_normal_form() {
        struct Check(usize);
        impl WordSink for Check {
            fn word(&mut self, normal: &[u8], word: Word) {
                assert_eq!(word.hash, word_hash(&normal[word.start..word.end]));
                assert_eq!(normal[word.end], b' ');
                self.0 += 1;
            }
        }
        for (text, words) in [
            ("Best LED-strip EVER!!! 🔥🔥", 4),
            ("supercalifragilistic ABCDEFGH abcdefghijklmnop", 3),
            ("e\u{301}clairsAndMore12345 cafe\u{301}x ÉCLAIRS straße", 4),
            ("x\u{302}\u{323}yz İstanbul12345678 ΣΊΣΥΦΟΣ", 3),
        ] {
            let mut check = Check(0);
            normalize_into(text, &mut Vec::new(), &mut check);
            assert_eq!(check.0, words, "{text}");
        }
    }

    #[test]
    fn normalisation_is_stable() {
        assert_eq!(normalize("  Héllo,   WORLD!! "), " hello world ");
        assert_eq!(normalize(""), " ");
        assert_eq!(normalize(&normalize("Ça va?")), normalize("Ça va?"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The definition, product by product and term by term: a term matches
    /// when its padded normal form is in the text's or one tag's, or when its
    /// compact form is a tag's, or (long enough) begins or ends one.
    fn reference(products: &[ProductTerms], text: &str, hashtags: &[String]) -> Vec<i64> {
        let text = normalize(text);
        let tags: Vec<(String, String)> = hashtags
            .iter()
            .map(|tag| {
                let normal = normalize(tag);
                let compact = normal.replace(' ', "");
                (normal, compact)
            })
            .collect();
        let found = |term: &String| {
            let normal = normalize(term);
            let compact = normal.replace(' ', "");
            if compact.is_empty() {
                return false;
            }
            let long = compact.chars().count() >= MIN_AFFIX;
            text.contains(&normal)
                || tags.iter().any(|(tag, tag_compact)| {
                    tag.contains(&normal)
                        || *tag_compact == compact
                        || (long
                            && (tag_compact.starts_with(&compact)
                                || tag_compact.ends_with(&compact)))
                })
        };
        let mut ids: Vec<i64> = products
            .iter()
            .filter(|p| p.terms.iter().any(found) && !p.negative.iter().any(found))
            .map(|p| p.product_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Words that share prefixes, suffixes, accents and case, so that terms
    /// overlap each other and hashtags in every way.
    const WORDS: &[&str] = &[
        "led",
        "LED",
        "strip",
        "lights",
        "ledstrip",
        "stripLights",
        "lightsdeal",
        "Crème",
        "creme",
        "brûlée",
        "brulee",
        "mug",
        "smug",
        "cat",
        "catalog",
        "glow",
        "lamp",
        "repair",
        "e\u{301}clair",
        "éclair",
        "straße",
        "ΣΊΣΥΦΟΣ",
        "İstanbul",
        "x\u{302}\u{323}y",
        "2",
    ];
    const GAPS: &[&str] = &[
        " ", "  ", "-", "!! ", " 🔥 ", ", ", "_", "\u{301}", "…", "#", "",
    ];

    /// Words from [`WORDS`] joined by gaps from [`GAPS`].
    fn phrase(words: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        prop::collection::vec(
            (prop::sample::select(WORDS), prop::sample::select(GAPS)),
            words,
        )
        .prop_map(|parts| {
            parts
                .iter()
                .enumerate()
                .map(|(i, (word, gap))| {
                    if i == 0 {
                        (*word).to_owned()
                    } else {
                        format!("{gap}{word}")
                    }
                })
                .collect()
        })
    }

    fn products() -> impl Strategy<Value = Vec<ProductTerms>> {
        prop::collection::vec(
            (
                prop::collection::vec(phrase(1..4), 1..4),
                prop::collection::vec(phrase(1..3), 0..2),
            ),
            1..8,
        )
        .prop_map(|list| {
            list.into_iter()
                .enumerate()
                .map(|(i, (terms, negative))| ProductTerms {
                    product_id: 100 - i as i64,
                    terms,
                    negative,
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn matching_finds_exactly_what_the_definition_says(
            products in products(),
            text in phrase(0..12),
            hashtags in prop::collection::vec(phrase(1..4), 0..4),
        ) {
            let hashtags: Vec<String> = hashtags.iter().map(|t| format!("#{t}")).collect();
            let matcher = Matcher::new(&products);
            prop_assert_eq!(
                matcher.products_in(&text, &hashtags),
                reference(&products, &text, &hashtags)
            );
        }
    }
}
