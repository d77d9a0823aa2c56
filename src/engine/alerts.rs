//! Watchlist alert rules: when a watched product's change is news.
//!
//! Pure: the caller hands in the readings (score history rows) it has not
//! evaluated yet, the product's viral ads and hot countries, the rules and
//! what earlier evaluations remembered (`RuleState`); `evaluate` answers the
//! alerts to raise and the state to remember. Each alert carries an event key
//! that names the event (a reading, an ad, a country), so storing the same
//! event twice (a restart, a second server) is refused by the database.
//!
//! Noise control, in order: every rule is edge-triggered (it fires when its
//! condition becomes true, and re-arms only once it has been false), may
//! require N consecutive confirming readings, has a cooldown, and a snoozed
//! product raises nothing (its state still moves on, so the end of a snooze
//! does not replay what happened during it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::detect::Stage;

/// Rule names, as stored on alerts and accepted by filters.
pub const RULES: [&str; 6] = [
    "score_threshold",
    "score_jump",
    "stage_change",
    "viral_ad",
    "forecast_growth",
    "new_country",
];

/// Ads the state remembers having alerted on, newest kept.
const REMEMBERED_ADS: usize = 200;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    fn up(self) -> bool {
        matches!(self, Direction::Up | Direction::Both)
    }
    fn down(self) -> bool {
        matches!(self, Direction::Down | Direction::Both)
    }
}

/// The score crosses `threshold` (upwards, downwards or both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    pub enabled: bool,
    #[schema(minimum = 0, maximum = 100)]
    pub threshold: f64,
    pub direction: Direction,
    /// Consecutive readings on the new side before it counts (1: the first).
    #[schema(minimum = 1, maximum = 10)]
    pub confirmations: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// The score moves by at least `points` over the last `within_hours` (against
/// the score that long before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JumpRule {
    pub enabled: bool,
    #[schema(minimum = 1, maximum = 100)]
    pub points: f64,
    #[schema(minimum = 1, maximum = 168)]
    pub within_hours: u32,
    pub direction: Direction,
    #[schema(minimum = 1, maximum = 10)]
    pub confirmations: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// The stage changes to one of `stages` (every stage when empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRule {
    pub enabled: bool,
    pub stages: Vec<String>,
    #[schema(minimum = 1, maximum = 10)]
    pub confirmations: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// An ad for the product reaches a viral score of `min_score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViralAdRule {
    pub enabled: bool,
    #[schema(minimum = 0, maximum = 100)]
    pub min_score: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// The next 14 days are forecast at least `percent` above the last 14.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrowthRule {
    pub enabled: bool,
    #[schema(minimum = 1, maximum = 1000)]
    pub percent: f64,
    #[schema(minimum = 1, maximum = 10)]
    pub confirmations: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// Interest in a country reaches `min_interest` (0-100, relative to the
/// product's hottest place) for the first time since the product was watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountryRule {
    pub enabled: bool,
    #[schema(minimum = 1, maximum = 100)]
    pub min_interest: u32,
    #[schema(maximum = 43200)]
    pub cooldown_minutes: u32,
}

/// Every rule of one watched product (or a user's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    pub score_threshold: ThresholdRule,
    pub score_jump: JumpRule,
    pub stage_change: StageRule,
    pub viral_ad: ViralAdRule,
    pub forecast_growth: GrowthRule,
    pub new_country: CountryRule,
}

impl Default for AlertRules {
    /// What a seller wants without configuring anything: the moves that change
    /// a buying decision, each at most a few times a day.
    fn default() -> Self {
        Self {
            score_threshold: ThresholdRule {
                enabled: true,
                threshold: 70.0,
                direction: Direction::Up,
                confirmations: 1,
                cooldown_minutes: 360,
            },
            score_jump: JumpRule {
                enabled: true,
                points: 15.0,
                within_hours: 24,
                direction: Direction::Up,
                confirmations: 1,
                cooldown_minutes: 720,
            },
            stage_change: StageRule {
                enabled: true,
                stages: ["exploding", "peaking", "saturated", "declining"]
                    .map(String::from)
                    .to_vec(),
                confirmations: 1,
                cooldown_minutes: 720,
            },
            viral_ad: ViralAdRule {
                enabled: true,
                min_score: 70,
                cooldown_minutes: 60,
            },
            forecast_growth: GrowthRule {
                enabled: true,
                percent: 50.0,
                confirmations: 1,
                cooldown_minutes: 1440,
            },
            new_country: CountryRule {
                enabled: true,
                min_interest: 50,
                cooldown_minutes: 0,
            },
        }
    }
}

/// A problem in a rules document: where (the path of keys) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleProblem {
    pub path: Vec<String>,
    pub message: String,
}

impl AlertRules {
    /// Reads stored rules; a document from an older version falls back to the defaults.
    pub fn from_stored(json: Option<&str>) -> Option<Self> {
        json.and_then(|j| serde_json::from_str(j).ok())
    }

    /// `patch` (a full or partial rules document) applied over `self`:
    /// objects merge key by key, so `{"viral_ad": {"min_score": 80}}` changes
    /// one number. Every problem is named with its path.
    pub fn patched(&self, patch: &Value) -> Result<Self, Vec<RuleProblem>> {
        let mut doc = serde_json::to_value(self).expect("rules serialise");
        if !patch.is_object() {
            return Err(vec![RuleProblem {
                path: vec![],
                message: "Input should be a valid dictionary".into(),
            }]);
        }
        let mut problems = Vec::new();
        merge(&mut doc, patch, &mut Vec::new(), &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let rules: AlertRules = match serde_json::from_value(doc) {
            Ok(rules) => rules,
            Err(e) => return Err(self.unreadable(patch, e)),
        };
        let problems = rules.problems();
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// Every problem of a patch whose values have the right kinds but do not
    /// read as rules (a direction or a stage that does not exist): each field
    /// is tried alone on the current rules, so each problem gets its path, and
    /// the fields that do read are range-checked too.
    fn unreadable(&self, patch: &Value, whole: serde_json::Error) -> Vec<RuleProblem> {
        let base = serde_json::to_value(self).expect("rules serialise");
        let mut kept = base.clone();
        let mut problems = Vec::new();
        let fields = patch
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(rule, fields)| {
                fields
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(field, value)| (rule, field, value))
            });
        for (rule, field, value) in fields {
            let mut alone = base.clone();
            alone[rule][field] = value.clone();
            match serde_json::from_value::<AlertRules>(alone) {
                Ok(_) => kept[rule][field] = value.clone(),
                Err(e) => problems.push(RuleProblem {
                    path: vec![rule.clone(), field.clone()],
                    message: readable(&e),
                }),
            }
        }
        if let Ok(rules) = serde_json::from_value::<AlertRules>(kept) {
            problems.extend(rules.problems());
        }
        if problems.is_empty() {
            problems.push(RuleProblem {
                path: vec![],
                message: readable(&whole),
            });
        }
        problems
    }

    /// Range checks, each problem named with its path.
    pub fn problems(&self) -> Vec<RuleProblem> {
        let mut out = Vec::new();
        let mut check = |rule: &str, field: &str, ok: bool, message: String| {
            if !ok {
                out.push(RuleProblem {
                    path: vec![rule.to_owned(), field.to_owned()],
                    message,
                });
            }
        };
        let range = |lo: f64, hi: f64| format!("Input should be between {lo} and {hi}");
        let t = &self.score_threshold;
        check(
            "score_threshold",
            "threshold",
            (0.0..=100.0).contains(&t.threshold),
            range(0.0, 100.0),
        );
        let j = &self.score_jump;
        check(
            "score_jump",
            "points",
            (1.0..=100.0).contains(&j.points),
            range(1.0, 100.0),
        );
        check(
            "score_jump",
            "within_hours",
            (1..=168).contains(&j.within_hours),
            range(1.0, 168.0),
        );
        for (i, s) in self.stage_change.stages.iter().enumerate() {
            check(
                "stage_change",
                &format!("stages.{i}"),
                Stage::ALL.iter().any(|st| st.as_str() == s),
                format!(
                    "Input should be one of: {}",
                    Stage::ALL.map(|s| s.as_str()).join(", ")
                ),
            );
        }
        check(
            "viral_ad",
            "min_score",
            self.viral_ad.min_score <= 100,
            range(0.0, 100.0),
        );
        check(
            "forecast_growth",
            "percent",
            (1.0..=1000.0).contains(&self.forecast_growth.percent),
            range(1.0, 1000.0),
        );
        check(
            "new_country",
            "min_interest",
            (1..=100).contains(&self.new_country.min_interest),
            range(1.0, 100.0),
        );
        let confirmations = [
            ("score_threshold", t.confirmations),
            ("score_jump", j.confirmations),
            ("stage_change", self.stage_change.confirmations),
            ("forecast_growth", self.forecast_growth.confirmations),
        ];
        for (rule, n) in confirmations {
            check(
                rule,
                "confirmations",
                (1..=10).contains(&n),
                range(1.0, 10.0),
            );
        }
        let cooldowns = [
            ("score_threshold", t.cooldown_minutes),
            ("score_jump", j.cooldown_minutes),
            ("stage_change", self.stage_change.cooldown_minutes),
            ("viral_ad", self.viral_ad.cooldown_minutes),
            ("forecast_growth", self.forecast_growth.cooldown_minutes),
            ("new_country", self.new_country.cooldown_minutes),
        ];
        for (rule, m) in cooldowns {
            check(rule, "cooldown_minutes", m <= 43_200, range(0.0, 43_200.0));
        }
        out
    }

    /// The longest look-back any rule needs, in milliseconds.
    pub fn jump_window_ms(&self) -> i64 {
        i64::from(self.score_jump.within_hours) * HOUR_MS
    }
}

/// serde's "unknown variant `x`, expected one of `a`, `b`" in pydantic's words.
fn readable(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.split_once("expected one of ") {
        Some((_, choices)) => {
            let choices: Vec<String> = choices
                .split(", ")
                .map(|c| format!("'{}'", c.trim_matches('`')))
                .collect();
            match choices.split_last() {
                Some((last, [])) => format!("Input should be {last}"),
                Some((last, rest)) => format!("Input should be {} or {last}", rest.join(", ")),
                None => text,
            }
        }
        None => text,
    }
}

fn merge(doc: &mut Value, patch: &Value, path: &mut Vec<String>, problems: &mut Vec<RuleProblem>) {
    let (Some(target), Some(source)) = (doc.as_object_mut(), patch.as_object()) else {
        return;
    };
    for (key, value) in source {
        path.push(key.clone());
        match target.get_mut(key) {
            None => problems.push(RuleProblem {
                path: path.clone(),
                message: "Extra inputs are not permitted".into(),
            }),
            Some(slot) if slot.is_object() => {
                if value.is_object() {
                    merge(slot, value, path, problems);
                } else {
                    problems.push(RuleProblem {
                        path: path.clone(),
                        message: "Input should be a valid dictionary".into(),
                    });
                }
            }
            Some(slot) => {
                let same_kind = match (&*slot, value) {
                    (Value::Bool(_), Value::Bool(_)) => true,
                    (Value::Number(_), Value::Number(n)) => {
                        slot.as_f64().is_none_or(|_| n.as_f64().is_some())
                            && (!slot.is_u64() || n.is_u64())
                    }
                    (Value::String(_), Value::String(_)) => true,
                    (Value::Array(_), Value::Array(items)) => items.iter().all(Value::is_string),
                    _ => false,
                };
                if same_kind {
                    *slot = value.clone();
                } else {
                    let expected = match &*slot {
                        Value::Bool(_) => "Input should be a valid boolean",
                        Value::Number(n) if n.is_u64() => {
                            "Input should be a valid non-negative integer"
                        }
                        Value::Number(_) => "Input should be a valid number",
                        Value::String(_) => "Input should be a valid string",
                        _ => "Input should be a valid list of strings",
                    };
                    problems.push(RuleProblem {
                        path: path.clone(),
                        message: expected.into(),
                    });
                }
            }
        }
        path.pop();
    }
}

/// An edge detector with confirmations: `on` changes only after
/// `confirmations` consecutive readings disagree with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    #[serde(default, skip_serializing_if = "is_default")]
    pub on: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub streak: u32,
}

impl Edge {
    /// Feeds one reading; answers the new value when it changed.
    fn step(&mut self, condition: bool, confirmations: u32) -> Option<bool> {
        if condition == self.on {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak >= confirmations.max(1) {
            self.on = condition;
            self.streak = 0;
            Some(condition)
        } else {
            None
        }
    }
}

/// Whether serde may leave a field out: what is stored after every
/// evaluation that changes it is then half the size (fewer pages to write,
/// less to read back), and reads back the same through `serde(default)`.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// What evaluation remembers between runs, per watched product (stored as
/// JSON, without the fields that hold their defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    #[serde(default, skip_serializing_if = "is_default")]
    pub above: Edge,
    #[serde(default, skip_serializing_if = "is_default")]
    pub jump_up: Edge,
    #[serde(default, skip_serializing_if = "is_default")]
    pub jump_down: Edge,
    /// The confirmed stage, and a different one being confirmed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub stage_candidate: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub stage_streak: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub growth: Edge,
    /// Countries whose interest has reached the rule's level since watching.
    #[serde(default, skip_serializing_if = "is_default")]
    pub countries: Vec<String>,
    /// Ads already alerted on (the newest few hundred).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ads: Vec<i64>,
    /// When each rule last raised an alert (for cooldowns).
    #[serde(default, skip_serializing_if = "is_default")]
    pub fired: BTreeMap<String, i64>,
}

impl RuleState {
    /// The state of a product just added to a watchlist: what is already true
    /// is not news.
    pub fn at_watch(rules: &AlertRules, now: &Snapshot) -> Self {
        let mut state = RuleState {
            above: Edge {
                on: now
                    .score
                    .is_some_and(|s| s >= rules.score_threshold.threshold),
                streak: 0,
            },
            stage: now.stage.clone(),
            growth: Edge {
                on: now
                    .forecast_growth
                    .is_some_and(|g| g >= rules.forecast_growth.percent),
                streak: 0,
            },
            ..Default::default()
        };
        state.countries = now
            .countries
            .iter()
            .filter(|(_, i)| *i >= i64::from(rules.new_country.min_interest))
            .map(|(c, _)| c.clone())
            .collect();
        state.countries.sort();
        state.ads = now.viral_ads.iter().map(|a| a.id).collect();
        state
    }

    pub fn from_stored(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("state serialises")
    }
}

/// A product's interest per country as one short text (`US:100 DE:55`),
/// stored with the product at each refresh so an evaluation reads one row
/// per product rather than one per place.
pub fn countries_text<'a>(countries: impl Iterator<Item = (&'a str, i64)>) -> String {
    let mut out = String::new();
    for (country, interest) in countries {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(country);
        out.push(':');
        out.push_str(&interest.to_string());
    }
    out
}

/// The countries of [`countries_text`] at or above `min` interest.
pub fn parse_countries(text: &str, min: i64) -> Vec<(String, i64)> {
    text.split_ascii_whitespace()
        .filter_map(|item| {
            let (country, interest) = item.split_once(':')?;
            let interest: i64 = interest.parse().ok()?;
            (interest >= min).then(|| (country.to_owned(), interest))
        })
        .collect()
}

/// What a product looks like when it is put on a watchlist.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub score: Option<f64>,
    pub stage: Option<String>,
    pub forecast_growth: Option<f64>,
    pub countries: Vec<(String, i64)>,
    pub viral_ads: Vec<AdSeen>,
}

/// One row of a product's score history not evaluated yet, with the range of
/// scores in the jump rule's window before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: i64,
    pub at: i64,
    pub score: f64,
    pub stage: Option<String>,
    pub forecast_growth: Option<f64>,
    /// The score of the reading just before this one.
    pub previous: Option<f64>,
    /// The score as it was one jump window earlier: the last reading at least
    /// that old, or the product's first reading when it is younger than the window.
    pub base: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdSeen {
    pub id: i64,
    pub platform: String,
    pub score: i64,
}

/// Everything new about one watched product since its last evaluation.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub product_id: i64,
    pub product_name: &'a str,
    /// Oldest first.
    pub readings: &'a [Reading],
    /// The product's ads at or above some viral score, oldest first.
    pub viral_ads: &'a [AdSeen],
    /// Interest (0-100) per country, as of now.
    pub countries: &'a [(String, i64)],
    pub snoozed_until: Option<i64>,
    pub now: i64,
}

/// An alert to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: &'static str,
    pub event_key: String,
    pub message: String,
    pub value_before: Option<f64>,
    pub value_after: Option<f64>,
    pub at: i64,
}

struct Sink<'s> {
    state: &'s mut RuleState,
    snoozed_until: Option<i64>,
    out: Vec<Fired>,
}

impl Sink<'_> {
    /// Raises `fired` unless the product is snoozed or its rule cools down.
    fn raise(&mut self, fired: Fired, cooldown_minutes: u32) {
        let key = fired.rule.to_owned();
        self.raise_keyed(fired, key, cooldown_minutes);
    }

    /// As `raise`, with the cooldown kept under `key` (a rule and a platform, say).
    fn raise_keyed(&mut self, fired: Fired, key: String, cooldown_minutes: u32) {
        if self.snoozed_until.is_some_and(|until| fired.at < until) {
            return;
        }
        if let Some(last) = self.state.fired.get(&key)
            && fired.at - last < i64::from(cooldown_minutes) * MINUTE_MS
        {
            return;
        }
        self.state.fired.insert(key, fired.at);
        self.out.push(fired);
    }
}

/// Evaluates every rule over what is new, oldest reading first.
pub fn evaluate(rules: &AlertRules, input: &Inputs<'_>, state: &mut RuleState) -> Vec<Fired> {
    let name = input.product_name;
    let p = input.product_id;
    let mut sink = Sink {
        state,
        snoozed_until: input.snoozed_until,
        out: Vec::new(),
    };
    for r in input.readings {
        threshold(rules, name, p, r, &mut sink);
        jump(rules, name, p, r, &mut sink);
        stage(rules, name, p, r, &mut sink);
        growth(rules, name, p, r, &mut sink);
    }
    viral_ads(rules, input, &mut sink);
    new_countries(rules, input, &mut sink);
    sink.out
}

fn threshold(rules: &AlertRules, name: &str, p: i64, r: &Reading, sink: &mut Sink<'_>) {
    let rule = &rules.score_threshold;
    let t = rule.threshold;
    let Some(now_above) = sink.state.above.step(r.score >= t, rule.confirmations) else {
        return;
    };
    if !rule.enabled
        || (now_above && !rule.direction.up())
        || (!now_above && !rule.direction.down())
    {
        return;
    }
    let (message, way) = if now_above {
        (
            format!("🚀 {name} trend score rose above {t} (now {:.1})", r.score),
            "up",
        )
    } else {
        (
            format!("📉 {name} trend score fell below {t} (now {:.1})", r.score),
            "down",
        )
    };
    sink.raise(
        Fired {
            rule: "score_threshold",
            event_key: format!("score_threshold:p{p}:s{}:{way}", r.id),
            message,
            value_before: r.previous,
            value_after: Some(r.score),
            at: r.at,
        },
        rule.cooldown_minutes,
    );
}

fn jump(rules: &AlertRules, name: &str, p: i64, r: &Reading, sink: &mut Sink<'_>) {
    let rule = &rules.score_jump;
    let rise = r.base.map(|base| (r.score - base, base));
    let fall = r.base.map(|base| (base - r.score, base));
    let went_up = sink.state.jump_up.step(
        rise.is_some_and(|(d, _)| d >= rule.points),
        rule.confirmations,
    ) == Some(true);
    let went_down = sink.state.jump_down.step(
        fall.is_some_and(|(d, _)| d >= rule.points),
        rule.confirmations,
    ) == Some(true);
    if !rule.enabled {
        return;
    }
    if went_up && rule.direction.up() {
        let (d, low) = rise.expect("a rise was measured");
        sink.raise(
            Fired {
                rule: "score_jump",
                event_key: format!("score_jump:p{p}:s{}:up", r.id),
                message: format!("🚀 {name} trend score increased by {d:.1} points!"),
                value_before: Some(low),
                value_after: Some(r.score),
                at: r.at,
            },
            rule.cooldown_minutes,
        );
    }
    if went_down && rule.direction.down() {
        let (d, high) = fall.expect("a fall was measured");
        sink.raise(
            Fired {
                rule: "score_jump",
                event_key: format!("score_jump:p{p}:s{}:down", r.id),
                message: format!("📉 {name} trend score decreased by {d:.1} points"),
                value_before: Some(high),
                value_after: Some(r.score),
                at: r.at,
            },
            rule.cooldown_minutes,
        );
    }
}

fn stage(rules: &AlertRules, name: &str, p: i64, r: &Reading, sink: &mut Sink<'_>) {
    let rule = &rules.stage_change;
    let Some(seen) = r.stage.as_deref() else {
        return;
    };
    let state = &mut *sink.state;
    if state.stage.as_deref() == Some(seen) {
        state.stage_candidate = None;
        state.stage_streak = 0;
        return;
    }
    if state.stage_candidate.as_deref() == Some(seen) {
        state.stage_streak += 1;
    } else {
        state.stage_candidate = Some(seen.to_owned());
        state.stage_streak = 1;
    }
    if state.stage_streak < rule.confirmations.max(1) {
        return;
    }
    let was = state.stage.replace(seen.to_owned());
    state.stage_candidate = None;
    state.stage_streak = 0;
    let wanted = rule.stages.is_empty() || rule.stages.iter().any(|s| s == seen);
    if !rule.enabled || !wanted {
        return;
    }
    let arrow = match seen {
        "saturated" | "declining" | "dormant" => "📉",
        _ => "📈",
    };
    let message = match &was {
        Some(was) => format!("{arrow} {name} is now {seen} (was {was})"),
        None => format!("{arrow} {name} is now {seen}"),
    };
    sink.raise(
        Fired {
            rule: "stage_change",
            event_key: format!("stage_change:p{p}:s{}", r.id),
            message,
            value_before: None,
            value_after: Some(r.score),
            at: r.at,
        },
        rule.cooldown_minutes,
    );
}

fn growth(rules: &AlertRules, name: &str, p: i64, r: &Reading, sink: &mut Sink<'_>) {
    let rule = &rules.forecast_growth;
    let Some(g) = r.forecast_growth else {
        return;
    };
    let Some(true) = sink
        .state
        .growth
        .step(g >= rule.percent, rule.confirmations)
    else {
        return;
    };
    if !rule.enabled {
        return;
    }
    sink.raise(
        Fired {
            rule: "forecast_growth",
            event_key: format!("forecast_growth:p{p}:s{}", r.id),
            message: format!(
                "🔮 {name}: the next 14 days are forecast {g:.0}% busier than the last 14"
            ),
            value_before: None,
            value_after: Some(g),
            at: r.at,
        },
        rule.cooldown_minutes,
    );
}

fn viral_ads(rules: &AlertRules, input: &Inputs<'_>, sink: &mut Sink<'_>) {
    let rule = &rules.viral_ad;
    let fresh: Vec<&AdSeen> = input
        .viral_ads
        .iter()
        .filter(|a| a.score >= i64::from(rule.min_score) && !sink.state.ads.contains(&a.id))
        .collect();
    if fresh.is_empty() {
        return;
    }
    sink.state.ads.extend(fresh.iter().map(|a| a.id));
    sink.state.ads.sort_unstable();
    let excess = sink.state.ads.len().saturating_sub(REMEMBERED_ADS);
    sink.state.ads.drain(..excess);
    if !rule.enabled {
        return;
    }
    // One alert per platform: ten viral ads from one scan are one piece of news.
    let mut platforms: Vec<&str> = fresh.iter().map(|a| a.platform.as_str()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let name = input.product_name;
    for platform in platforms {
        let on: Vec<&&AdSeen> = fresh.iter().filter(|a| a.platform == platform).collect();
        let newest = on.iter().map(|a| a.id).max().expect("at least one ad");
        let best = on.iter().map(|a| a.score).max().expect("at least one ad");
        let message = if on.len() == 1 {
            format!("🔥 New viral ad detected for {name} on {platform}!")
        } else {
            format!(
                "🔥 {} new viral ads detected for {name} on {platform}!",
                on.len()
            )
        };
        sink.raise_keyed(
            Fired {
                rule: "viral_ad",
                event_key: format!("viral_ad:p{}:a{newest}", input.product_id),
                message,
                value_before: None,
                value_after: Some(best as f64),
                at: input.now,
            },
            format!("viral_ad:{platform}"),
            rule.cooldown_minutes,
        );
    }
}

fn new_countries(rules: &AlertRules, input: &Inputs<'_>, sink: &mut Sink<'_>) {
    let rule = &rules.new_country;
    let min = i64::from(rule.min_interest);
    let mut fresh: Vec<&(String, i64)> = input
        .countries
        .iter()
        .filter(|(c, i)| *i >= min && sink.state.countries.binary_search(c).is_err())
        .collect();
    fresh.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (country, interest) in fresh {
        let at = sink
            .state
            .countries
            .binary_search(country)
            .expect_err("fresh countries are not known yet");
        sink.state.countries.insert(at, country.clone());
        if !rule.enabled {
            continue;
        }
        sink.raise(
            Fired {
                rule: "new_country",
                event_key: format!("new_country:p{}:{country}", input.product_id),
                message: format!(
                    "🌍 {} is catching on in {country} (interest {interest}/100)",
                    input.product_name
                ),
                value_before: None,
                value_after: Some(*interest as f64),
                at: input.now,
            },
            rule.cooldown_minutes,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MS;

    #[test]
    fn every_problem_of_a_rules_patch_is_named_with_its_path() {
        let patch = serde_json::json!({
            "score_threshold": {"threshold": 170, "direction": "sideways"},
            "stage_change": {"stages": ["exploding", "viral"]},
            "viral_ad": {"min_score": 101},
        });
        let problems = AlertRules::default().patched(&patch).unwrap_err();
        let mut named: Vec<(String, &str)> = problems
            .iter()
            .map(|p| (p.path.join("."), p.message.as_str()))
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                (
                    "score_threshold.direction".to_owned(),
                    "Input should be 'up', 'down' or 'both'"
                ),
                (
                    "score_threshold.threshold".to_owned(),
                    "Input should be between 0 and 100"
                ),
                (
                    "stage_change.stages.1".to_owned(),
                    "Input should be one of: emerging, rising, exploding, peaking, saturated, declining, dormant"
                ),
                (
                    "viral_ad.min_score".to_owned(),
                    "Input should be between 0 and 100"
                ),
            ]
        );
    }

    #[test]
    fn a_stored_state_leaves_out_its_defaults_and_reads_back_the_same() {
        assert_eq!(RuleState::default().to_stored(), "{}");
        let state = RuleState {
            jump_down: Edge {
                on: true,
                streak: 0,
            },
            growth: Edge {
                on: false,
                streak: 2,
            },
            stage: Some("peaking".into()),
            countries: vec!["CA".into(), "MX".into()],
            ads: vec![3],
            fired: BTreeMap::from([("viral_ad:tiktok".into(), 1_763_640_000_000)]),
            ..RuleState::default()
        };
        let stored = state.to_stored();
        assert_eq!(
            stored,
            r#"{"jump_down":{"on":true},"stage":"peaking","growth":{"streak":2},"countries":["CA","MX"],"ads":[3],"fired":{"viral_ad:tiktok":1763640000000}}"#
        );
        assert_eq!(RuleState::from_stored(&stored), state);
        // As stored before defaults were left out.
        let full = r#"{"above":{"on":false,"streak":0},"jump_up":{"on":false,"streak":0},"jump_down":{"on":true,"streak":0},"stage":"peaking","stage_candidate":null,"stage_streak":0,"growth":{"on":false,"streak":2},"countries":["CA","MX"],"ads":[3],"fired":{"viral_ad:tiktok":1763640000000}}"#;
        assert_eq!(RuleState::from_stored(full), state);
    }

    /// Readings one hour apart with the given scores; each knows the range of
    /// the scores in the 24 hours before it.
    fn history(scores: &[f64]) -> Vec<Reading> {
        history_with(scores, |_| None, |_| None)
    }

    fn history_with(
        scores: &[f64],
        stage: impl Fn(usize) -> Option<&'static str>,
        growth: impl Fn(usize) -> Option<f64>,
    ) -> Vec<Reading> {
        (0..scores.len())
            .map(|i| {
                Reading {
                    id: i as i64 + 1,
                    at: i as i64 * H,
                    score: scores[i],
                    stage: stage(i).map(String::from),
                    forecast_growth: growth(i),
                    previous: i.checked_sub(1).map(|j| scores[j]),
                    // One reading an hour: the score 24 readings back, or the first.
                    base: (i > 0).then(|| scores[i.saturating_sub(24)]),
                }
            })
            .collect()
    }

    fn run(rules: &AlertRules, readings: &[Reading], state: &mut RuleState) -> Vec<Fired> {
        run_with(rules, readings, &[], &[], None, state)
    }

    fn run_with(
        rules: &AlertRules,
        readings: &[Reading],
        ads: &[AdSeen],
        countries: &[(String, i64)],
        snoozed_until: Option<i64>,
        state: &mut RuleState,
    ) -> Vec<Fired> {
        evaluate(
            rules,
            &Inputs {
                product_id: 7,
                product_name: "Lamp",
                readings,
                viral_ads: ads,
                countries,
                snoozed_until,
                now: readings.last().map_or(0, |r| r.at),
            },
            state,
        )
    }

    fn only(rule: &str) -> AlertRules {
        let mut rules = AlertRules::default();
        rules.score_threshold.enabled = rule == "score_threshold";
        rules.score_jump.enabled = rule == "score_jump";
        rules.stage_change.enabled = rule == "stage_change";
        rules.viral_ad.enabled = rule == "viral_ad";
        rules.forecast_growth.enabled = rule == "forecast_growth";
        rules.new_country.enabled = rule == "new_country";
        rules
    }

    fn messages(fired: &[Fired]) -> Vec<&str> {
        fired.iter().map(|f| f.message.as_str()).collect()
    }

    #[test]
    fn a_threshold_fires_once_when_crossed_and_again_only_after_falling_back() {
        let mut rules = only("score_threshold");
        rules.score_threshold.cooldown_minutes = 0;
        let mut state = RuleState::default();
        let fired = run(
            &rules,
            &history(&[50.0, 72.0, 75.0, 80.0, 60.0, 71.0]),
            &mut state,
        );
        assert_eq!(
            messages(&fired),
            [
                "🚀 Lamp trend score rose above 70 (now 72.0)",
                "🚀 Lamp trend score rose above 70 (now 71.0)"
            ]
        );
        assert_eq!(fired[0].value_before, Some(50.0));
        assert_eq!(fired[0].value_after, Some(72.0));
        assert_eq!(fired[0].event_key, "score_threshold:p7:s2:up");
    }

    #[test]
    fn a_downward_threshold_reports_falls_only() {
        let mut rules = only("score_threshold");
        rules.score_threshold.direction = Direction::Down;
        rules.score_threshold.threshold = 40.0;
        let mut state = RuleState::default();
        let fired = run(&rules, &history(&[50.0, 45.0, 39.0, 30.0]), &mut state);
        assert_eq!(
            messages(&fired),
            ["📉 Lamp trend score fell below 40 (now 39.0)"]
        );
    }

    #[test]
    fn confirmations_ignore_a_single_spike() {
        let mut rules = only("score_threshold");
        rules.score_threshold.confirmations = 2;
        let mut state = RuleState::default();
        let spike = run(&rules, &history(&[50.0, 90.0, 50.0, 55.0]), &mut state);
        assert!(spike.is_empty());
        let mut state = RuleState::default();
        let held = run(&rules, &history(&[50.0, 90.0, 85.0, 88.0]), &mut state);
        assert_eq!(
            messages(&held),
            ["🚀 Lamp trend score rose above 70 (now 85.0)"]
        );
    }

    #[test]
    fn a_cooldown_silences_the_same_rule_until_it_has_passed() {
        let mut rules = only("score_threshold");
        rules.score_threshold.cooldown_minutes = 180;
        let mut state = RuleState::default();
        // Crosses at hour 1, again at hour 3 (within 3 h: silent) and at hour 5.
        let fired = run(
            &rules,
            &history(&[50.0, 75.0, 60.0, 75.0, 60.0, 75.0]),
            &mut state,
        );
        let hours: Vec<i64> = fired.iter().map(|f| f.at / H).collect();
        assert_eq!(hours, [1, 5]);
    }

    #[test]
    fn evaluating_in_pieces_gives_the_same_alerts_as_at_once() {
        let rules = AlertRules::default();
        let scores: Vec<f64> = (0..60)
            .map(|i| 40.0 + 35.0 * ((i as f64) / 6.0).sin())
            .collect();
        let readings = history_with(
            &scores,
            |i| Some(Stage::ALL[(i / 9) % 7].as_str()),
            |i| Some((i as f64 * 7.0) % 90.0),
        );
        let mut whole = RuleState::default();
        let all = run(&rules, &readings, &mut whole);
        let mut pieces = RuleState::default();
        let mut split = Vec::new();
        for chunk in readings.chunks(7) {
            // What a restart does between evaluations: the state goes through storage.
            let mut state = RuleState::from_stored(&pieces.to_stored());
            split.extend(run(&rules, chunk, &mut state));
            pieces = state;
        }
        assert!(!all.is_empty());
        assert_eq!(all, split);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn a_jump_within_the_window_is_reported_with_its_size_once() {
        let rules = only("score_jump");
        let mut state = RuleState::default();
        let fired = run(
            &rules,
            &history(&[40.0, 42.0, 50.0, 58.0, 60.0, 61.0]),
            &mut state,
        );
        assert_eq!(
            messages(&fired),
            ["🚀 Lamp trend score increased by 18.0 points!"]
        );
        assert_eq!(fired[0].value_before, Some(40.0));
        assert_eq!(fired[0].value_after, Some(58.0));
    }

    #[test]
    fn a_slow_climb_is_not_a_jump() {
        let rules = only("score_jump");
        let mut state = RuleState::default();
        // +1 point an hour: 24 points in a day is a jump, 14 in 14 hours is not.
        let scores: Vec<f64> = (0..15).map(|i| 30.0 + i as f64).collect();
        assert!(run(&rules, &history(&scores), &mut state).is_empty());
    }

    #[test]
    fn a_stage_change_to_a_watched_stage_is_reported_with_where_it_came_from() {
        let mut rules = only("stage_change");
        rules.stage_change.cooldown_minutes = 0;
        let mut state = RuleState {
            stage: Some("rising".into()),
            ..Default::default()
        };
        let stages = [
            "rising",
            "rising",
            "exploding",
            "exploding",
            "peaking",
            "rising",
        ];
        let readings = history_with(&[50.0; 6], |i| Some(stages[i]), |_| None);
        let fired = run(&rules, &readings, &mut state);
        assert_eq!(
            messages(&fired),
            [
                "📈 Lamp is now exploding (was rising)",
                "📈 Lamp is now peaking (was exploding)"
            ]
        );
        // Back to rising is not in the watched stages: remembered, not reported.
        assert_eq!(state.stage.as_deref(), Some("rising"));
    }

    #[test]
    fn a_flapping_stage_needs_its_confirmations() {
        let mut rules = only("stage_change");
        rules.stage_change.confirmations = 2;
        let mut state = RuleState {
            stage: Some("rising".into()),
            ..Default::default()
        };
        let stages = [
            "exploding",
            "rising",
            "exploding",
            "rising",
            "exploding",
            "exploding",
        ];
        let readings = history_with(&[50.0; 6], |i| Some(stages[i]), |_| None);
        let fired = run(&rules, &readings, &mut state);
        assert_eq!(messages(&fired), ["📈 Lamp is now exploding (was rising)"]);
        assert_eq!(fired[0].at, 5 * H);
    }

    #[test]
    fn forecast_growth_fires_when_it_reaches_the_level() {
        let rules = only("forecast_growth");
        let mut state = RuleState::default();
        let growth = [10.0, 30.0, 55.0, 80.0, 20.0];
        let readings = history_with(&[50.0; 5], |_| None, |i| Some(growth[i]));
        let fired = run(&rules, &readings, &mut state);
        assert_eq!(
            messages(&fired),
            ["🔮 Lamp: the next 14 days are forecast 55% busier than the last 14"]
        );
    }

    #[test]
    fn viral_ads_are_reported_once_each_and_grouped_by_platform() {
        let rules = only("viral_ad");
        let mut state = RuleState::default();
        let ad = |id, platform: &str, score| AdSeen {
            id,
            platform: platform.into(),
            score,
        };
        let ads = [
            ad(1, "TikTok", 90),
            ad(2, "TikTok", 75),
            ad(3, "Facebook", 40),
            ad(4, "YouTube", 71),
        ];
        let readings = history(&[50.0]);
        let fired = run_with(&rules, &readings, &ads, &[], None, &mut state);
        assert_eq!(
            messages(&fired),
            [
                "🔥 2 new viral ads detected for Lamp on TikTok!",
                "🔥 New viral ad detected for Lamp on YouTube!"
            ]
        );
        // The same ads again, and one more later (after the cooldown): only the new one.
        let later = history(&[50.0, 50.0, 50.0]);
        let more = [ads.as_slice(), &[ad(9, "TikTok", 80)]].concat();
        let fired = run_with(&rules, &later, &more, &[], None, &mut state);
        assert_eq!(
            messages(&fired),
            ["🔥 New viral ad detected for Lamp on TikTok!"]
        );
        assert_eq!(fired[0].event_key, "viral_ad:p7:a9");
    }

    #[test]
    fn a_new_country_is_reported_once_when_its_interest_reaches_the_level() {
        let rules = only("new_country");
        let mut state = RuleState {
            countries: vec!["US".into()],
            ..Default::default()
        };
        let places = |de, fr| {
            vec![
                ("US".to_owned(), 100),
                ("DE".to_owned(), de),
                ("FR".to_owned(), fr),
            ]
        };
        let readings = history(&[50.0]);
        let first = run_with(&rules, &readings, &[], &places(30, 60), None, &mut state);
        assert_eq!(
            messages(&first),
            ["🌍 Lamp is catching on in FR (interest 60/100)"]
        );
        let again = run_with(&rules, &readings, &[], &places(55, 70), None, &mut state);
        assert_eq!(
            messages(&again),
            ["🌍 Lamp is catching on in DE (interest 55/100)"]
        );
        let steady = run_with(&rules, &readings, &[], &places(90, 90), None, &mut state);
        assert!(steady.is_empty());
    }

    #[test]
    fn a_snoozed_product_raises_nothing_and_does_not_replay_afterwards() {
        let rules = only("score_threshold");
        let mut state = RuleState::default();
        let readings = history(&[50.0, 80.0, 85.0]);
        let snoozed = run_with(&rules, &readings, &[], &[], Some(10 * H), &mut state);
        assert!(snoozed.is_empty());
        // After the snooze the score is still above: no crossing happened since.
        let after = history(&[50.0, 80.0, 85.0, 90.0]);
        let fired = run_with(&rules, &after[3..], &[], &[], Some(2 * H), &mut state);
        assert!(fired.is_empty());
    }

    #[test]
    fn what_is_already_true_when_watching_starts_is_not_news() {
        let rules = AlertRules::default();
        let snapshot = Snapshot {
            score: Some(80.0),
            stage: Some("exploding".into()),
            forecast_growth: Some(60.0),
            countries: vec![("US".into(), 100), ("DE".into(), 20)],
            viral_ads: vec![AdSeen {
                id: 3,
                platform: "TikTok".into(),
                score: 90,
            }],
        };
        let mut state = RuleState::at_watch(&rules, &snapshot);
        let readings = history_with(&[81.0], |_| Some("exploding"), |_| Some(65.0));
        let fired = run_with(
            &rules,
            &readings,
            &snapshot.viral_ads,
            &snapshot.countries,
            None,
            &mut state,
        );
        assert!(fired.is_empty(), "{fired:?}");
    }

    #[test]
    fn countries_survive_their_short_text_form() {
        let text = countries_text([("US", 100), ("DE", 55), ("FR", 12)].into_iter());
        assert_eq!(text, "US:100 DE:55 FR:12");
        assert_eq!(
            parse_countries(&text, 50),
            [("US".to_owned(), 100), ("DE".to_owned(), 55)]
        );
        assert!(parse_countries("", 1).is_empty());
        assert!(parse_countries("garbage XX:yy", 1).is_empty());
    }

    #[test]
    fn a_partial_rules_document_changes_only_what_it_names() {
        let rules = AlertRules::default()
            .patched(&serde_json::json!({"viral_ad": {"min_score": 80}, "score_jump": {"direction": "both"}}))
            .unwrap();
        assert_eq!(rules.viral_ad.min_score, 80);
        assert_eq!(rules.score_jump.direction, Direction::Both);
        assert_eq!(rules.score_threshold, AlertRules::default().score_threshold);
    }

    #[test]
    fn every_problem_in_a_rules_document_is_named_with_its_path() {
        let problems = AlertRules::default()
            .patched(&serde_json::json!({
                "score_threshold": {"threshold": 150, "confirmations": 0},
                "stage_change": {"stages": ["exploding", "viral"]},
                "viral_ad": {"min_score": "high"},
                "sms": {}
            }))
            .unwrap_err();
        let paths: Vec<String> = problems.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(paths, ["sms", "viral_ad.min_score"]);
        let problems = AlertRules::default()
            .patched(&serde_json::json!({
                "score_threshold": {"threshold": 150, "confirmations": 0},
                "stage_change": {"stages": ["exploding", "viral"]},
            }))
            .unwrap_err();
        let paths: Vec<String> = problems.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(
            paths,
            [
                "score_threshold.threshold",
                "stage_change.stages.1",
                "score_threshold.confirmations"
            ]
        );
    }
}
