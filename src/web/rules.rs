//! The alert rules form: a user's default rules, every setting of
//! `engine::alerts::AlertRules` in one page, checked by the same validation
//! as `PATCH /alerts/rules`.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::pages::{check_form, redirect};
use super::session::Member;
use super::{PageError, render};
use crate::app::AppState;
use crate::engine::alerts::AlertRules;
use crate::engine::detect::Stage;

type PageResult = Result<Response, PageError>;

/// How a setting is entered.
#[derive(Clone, Copy)]
pub enum Input {
    /// A number, whole or not, between bounds.
    Number {
        min: f64,
        max: f64,
        step: &'static str,
    },
    /// One of the choices (value, label).
    Choice(&'static [(&'static str, &'static str)]),
}

pub struct Setting {
    /// `rule.field`, the form field's name and the id of its input.
    pub name: String,
    pub label: &'static str,
    pub input: Input,
    pub value: String,
    pub error: Option<String>,
}

pub struct RuleForm {
    pub key: &'static str,
    pub title: &'static str,
    pub explain: &'static str,
    pub enabled: bool,
    pub settings: Vec<Setting>,
    /// Stage checkboxes (the stage rule only): (stage, checked).
    pub stages: Vec<(&'static str, bool)>,
    pub error: Option<String>,
}

const DIRECTIONS: &[(&str, &str)] = &[
    ("up", "going up"),
    ("down", "going down"),
    ("both", "either way"),
];

/// (rule, title, what it does, its settings: field, label, input).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, Input)],
);

const SPECS: [Spec; 6] = [
    (
        "score_threshold",
        "Score level",
        "The trend score crosses a level.",
        &[
            (
                "threshold",
                "Level (0-100)",
                Input::Number {
                    min: 0.0,
                    max: 100.0,
                    step: "any",
                },
            ),
            ("direction", "When it crosses", Input::Choice(DIRECTIONS)),
            (
                "confirmations",
                "Readings needed to confirm",
                Input::Number {
                    min: 1.0,
                    max: 10.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) after an alert",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
    (
        "score_jump",
        "Score jump",
        "The score moves by many points in a short time.",
        &[
            (
                "points",
                "Points",
                Input::Number {
                    min: 1.0,
                    max: 100.0,
                    step: "any",
                },
            ),
            (
                "within_hours",
                "Within (hours)",
                Input::Number {
                    min: 1.0,
                    max: 168.0,
                    step: "1",
                },
            ),
            ("direction", "Direction", Input::Choice(DIRECTIONS)),
            (
                "confirmations",
                "Readings needed to confirm",
                Input::Number {
                    min: 1.0,
                    max: 10.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) after an alert",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
    (
        "stage_change",
        "Stage change",
        "The product moves to one of the ticked stages (none ticked: any stage).",
        &[
            (
                "confirmations",
                "Readings needed to confirm",
                Input::Number {
                    min: 1.0,
                    max: 10.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) after an alert",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
    (
        "viral_ad",
        "Viral ad",
        "An ad for the product reaches a viral score.",
        &[
            (
                "min_score",
                "Viral score (0-100)",
                Input::Number {
                    min: 0.0,
                    max: 100.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) per platform",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
    (
        "forecast_growth",
        "Forecast growth",
        "The next 14 days are forecast at least this much busier than the last 14. The forecast carries the last week's level on, so this rises when a week outgrows the one before (at most about 100%).",
        &[
            (
                "percent",
                "Growth (%)",
                Input::Number {
                    min: 1.0,
                    max: 1000.0,
                    step: "any",
                },
            ),
            (
                "confirmations",
                "Readings needed to confirm",
                Input::Number {
                    min: 1.0,
                    max: 10.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) after an alert",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
    (
        "new_country",
        "New country",
        "Interest in a country reaches a level (relative to the product's hottest place) for the first time.",
        &[
            (
                "min_interest",
                "Interest (1-100)",
                Input::Number {
                    min: 1.0,
                    max: 100.0,
                    step: "1",
                },
            ),
            (
                "cooldown_minutes",
                "Quiet for (minutes) after an alert",
                Input::Number {
                    min: 0.0,
                    max: 43_200.0,
                    step: "1",
                },
            ),
        ],
    ),
];

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    user: Option<String>,
    csrf: String,
    rules: Vec<RuleForm>,
    saved: bool,
}

/// The form filled from `rules`, with what was typed and the problems, if any.
fn forms(
    rules: &AlertRules,
    typed: Option<&[(String, String)]>,
    errors: &HashMap<String, String>,
) -> Vec<RuleForm> {
    let doc = serde_json::to_value(rules).expect("rules serialise");
    SPECS
        .iter()
        .map(|(key, title, explain, settings)| {
            let rule = &doc[*key];
            let typed_value = |name: &str| {
                typed.and_then(|t| t.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            };
            let enabled = match typed {
                Some(t) => t.iter().any(|(k, _)| *k == format!("{key}.enabled")),
                None => rule["enabled"].as_bool().unwrap_or(false),
            };
            let stages = if *key == "stage_change" {
                Stage::ALL
                    .iter()
                    .map(|s| {
                        let on = match typed {
                            Some(t) => t
                                .iter()
                                .any(|(k, v)| k == "stage_change.stages" && v == s.as_str()),
                            None => rule["stages"]
                                .as_array()
                                .is_some_and(|a| a.iter().any(|v| v == s.as_str())),
                        };
                        (s.as_str(), on)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            RuleForm {
                key,
                title,
                explain,
                enabled,
                settings: settings
                    .iter()
                    .map(|(field, label, input)| {
                        let name = format!("{key}.{field}");
                        let value = typed_value(&name).unwrap_or_else(|| match &rule[*field] {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => {
                                let text = n.to_string();
                                text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
                            }
                            _ => String::new(),
                        });
                        Setting {
                            error: errors.get(&name).cloned(),
                            input: *input,
                            name,
                            label,
                            value,
                        }
                    })
                    .collect(),
                stages,
                error: errors.get(&format!("{key}.stages")).cloned(),
            }
        })
        .collect()
}

/// The form; `?saved=1` after a save says so.
pub async fn rules_form(
    State(state): State<AppState>,
    member: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let rules = state.store.default_rules(member.user.user.id).await?;
    let page = RulesPage {
        user: member.visit.username().map(str::to_owned),
        csrf: member.visit.csrf.clone(),
        rules: forms(&rules, None, &HashMap::new()),
        saved: q.contains_key("saved"),
    };
    Ok(member.visit.finish(render(StatusCode::OK, &page)))
}

/// The form as a rules document (every field, so unticked boxes count), and
/// the fields that are not numbers.
fn patch_of(form: &[(String, String)]) -> (Value, HashMap<String, String>) {
    let mut doc = Map::new();
    let mut errors = HashMap::new();
    for (key, _, _, settings) in &SPECS {
        let mut rule = Map::new();
        rule.insert(
            "enabled".into(),
            json!(form.iter().any(|(k, _)| *k == format!("{key}.enabled"))),
        );
        for (field, _, input) in *settings {
            let name = format!("{key}.{field}");
            let raw = form
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, v)| v.trim());
            let value = match input {
                Input::Choice(_) => Some(json!(raw)),
                Input::Number { step: "any", .. } => raw.parse::<f64>().ok().map(|n| json!(n)),
                Input::Number { .. } => raw.parse::<u64>().ok().map(|n| json!(n)),
            };
            match value {
                Some(v) => {
                    rule.insert((*field).into(), v);
                }
                None => {
                    errors.insert(name, "Enter a number".to_owned());
                }
            }
        }
        if *key == "stage_change" {
            let stages: Vec<Value> = form
                .iter()
                .filter(|(k, _)| k == "stage_change.stages")
                .map(|(_, v)| json!(v))
                .collect();
            rule.insert("stages".into(), Value::Array(stages));
        }
        doc.insert((*key).into(), Value::Object(rule));
    }
    (Value::Object(doc), errors)
}

pub async fn save_rules(
    State(state): State<AppState>,
    member: Member,
    Form(form): Form<Vec<(String, String)>>,
) -> PageResult {
    let fields: HashMap<String, String> = form.iter().cloned().collect();
    check_form(&member.visit, &fields)?;
    let user = member.user.user.id;
    let current = state.store.default_rules(user).await?;
    let (patch, mut errors) = patch_of(&form);
    if errors.is_empty() {
        match current.patched(&patch) {
            Ok(rules) => {
                state.store.set_default_rules(user, &rules).await?;
                return Ok(redirect("/app/alerts/rules?saved=1"));
            }
            Err(problems) => {
                for p in problems {
                    // `stages.1` is a problem of the stage list as a whole here.
                    let field = p
                        .path
                        .get(1)
                        .map_or("", |f| f.split('.').next().unwrap_or(f));
                    let name = format!("{}.{field}", p.path.first().map_or("", String::as_str));
                    errors.entry(name).or_insert(p.message);
                }
            }
        }
    }
    let page = RulesPage {
        user: member.visit.username().map(str::to_owned),
        csrf: member.visit.csrf.clone(),
        rules: forms(&current, Some(&form), &errors),
        saved: false,
    };
    Ok(member
        .visit
        .finish(render(StatusCode::UNPROCESSABLE_ENTITY, &page)))
}
