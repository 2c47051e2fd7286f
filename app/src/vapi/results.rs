//! What the gateway answers Vapi for tool calls: `{"results": [...]}` ([`ToolResults`]) with one
//! [`ToolResult`] per call, serialised as `{"name", "toolCallId", "result"}` or `{"name",
//! "toolCallId", "error"}`. Result and error texts are read aloud by the model mid-call, so they
//! are always a single short line ([`one_line`]).
//!
//! These types also derive their OpenAPI schemas (poem-openapi's `Object`: the document's
//! `ToolResults` and `ToolResultItem`), so what is documented and what is sent are one type.

use poem_openapi::Object;
use serde::Serialize;

/// The most characters a result or error may carry (Vapi reads them into the live conversation).
/// A safety net: the receptionist keeps its answers well under it (a 20-slot availability list
/// is about 900 characters), so structured answers are never cut into invalid JSON.
pub const MAX_CHARS: usize = 3_000;

/// The answer to a `tool-calls` message: one result per call, in the same order.
#[derive(Debug, Object, Serialize)]
pub struct ToolResults {
    pub results: Vec<ToolResult>,
}

/// One tool call's outcome: exactly one of `result` and `error`, each a single line.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "ToolResultItem")]
pub struct ToolResult {
    /// The tool's name.
    name: String,
    /// The `id` of the call this answers.
    #[oai(rename = "toolCallId")]
    #[serde(rename = "toolCallId")]
    tool_call_id: String,
    /// What the assistant should know or say (compact JSON text for structured data).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    /// What went wrong and what the assistant should do about it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl ToolResult {
    /// `outcome`'s text, as a result (`Ok`) or an error (`Err`), folded onto one line and capped.
    pub fn new(
        name: impl Into<String>,
        tool_call_id: impl Into<String>,
        outcome: Result<String, String>,
    ) -> Self {
        let (result, error) = match outcome {
            Ok(text) => (Some(one_line(&text)), None),
            Err(text) => (None, Some(one_line(&text))),
        };
        Self {
            name: name.into(),
            tool_call_id: tool_call_id.into(),
            result,
            error,
        }
    }

    /// The result, or the error: the one line there is.
    pub fn into_text(self) -> String {
        self.result.or(self.error).unwrap_or_default()
    }
}

/// Collapses every run of whitespace (spaces, `\n`, `\r`, `\t`, Unicode spaces) into one space,
/// trims both ends, and caps the text at [`MAX_CHARS`] characters, ending with `…` when cut.
pub fn one_line(text: &str) -> String {
    // Most answers are already one short line: copy them as they are.
    let bytes = text.as_bytes();
    let plain = text.len() <= MAX_CHARS
        && bytes.first().is_none_or(|b| *b != b' ')
        && bytes.last().is_none_or(|b| *b != b' ')
        && !bytes.windows(2).any(|w| w == b"  ")
        && text.is_ascii()
        && !bytes.iter().any(|b| b.is_ascii_whitespace() && *b != b' ');
    if plain {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let mut chars = 0usize;
    let mut pending_space = false;
    let mut cut = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = chars > 0;
            continue;
        }
        let needed = 1 + usize::from(pending_space);
        if chars + needed > MAX_CHARS {
            cut = true;
            break;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        chars += needed;
    }
    if cut {
        // Make room for the ellipsis, then drop a dangling space.
        while chars > MAX_CHARS - 1 {
            out.pop();
            chars -= 1;
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newlines_tabs_and_runs_of_spaces_become_single_spaces() {
        assert_eq!(
            one_line("  Booked Tuesday\r\n\tat 9:00   AM.\n\nSee you then. "),
            "Booked Tuesday at 9:00 AM. See you then."
        );
        assert_eq!(one_line("\u{a0}non\u{2003}breaking\u{a0}"), "non breaking");
        assert_eq!(one_line(" \n\t "), "");
    }

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(one_line("Booked."), "Booked.");
    }

    #[test]
    fn long_text_is_cut_at_the_cap_with_an_ellipsis() {
        let long = "word ".repeat(MAX_CHARS);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS);
        assert!(cut.ends_with('…'));
        assert!(!cut.contains("  "));
        assert!(!cut.trim_end_matches('…').ends_with(' '));
    }

    #[test]
    fn cutting_never_splits_a_multibyte_character() {
        let long = "é😀".repeat(MAX_CHARS);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS);
        assert!(cut.ends_with('…'));
        // exactly at the cap: kept whole, no ellipsis
        let exact = "x".repeat(MAX_CHARS);
        assert_eq!(one_line(&exact), exact);
    }

    #[test]
    fn results_and_errors_serialise_in_vapis_shape() {
        let ok = ToolResult::new("book_appointment", "call_1", Ok("Booked\nTuesday.".into()));
        let err = ToolResult::new("cancel_appointment", "call_2", Err("Not\tfound.".into()));
        assert_eq!(
            serde_json::to_value([&ok, &err]).unwrap(),
            json!([
                {"name": "book_appointment", "toolCallId": "call_1", "result": "Booked Tuesday."},
                {"name": "cancel_appointment", "toolCallId": "call_2", "error": "Not found."}
            ])
        );
        assert_eq!(ok.into_text(), "Booked Tuesday.");
        assert_eq!(err.into_text(), "Not found.");
    }

    #[test]
    fn results_build_the_same_json_through_serde_and_the_documented_schema() {
        use poem_openapi::types::ToJSON;
        let results = ToolResults {
            results: vec![
                ToolResult::new("list_providers", "c1", Ok("[{\"id\":\"DDS1\"}]".into())),
                ToolResult::new("book_appointment", "c2", Err("Not\nnow.".into())),
            ],
        };
        let expected = json!({"results": [
            {"name": "list_providers", "toolCallId": "c1", "result": "[{\"id\":\"DDS1\"}]"},
            {"name": "book_appointment", "toolCallId": "c2", "error": "Not now."}
        ]});
        assert_eq!(serde_json::to_value(&results).unwrap(), expected);
        assert_eq!(results.to_json(), Some(expected));
    }
}
