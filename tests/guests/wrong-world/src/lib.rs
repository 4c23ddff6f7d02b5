//! A valid checker component (passes when the trajectory has an assistant message containing
//! "done"), used by the tests both as a checker and, with a domain manifest, as a WIT mismatch.

wit_bindgen::generate!({
    path: ["../../../wit/types", "../../../wit/checker"],
    world: "eigenbox:checker/checker-plugin@0.1.0",
    generate_all,
});

use eigenbox::types::types::Role;
use exports::eigenbox::checker::checker::{CheckInput, Guest, Verdict};

struct Check;

impl Guest for Check {
    fn check(input: CheckInput) -> Result<Verdict, String> {
        if input.task.trim().is_empty() {
            return Err("empty task".into());
        }
        let passed = input
            .trajectory
            .iter()
            .any(|m| m.role == Role::Assistant && m.content.as_deref().is_some_and(|c| c.contains("done")));
        Ok(Verdict { passed, score: Some(if passed { 1.0 } else { 0.0 }), reasons: vec![format!("assistant said done: {passed}")] })
    }
}

export!(Check);
