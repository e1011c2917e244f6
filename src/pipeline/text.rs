//! Text helpers every layer above may use: short SHAs, plurals, lists of people, times.
//!
//! Must not: import anything of the core (this is its lowest layer).

use chrono::{DateTime, Utc};

/// A commit SHA's first 7 characters, as GitHub shows it.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// `""` for one, `"s"` otherwise: `format!("{n} gate{}", plural(n))`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Who may act, as mentions: `@alice or @bob`, or "someone with write access" when the
/// approver list is empty. An `@org/team` entry stays one mention.
pub fn mentions_or_writers(list: &[String]) -> String {
    if list.is_empty() {
        "someone with write access".into()
    } else {
        list.iter()
            .map(|a| format!("@{}", a.trim_start_matches('@')))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// Items as code, comma-separated: `` `a`, `b` ``.
pub fn code_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who may act, as code: `` `alice`, `@org/team` ``, or "someone with write access" when
/// the approver list is empty (no mention, so nobody is pinged by a gate's text).
pub fn code_list_or_writers(list: &[String]) -> String {
    if list.is_empty() {
        "someone with write access".into()
    } else {
        code_list(list)
    }
}

/// Text for one cell of a GitHub Markdown table: a `|` escaped (even inside code, GFM ends
/// the cell at an unescaped one) and line breaks as spaces (a break ends the row), so a title
/// or reason cannot add cells or rows.
pub fn table_cell(text: &str) -> String {
    text.replace("\r\n", " ")
        .replace(['\r', '\n'], " ")
        .replace('|', "\\|")
}

/// A millisecond timestamp as `2026-11-29 18:41:50 UTC` (the number itself if out of range).
pub fn at(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A span of milliseconds, as `2h 5m`, `3m 20s` or `12s`.
pub fn span(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `30s`, `5m`, `24h`, `3d` (and combinations like `1h30m`) in seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return None; // a number without a unit is ambiguous
    }
    Some(total)
}

/// `90` → `1m30s`, for messages.
pub fn format_duration(secs: u64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_cell_stays_one_cell_of_one_row() {
        assert_eq!(
            table_cell("merging as “a | b”\r\n| x | y |\nz"),
            "merging as “a \\| b” \\| x \\| y \\| z"
        );
    }
}
