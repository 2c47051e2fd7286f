//! What the gateway answers Vapi for each tool call: one [`ToolResult`] per call, serialised as
//! `{"name", "toolCallId", "result"}` or `{"name", "toolCallId", "error"}`. Result and error texts
//! are read aloud by the model mid-call, so they are always a single short line ([`one_line`]).

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The most characters a result or error may carry (Vapi reads them into the live conversation).
/// A safety net: the receptionist keeps its answers well under it (a 20-slot availability list
/// is about 900 characters), so structured answers are never cut into invalid JSON.
pub const MAX_CHARS: usize = 3_000;

/// The answer to one tool call. `outcome` is `Ok(result)` or `Err(error)`, both already
/// single-line when built through [`ToolResult::ok`] / [`ToolResult::err`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    pub name: String,
    pub tool_call_id: String,
    pub outcome: Result<String, String>,
}

impl ToolResult {
    /// A successful result; `text` is folded onto one line and capped.
    pub fn ok(name: impl Into<String>, tool_call_id: impl Into<String>, text: &str) -> Self {
        Self {
            name: name.into(),
            tool_call_id: tool_call_id.into(),
            outcome: Ok(one_line(text)),
        }
    }

    /// An error the model will see (and usually paraphrase to the caller); folded and capped.
    pub fn err(name: impl Into<String>, tool_call_id: impl Into<String>, text: &str) -> Self {
        Self {
            name: name.into(),
            tool_call_id: tool_call_id.into(),
            outcome: Err(one_line(text)),
        }
    }
}

impl Serialize for ToolResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ToolResult", 3)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("toolCallId", &self.tool_call_id)?;
        match &self.outcome {
            Ok(text) => s.serialize_field("result", text)?,
            Err(text) => s.serialize_field("error", text)?,
        }
        s.end()
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
        let ok = ToolResult::ok("book_appointment", "call_1", "Booked\nTuesday.");
        let err = ToolResult::err("cancel_appointment", "call_2", "Not\tfound.");
        assert_eq!(
            serde_json::to_value([&ok, &err]).unwrap(),
            json!([
                {"name": "book_appointment", "toolCallId": "call_1", "result": "Booked Tuesday."},
                {"name": "cancel_appointment", "toolCallId": "call_2", "error": "Not found."}
            ])
        );
    }
}
