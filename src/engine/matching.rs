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

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use unicode_normalization::UnicodeNormalization;

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
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
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
        let n = self.product_ids.len();
        let mut hit = vec![false; n];
        let mut vetoed = vec![false; n];
        let mut mark = |p: Pattern| {
            if p.negative {
                vetoed[p.product] = true;
            } else {
                hit[p.product] = true;
            }
        };
        if let Some(words) = &self.words {
            let normal = normalize(text);
            // Overlapping search: " led strip " and " strip " both count in " led strip ".
            for m in words.find_overlapping_iter(&normal) {
                mark(self.word_patterns[m.pattern().as_usize()]);
            }
            let tags = hashtags
                .iter()
                .map(|t| normalize(t))
                .collect::<Vec<_>>()
                .join("");
            if !tags.is_empty() {
                for m in words.find_overlapping_iter(&tags) {
                    mark(self.word_patterns[m.pattern().as_usize()]);
                }
            }
        }
        for tag in hashtags {
            let tag = compact(tag);
            if tag.is_empty() {
                continue;
            }
            for pattern in self.compact_exact.get(&tag).into_iter().flatten() {
                mark(*pattern);
            }
            if let Some(affix) = &self.compact_affix {
                for m in affix.find_overlapping_iter(&tag) {
                    if m.start() == 0 || m.end() == tag.len() {
                        mark(self.affix_patterns[m.pattern().as_usize()]);
                    }
                }
            }
        }
        let mut out: Vec<i64> = (0..n)
            .filter(|&i| hit[i] && !vetoed[i])
            .map(|i| self.product_ids[i])
            .collect();
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

    #[test]
    fn normalisation_is_stable() {
        assert_eq!(normalize("  Héllo,   WORLD!! "), " hello world ");
        assert_eq!(normalize(""), " ");
        assert_eq!(normalize(&normalize("Ça va?")), normalize("Ça va?"));
    }
}
