//! Per-episode counters the host keeps and shows to policies.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// Counters of one episode, as policies see them (`context.counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Tool calls allowed so far.
    pub tool_calls: u64,
    /// Of which write tools.
    pub write_calls: u64,
    /// Calls of the tool being asked for, so far.
    pub this_tool_calls: u64,
    /// LLM calls allowed so far.
    pub llm_calls: u64,
    /// LLM tokens (prompt + completion) used so far.
    pub llm_tokens: u64,
    /// Requests denied so far.
    pub denied: u64,
    /// Milliseconds since the episode started.
    pub elapsed_ms: u64,
}

/// The host's running tally for one episode: what rate limits and budgets in policies are
/// checked against. Counts only what was allowed (denials are counted apart), so a denied
/// call never uses up a budget.
#[derive(Debug, Clone)]
pub struct EpisodeBudget {
    started: Instant,
    tool_calls: u64,
    write_calls: u64,
    per_tool: HashMap<String, u64>,
    llm_calls: u64,
    llm_tokens: u64,
    denied: u64,
    confirmed: bool,
}

impl Default for EpisodeBudget {
    fn default() -> Self {
        EpisodeBudget::new()
    }
}

impl EpisodeBudget {
    /// A fresh episode: all zero, not confirmed.
    pub fn new() -> EpisodeBudget {
        EpisodeBudget { started: Instant::now(), tool_calls: 0, write_calls: 0, per_tool: HashMap::new(), llm_calls: 0, llm_tokens: 0, denied: 0, confirmed: false }
    }

    /// The counters before a request for `tool` (`domain/name`), or for an LLM call (`None`).
    pub fn counters(&self, tool: Option<&str>) -> Counters {
        Counters {
            tool_calls: self.tool_calls,
            write_calls: self.write_calls,
            this_tool_calls: tool.and_then(|t| self.per_tool.get(t)).copied().unwrap_or(0),
            llm_calls: self.llm_calls,
            llm_tokens: self.llm_tokens,
            denied: self.denied,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// An allowed tool call. A write uses up the user's confirmation.
    pub fn record_tool(&mut self, tool: &str, write: bool) {
        self.tool_calls += 1;
        *self.per_tool.entry(tool.to_string()).or_insert(0) += 1;
        if write {
            self.write_calls += 1;
            self.confirmed = false;
        }
    }

    /// An allowed LLM call.
    pub fn record_llm(&mut self) {
        self.llm_calls += 1;
    }

    /// Tokens an LLM call used (known only after it returns).
    pub fn record_tokens(&mut self, tokens: u64) {
        self.llm_tokens = self.llm_tokens.saturating_add(tokens);
    }

    /// A denied request.
    pub fn record_denied(&mut self) {
        self.denied += 1;
    }

    /// Whether the user explicitly confirmed since the last write.
    pub fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// Set the confirmation flag directly (an orchestrator with its own notion of consent).
    pub fn set_confirmed(&mut self, yes: bool) {
        self.confirmed = yes;
    }

    /// Look at a user message: an explicit confirmation ([`is_explicit_confirmation`]) sets the
    /// flag; any other user message clears it (consent is to the proposal just made). Returns
    /// the flag.
    pub fn note_user_message(&mut self, text: &str) -> bool {
        self.confirmed = is_explicit_confirmation(text);
        self.confirmed
    }
}

/// Whether a user message is an explicit confirmation: it starts with "yes" (or "yeah", "yep",
/// "confirm", "confirmed", "i confirm", "go ahead", "proceed", "please proceed"), ignoring
/// case and punctuation. "Yes, but not today" counts; "no", "maybe", "what would it cost?"
/// do not. τ²-bench's policies ask the agent for an explicit "yes" before any write.
pub fn is_explicit_confirmation(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.to_lowercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    matches!(w(0), "yes" | "yeah" | "yep" | "confirm" | "confirmed" | "proceed")
        || (w(0) == "i" && matches!(w(1), "confirm" | "do"))
        || (w(0) == "go" && w(1) == "ahead")
        || (w(0) == "please" && matches!(w(1), "proceed" | "confirm" | "go"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations() {
        for yes in ["yes", "Yes, please.", "YES!", "yeah go for it", "I confirm", "go ahead", "Please proceed with the booking", "confirmed"] {
            assert!(is_explicit_confirmation(yes), "{yes}");
        }
        for no in ["no", "No, wait", "maybe", "what would it cost?", "", "  ", "yesterday I booked", "I don't know", "not yet, yes?"] {
            assert!(!is_explicit_confirmation(no), "{no}");
        }
    }

    #[test]
    fn writes_use_up_confirmation_and_counters_count() {
        let mut b = EpisodeBudget::new();
        assert!(b.note_user_message("Yes"));
        b.record_tool("mock/get_users", false);
        assert!(b.confirmed(), "a read keeps the confirmation");
        b.record_tool("mock/create_task", true);
        assert!(!b.confirmed(), "a write uses it up");
        b.record_tool("mock/create_task", true);
        b.record_llm();
        b.record_tokens(120);
        b.record_denied();
        let c = b.counters(Some("mock/create_task"));
        assert_eq!((c.tool_calls, c.write_calls, c.this_tool_calls, c.llm_calls, c.llm_tokens, c.denied), (3, 2, 2, 1, 120, 1));
        assert_eq!(b.counters(Some("mock/other")).this_tool_calls, 0);
        b.note_user_message("yes");
        b.note_user_message("actually, wait");
        assert!(!b.confirmed(), "a later non-confirming message withdraws consent");
    }
}
