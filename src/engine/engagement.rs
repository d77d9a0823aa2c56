//! Engagement score of an ad's copy (0-100): how strongly the text itself is
//! built to make people stop and act. Used until real engagement metrics
//! arrive from the platform connectors.

/// Ads scoring at least this much are reported as viral by `/scan-ads`.
pub const VIRAL_THRESHOLD: i64 = 70;

/// Words that signal urgency, scarcity or a call to action.
const HOOK_WORDS: &[&str] = &[
    "viral",
    "trending",
    "limited",
    "sale",
    "deal",
    "now",
    "today",
    "sold out",
    "must-have",
    "free shipping",
    "% off",
    "last chance",
    "alert",
    "new",
];

/// Scores ad copy: a base of 40, plus
/// - length: up to +20 (one point per 20 characters; very short copy says little),
/// - hook words: +10 each, at most +20,
/// - exclamation marks: +5 each, at most +15,
/// - at least one emoji or pictograph: +5,
/// - mostly capital letters (shouting): +5,
///
/// capped to 0-100.
pub fn engagement_score(content: &str) -> i64 {
    let lower = content.to_lowercase();
    let chars = content.chars().count() as i64;
    let mut score = 40;
    score += (chars / 20).min(20);
    score += (HOOK_WORDS.iter().filter(|w| lower.contains(*w)).count() as i64 * 10).min(20);
    score += (content.matches('!').count() as i64 * 5).min(15);
    if content.chars().any(is_pictograph) {
        score += 5;
    }
    let (letters, upper) = content
        .chars()
        .filter(|c| c.is_alphabetic())
        .fold((0, 0), |(l, u), c| (l + 1, u + i64::from(c.is_uppercase())));
    if letters >= 4 && upper * 2 > letters {
        score += 5;
    }
    score.clamp(0, 100)
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x2600..=0x27BF | 0x1F300..=0x1FAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_short_copy_stays_low() {
        assert_eq!(engagement_score("Earbuds"), 40);
    }

    #[test]
    fn hooks_exclamations_and_emoji_add_up_to_viral() {
        let copy = "🔥 VIRAL deal of the day! Get yours now before they sell out!!";
        let score = engagement_score(copy);
        assert!(score >= VIRAL_THRESHOLD, "{score}");
    }

    #[test]
    fn the_score_is_bounded() {
        let copy = "🔥 VIRAL SALE NOW TODAY LIMITED DEAL!!!!!!!!! ".repeat(100);
        assert_eq!(engagement_score(&copy), 100);
        assert_eq!(engagement_score(""), 40);
    }
}
