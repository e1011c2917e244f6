//! Stored state stays readable: rows an earlier version wrote (pipelines, outbox effects,
//! timers, as JSON) read back with today's types and write again the same JSON.

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

/// The kinds of output that are stored elsewhere than the outbox (they were `Action`s).
const NOT_OUTBOX: [&str; 4] = ["Audit", "Notify", "SetTimer", "CancelTimer"];

#[test]
fn rows_written_before_the_domain_types_read_back_unchanged() {
    let mut lines = 0;
    let (mut environments, mut stages, mut skips, mut gate_timers) = (0, 0, 0, 0);
    for (i, line) in STEPS.lines().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let input: Input = round_trip("input", i + 1, &row["input"]);
        let pipeline: Pipeline = round_trip("pipeline", i + 1, &row["pipeline"]);
        environments += pipeline.deploys.len() + pipeline.health.len();
        stages += usize::from(pipeline.failure.is_some());
        skips += pipeline.skips.len();
        let mut timers = Vec::new();
        for effect in row["effects"].as_array().expect("a list") {
            // An outbox row's body is the action; a timer row's, its kind.
            let action = &effect["action"];
            let variant = action
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .or_else(|| action.as_str().map(str::to_owned))
                .expect("an action");
            if !NOT_OUTBOX.contains(&variant.as_str()) {
                round_trip::<Effect>("effect", i + 1, effect);
            } else if variant == "SetTimer" {
                timers.push(round_trip::<TimerKind>(
                    "timer",
                    i + 1,
                    &action["SetTimer"]["kind"],
                ));
            }
        }
        if let Input::Timer { kind, .. } = &input {
            timers.push(kind.clone());
        }
        gate_timers += timers
            .iter()
            .filter(|k| matches!(k, TimerKind::GateTimeout { .. }))
            .count();
        lines += 1;
    }
    // The fixture holds every kind of value that became a type.
    assert!(lines > 100, "{lines} steps");
    assert!(environments > 0 && stages > 0 && skips > 0 && gate_timers > 0);
}
