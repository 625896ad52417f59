//! Reading back what a browser check's page wrote into its DOM (`cargo xtask cors-page` and
//! `labcas-page`): headless Chromium dumps the DOM, and the page leaves its title (`done` once
//! its script finished) and one `<pre id=…>` element per step.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::Value;

/// What a page wrote into its title and `<pre>` elements.
pub(crate) struct PageOutcome {
    /// The document title (`done` once the script has finished).
    pub(crate) title: String,
    /// `(element id, text)` of every element read.
    steps: Vec<(&'static str, String)>,
}

/// What [`PageOutcome::step`] answers for an element the DOM does not hold.
const MISSING: &str = "(missing from the DOM)";

/// How much of a step's text [`PageOutcome::describe`] shows.
const DESCRIBED_CHARS: usize = 300;

impl PageOutcome {
    /// Reads the title and the `<pre id=…>` elements named by `ids` from a dumped DOM.
    pub(crate) fn read(dom: &str, ids: impl IntoIterator<Item = &'static str>) -> Self {
        let title = between(dom, "<title>", "</title>").map_or_else(String::new, unescape);
        let steps = ids
            .into_iter()
            .map(|id| {
                let text = between(dom, &format!("<pre id=\"{id}\">"), "</pre>")
                    .map_or_else(|| MISSING.to_owned(), unescape);
                (id, text)
            })
            .collect();
        Self { title, steps }
    }

    /// The text of element `id`.
    pub(crate) fn step(&self, id: &str) -> &str {
        self.steps
            .iter()
            .find(|(step, _)| *step == id)
            .map_or(MISSING, |(_, text)| text.as_str())
    }

    /// The number after `key` in step `id` (`id=3` in `ok 200 id=3`).
    pub(crate) fn number(&self, id: &str, key: &str) -> anyhow::Result<i64> {
        let shown = self.step(id);
        shown
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .and_then(|number| number.parse().ok())
            .with_context(|| {
                format!("expected step `{id}` to show `{key}<number>`, the DOM shows `{shown}`")
            })
    }

    /// The JSON answer step `id` shows as `ok <status> <JSON>`, if it does.
    pub(crate) fn answer(&self, id: &str, status: u16) -> Option<Value> {
        let body = self.step(id).strip_prefix(&format!("ok {status} "))?;
        serde_json::from_str(body).ok()
    }

    /// Every step's text on one line (each cut short), for failure messages.
    pub(crate) fn describe(&self) -> String {
        let mut text = String::new();
        for (id, shown) in &self.steps {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let shown: String = shown.chars().take(DESCRIBED_CHARS).collect();
            let _ = write!(text, "{id}=`{shown}`");
        }
        text
    }
}

/// The text between the first `start` and the next `end`.
pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let after = &text[text.find(start)? + start.len()..];
    Some(&after[..after.find(end)?])
}

/// `text` with the HTML entities a DOM dump uses replaced by their characters.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::{PageOutcome, between, unescape};

    const DOM: &str = "<html><head><title>done</title></head><body>\
        <pre id=\"login\">ok 200 id=3</pre><pre id=\"list\">ok 200 [1,&quot;a&quot;]</pre>\
        </body></html>";

    #[test]
    fn reads_steps_numbers_and_answers() {
        let page = PageOutcome::read(DOM, ["login", "list", "gone"]);
        assert_eq!(page.title, "done");
        assert_eq!(page.number("login", "id=").ok(), Some(3));
        assert!(page.number("list", "id=").is_err());
        assert_eq!(page.answer("list", 200), Some(serde_json::json!([1, "a"])));
        assert_eq!(page.answer("list", 201), None);
        assert_eq!(page.step("gone"), "(missing from the DOM)");
        assert!(page.describe().starts_with("login=`ok 200 id=3`, list="));
    }

    #[test]
    fn between_and_unescape() {
        assert_eq!(between("a[b]c", "[", "]"), Some("b"));
        assert_eq!(between("a[b", "[", "]"), None);
        assert_eq!(unescape("&lt;&amp;lt;&gt;"), "<&lt;>");
    }
}
