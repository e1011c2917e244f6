//! Stored state stays readable: rows an earlier version wrote (pipelines, effects, timers,
//! as JSON) read back with today's types and write again byte for byte the same JSON.

use super::model::*;

const STEPS: &str = include_str!("../../tests/fixtures/stored/steps-2026-11-29.jsonl");

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
    what: &str,
    line: usize,
    stored: &serde_json::Value,
) -> T {
    let value: T = serde_json::from_value(stored.clone())
        .unwrap_or_else(|e| panic!("line {line}: the stored {what} no longer reads: {e}"));
    let again = serde_json::to_value(&value).expect("serialisable");
    assert_eq!(
        &again, stored,
        "line {line}: the {what} writes back differently"
    );
    value
}

#[test]
fn rows_written_before_the_domain_types_read_back_unchanged() {
    let mut lines = 0;
    let (mut environments, mut stages, mut skips, mut gate_timers) = (0, 0, 0, 0);
    for (i, line) in STEPS.lines().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let input: Input = round_trip("input", i + 1, &row["input"]);
        let pipeline: Pipeline = round_trip("pipeline", i + 1, &row["pipeline"]);
        let effects: Vec<Effect> = round_trip("effects", i + 1, &row["effects"]);
        environments += pipeline.deploys.len() + pipeline.health.len();
        stages += usize::from(pipeline.failure.is_some());
        skips += pipeline.skips.len();
        let timers = effects.iter().filter_map(|e| match &e.action {
            Action::SetTimer { kind, .. } => Some(kind),
            _ => None,
        });
        let fired = match &input {
            Input::Timer { kind, .. } => Some(kind),
            _ => None,
        };
        gate_timers += timers
            .chain(fired)
            .filter(|k| matches!(k, TimerKind::GateTimeout { .. }))
            .count();
        lines += 1;
    }
    // The fixture holds every kind of value that became a type.
    assert!(lines > 100, "{lines} steps");
    assert!(environments > 0 && stages > 0 && skips > 0 && gate_timers > 0);
}
