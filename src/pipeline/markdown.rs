//! Comment and issue bodies read as GitHub renders them (CommonMark with GitHub's task lists
//! and tables, by pulldown-cmark), so nothing hidden from a reader counts: not a line in an
//! HTML comment or `<pre>`, in a code block however it is fenced or indented, in a quote
//! (lazy continuation lines included), or in a list.
//!
//! Owns: which lines of a body are plain paragraph text (where commands are read), its
//! headings (required sections) and its task-list items.
//! Must not: know what a command, a section or a task means; `commands` and `linking` do.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Bodies are read up to this many bytes (GitHub's own limit for an issue or comment body is
/// 65,536 characters); the rest is ignored.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

fn parser(body: &str) -> pulldown_cmark::OffsetIter<'_, pulldown_cmark::DefaultBrokenLinkCallback> {
    let mut end = body.len().min(MAX_BODY_BYTES);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_GFM;
    Parser::new_ext(&body[..end], options).into_offset_iter()
}

/// Where an event sits: inside how many quotes, list items, tables and footnotes.
#[derive(Default)]
struct Place {
    quotes: usize,
    items: usize,
    tables: usize,
    footnotes: usize,
}

impl Place {
    /// Updates the place for a container's start or end; true if the event was one.
    fn follow(&mut self, event: &Event<'_>) -> bool {
        let (counter, step): (&mut usize, bool) = match event {
            Event::Start(Tag::BlockQuote(_)) => (&mut self.quotes, true),
            Event::End(TagEnd::BlockQuote(_)) => (&mut self.quotes, false),
            Event::Start(Tag::Item) => (&mut self.items, true),
            Event::End(TagEnd::Item) => (&mut self.items, false),
            Event::Start(Tag::Table(_)) => (&mut self.tables, true),
            Event::End(TagEnd::Table) => (&mut self.tables, false),
            Event::Start(Tag::FootnoteDefinition(_)) => (&mut self.footnotes, true),
            Event::End(TagEnd::FootnoteDefinition) => (&mut self.footnotes, false),
            _ => return false,
        };
        *counter = if step {
            *counter + 1
        } else {
            counter.saturating_sub(1)
        };
        true
    }

    fn top_level(&self) -> bool {
        self.quotes == 0 && self.items == 0 && self.tables == 0 && self.footnotes == 0
    }
}

/// The lines of `body` that are plain text of a top-level paragraph, each as written
/// (trimmed), in order: a line that starts with anything but plain text (emphasis, a link or
/// code, whether opened on that line or an earlier one), or holds inline HTML (which may hide
/// part of it), is left out.
pub fn plain_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut events = parser(body);
    let mut place = Place::default();
    let mut in_paragraph = false;
    // Emphasis, links, … open at this point of the paragraph.
    let mut inline_depth = 0usize;
    let mut line = Line::default();
    std::iter::from_fn(move || {
        for (event, range) in events.by_ref() {
            if place.follow(&event) {
                continue;
            }
            match event {
                Event::Start(Tag::Paragraph) => {
                    in_paragraph = place.top_level();
                    inline_depth = 0;
                    line = Line::default();
                }
                _ if !in_paragraph => {}
                Event::End(TagEnd::Paragraph) | Event::SoftBreak | Event::HardBreak => {
                    let done = std::mem::take(&mut line);
                    in_paragraph = !matches!(event, Event::End(_));
                    if let Some(text) = done.plain(body) {
                        return Some(text);
                    }
                }
                Event::Text(_) => line.push(range, inline_depth == 0),
                Event::InlineHtml(_) | Event::Html(_) => line.hidden = true,
                Event::Start(_) => {
                    inline_depth += 1;
                    line.push(range, false);
                }
                Event::End(_) => {
                    inline_depth = inline_depth.saturating_sub(1);
                    line.push(range, false);
                }
                // Inline code, …
                _ => line.push(range, false),
            }
        }
        None
    })
}

#[derive(Default)]
struct Line {
    start: Option<usize>,
    end: usize,
    /// Whether the line begins with text outside any emphasis or link.
    plain_start: bool,
    hidden: bool,
}

impl Line {
    /// Adds an event's source range; `text` if it is plain text.
    fn push(&mut self, range: std::ops::Range<usize>, text: bool) {
        if self.start.is_none() {
            self.start = Some(range.start);
            self.plain_start = text;
        }
        self.end = self.end.max(range.end);
    }

    fn plain(self, body: &str) -> Option<&str> {
        let start = self.start?;
        (self.plain_start && !self.hidden).then(|| body[start..self.end].trim())
    }
}

/// The text of every heading outside quotes (ATX `#` and setext underlines alike), in order.
pub fn headings(body: &str) -> Vec<String> {
    let mut place = Place::default();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for (event, _) in parser(body) {
        if place.follow(&event) {
            continue;
        }
        match event {
            Event::Start(Tag::Heading { .. }) if place.quotes == 0 => {
                current = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => out.extend(current.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(text) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

/// One task-list item: whether it is checked, and its text (inline code kept in backticks,
/// line breaks as spaces, emphasis and links as their text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskItem {
    pub checked: bool,
    pub text: String,
    /// Where its `[ ]` / `[x]` marker is in the body (bytes).
    pub marker: std::ops::Range<usize>,
}

/// Every task-list item outside quotes, nested ones included, in order; whatever the list
/// marker (`-`, `*`, `+`, `1.`).
pub fn task_items(body: &str) -> Vec<TaskItem> {
    let mut place = Place::default();
    let mut out: Vec<TaskItem> = Vec::new();
    // Per open list item: the index of its task in `out`, while its own text is read.
    let mut open: Vec<Option<usize>> = Vec::new();
    for (event, range) in parser(body) {
        match &event {
            Event::Start(Tag::Item) => open.push(None),
            Event::End(TagEnd::Item) => {
                open.pop();
            }
            // A nested list ends the item's own text.
            Event::Start(Tag::List(_)) => {
                if let Some(last) = open.last_mut() {
                    *last = None;
                }
            }
            Event::TaskListMarker(checked) if place.quotes == 0 => {
                out.push(TaskItem {
                    checked: *checked,
                    text: String::new(),
                    marker: range.clone(),
                });
                if let Some(last) = open.last_mut() {
                    *last = Some(out.len() - 1);
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(Some(i)) = open.last() {
                    let code = matches!(event, Event::Code(_));
                    let text = &mut out[*i].text;
                    if code {
                        text.push('`');
                    }
                    text.push_str(t);
                    if code {
                        text.push('`');
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(Some(i)) = open.last() {
                    out[*i].text.push(' ');
                }
            }
            _ => {}
        }
        place.follow(&event);
    }
    for task in &mut out {
        task.text = task.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &str) -> Vec<&str> {
        plain_lines(body).collect()
    }

    #[test]
    fn plain_lines_are_what_github_shows_as_paragraph_text() {
        let body = "Looks good.\r\n/approve plan\r\n\r\n> /reject\r\nlazy /continuation\r\n\r\n- /pause\r\n\r\n*/stop*\r\n\r\nsee <!-- /retry --> here\r\n\r\n*emphasis\r\n/resume*\r\n";
        assert_eq!(lines(body), vec!["Looks good.", "/approve plan"]);
    }

    #[test]
    fn html_comments_pre_and_code_hide_their_lines() {
        let body = "<!--\n/approve\n-->\n\n<pre>\n/reject\n</pre>\n\n```\n/pause\n    ```\n/stop\n";
        assert_eq!(lines(body), Vec::<&str>::new(), "the fence never closed");
        assert_eq!(
            lines("~~~\n/approve\n```\n/reject\n~~~\n/status"),
            vec!["/status"],
            "a backtick fence does not close a tilde fence"
        );
    }

    #[test]
    fn headings_are_atx_and_setext_but_not_in_comments_code_or_quotes() {
        let body = "Acceptance criteria\n===\n\n<!--\n## Rollout\n-->\n\n```\n# Risks\n```\n\n> ## Quoted\n\n### Plan `v2` ##\n";
        assert_eq!(headings(body), vec!["Acceptance criteria", "Plan v2"]);
    }

    #[test]
    fn task_items_take_every_list_marker_and_nesting() {
        let body = "- [ ] parse *CSV*\n+ [x] add `route`\n1. [ ] numbered\n   - [X] nested\n> - [ ] quoted\n```\n- [ ] code\n```\n- [] not a task\n";
        let items: Vec<(bool, String)> = task_items(body)
            .into_iter()
            .map(|t| (t.checked, t.text))
            .collect();
        assert_eq!(
            items,
            vec![
                (false, "parse CSV".to_owned()),
                (true, "add `route`".to_owned()),
                (false, "numbered".to_owned()),
                (true, "nested".to_owned()),
            ]
        );
    }

    #[test]
    fn reading_stops_at_the_byte_limit_on_a_character_boundary() {
        let body = format!("{}\n\n/approve", "é".repeat(MAX_BODY_BYTES));
        assert_eq!(lines(&body).len(), 1, "only the long first line is read");
    }
}
