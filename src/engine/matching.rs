//! Matching content to products: one Aho-Corasick automaton over every
//! product's terms, so the cost of matching a post does not grow with the
//! number of products.
//!
//! Text and terms are normalised the same way (lower case, accents removed,
//! punctuation as spaces), and matched on word boundaries: "LED strip" matches
//! "Best led-strip ever!" but "cat" does not match "catalog". Hashtags are also
//! compared with each term written without spaces, so `#ledstriplights`
//! matches the term "LED strip lights". A negative term found in the same
//! content vetoes its product.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
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

/// Buffers reused from one call of [`Matcher::products_in`] to the next, so
/// matching a post allocates nothing unless it names a product.
#[derive(Default)]
struct Scratch {
    /// The normalised text, then the normalised hashtags, one after the other.
    normal: Vec<u8>,
    /// Where each hashtag's normalised form lies in `normal`.
    tag_spans: Vec<(usize, usize)>,
    /// One hashtag, compact.
    compact: Vec<u8>,
    /// Patterns found.
    marks: Vec<Pattern>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

pub struct Matcher {
    product_ids: Vec<i64>,
    /// Over ` term ` (padded with spaces), searched in ` normalised text `.
    words: Option<AhoCorasick>,
    word_patterns: Vec<Pattern>,
    /// Compact terms (no spaces), for hashtags: equal to a tag...
    compact_exact: HashMap<String, Vec<Pattern>>,
    /// ...or, when long enough to be specific, beginning or ending it.
    compact_affix: Option<AhoCorasick>,
    affix_patterns: Vec<Pattern>,
}

/// Lower case, accents removed, anything but letters and digits as single
/// spaces, padded with one space on each side.
pub fn normalize(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    normalize_into(text, &mut out);
    String::from_utf8(out).expect("only whole characters are written")
}

/// Appends [`normalize`]`(text)`, as UTF-8, to `out`.
///
/// ASCII is handled byte by byte; only runs of other characters go through
/// Unicode decomposition, and only when they are not already decomposed (most
/// emoji are). That is exact: an ASCII character decomposes to itself and has
/// combining class 0, so decomposition never reorders across it.
fn normalize_into(text: &str, out: &mut Vec<u8>) {
    fn push(c: char, out: &mut Vec<u8>, last_space: &mut bool) {
        if c.is_alphanumeric() {
            for lower in c.to_lowercase() {
                out.extend_from_slice(lower.encode_utf8(&mut [0; 4]).as_bytes());
            }
            *last_space = false;
        } else if !*last_space {
            out.push(b' ');
            *last_space = true;
        }
    }
    out.push(b' ');
    let mut last_space = true;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if b.is_ascii_alphanumeric() {
                out.push(b.to_ascii_lowercase());
                last_space = false;
            } else if !last_space {
                out.push(b' ');
                last_space = true;
            }
            i += 1;
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(u8::is_ascii)
            .map_or(bytes.len(), |n| i + n);
        let run = &text[i..end];
        if is_nfd_quick(run.chars()) == IsNormalized::Yes {
            for c in run.chars().filter(|c| !is_combining_mark(*c)) {
                push(c, out, &mut last_space);
            }
        } else {
            for c in run.nfd().filter(|c| !is_combining_mark(*c)) {
                push(c, out, &mut last_space);
            }
        }
        i = end;
    }
    if !last_space {
        out.push(b' ');
    }
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn compact(term: &str) -> String {
    normalize(term)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Compact terms shorter than this must equal a hashtag; longer ones may also
/// begin or end it (`#ledstriplightsdeal`).
const MIN_AFFIX: usize = 6;

impl Matcher {
    pub fn new(products: &[ProductTerms]) -> Self {
        let mut word_texts = Vec::new();
        let mut word_patterns = Vec::new();
        let mut compact_exact: HashMap<String, Vec<Pattern>> = HashMap::new();
        let mut affix_texts = Vec::new();
        let mut affix_patterns = Vec::new();
        for (index, p) in products.iter().enumerate() {
            let lists = [(&p.terms, false), (&p.negative, true)];
            for (list, negative) in lists {
                for term in list {
                    let normal = normalize(term);
                    if normal.trim().is_empty() {
                        continue;
                    }
                    let pattern = Pattern {
                        product: index,
                        negative,
                    };
                    word_texts.push(normal);
                    word_patterns.push(pattern);
                    let short = compact(term);
                    if short.chars().count() >= MIN_AFFIX {
                        affix_texts.push(short.clone());
                        affix_patterns.push(pattern);
                    }
                    compact_exact.entry(short).or_default().push(pattern);
                }
            }
        }
        let words = (!word_texts.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&word_texts)
                .expect("normalised terms always build an automaton")
        });
        let compact_affix = (!affix_texts.is_empty()).then(|| {
            AhoCorasick::new(&affix_texts).expect("compact terms always build an automaton")
        });
        Self {
            product_ids: products.iter().map(|p| p.product_id).collect(),
            words,
            word_patterns,
            compact_exact,
            compact_affix,
            affix_patterns,
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
        let Some(words) = &self.words else {
            return Vec::new();
        };
        s.marks.clear();
        s.normal.clear();
        normalize_into(text, &mut s.normal);
        // Overlapping search: " led strip " and " strip " both count in " led strip ".
        for m in words.find_overlapping_iter(&s.normal) {
            s.marks.push(self.word_patterns[m.pattern().as_usize()]);
        }
        // The hashtags' normalised forms, one after the other.
        let tags_from = s.normal.len();
        s.tag_spans.clear();
        for tag in hashtags {
            let from = s.normal.len();
            normalize_into(tag, &mut s.normal);
            s.tag_spans.push((from, s.normal.len()));
        }
        if !hashtags.is_empty() {
            for m in words.find_overlapping_iter(&s.normal[tags_from..]) {
                s.marks.push(self.word_patterns[m.pattern().as_usize()]);
            }
        }
        for &(from, to) in &s.tag_spans {
            // The compact form is the normalised one without its spaces.
            s.compact.clear();
            s.compact
                .extend(s.normal[from..to].iter().filter(|b| **b != b' '));
            let tag = std::str::from_utf8(&s.compact).expect("whole characters without spaces");
            if tag.is_empty() {
                continue;
            }
            if let Some(patterns) = self.compact_exact.get(tag) {
                s.marks.extend_from_slice(patterns);
            }
            if let Some(affix) = &self.compact_affix {
                for m in affix.find_overlapping_iter(tag) {
                    if m.start() == 0 || m.end() == tag.len() {
                        s.marks.push(self.affix_patterns[m.pattern().as_usize()]);
                    }
                }
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

    #[test]
    fn normalisation_is_stable() {
        assert_eq!(normalize("  Héllo,   WORLD!! "), " hello world ");
        assert_eq!(normalize(""), " ");
        assert_eq!(normalize(&normalize("Ça va?")), normalize("Ça va?"));
    }
}
