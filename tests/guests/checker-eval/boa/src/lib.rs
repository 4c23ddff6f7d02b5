//! Evaluation guest: Boa (JavaScript) behind the same `eigenbox:checker/checker-runtime@0.2.0`
//! contract. The program defines `function check(task, trajectory, initial, final)` returning a
//! bool or `{passed, score, reasons}`; inputs are parsed with the engine's own `JSON.parse`.
wit_bindgen::generate!({ path: "../../../../wit/checker-runtime", world: "eigenbox:checker/checker-runtime@0.2.0" });
use boa_engine::{Context, Source};
use exports::eigenbox::checker::runtime::*;

fn fault(kind: FaultKind, e: impl ToString) -> Fault {
    Fault { kind, message: e.to_string(), line: None, column: None }
}

fn q(s: &str) -> String {
    // A JS string literal of `s` (JSON string syntax is valid JS).
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(|t| format!("JSON.parse({})", q(t))).unwrap_or_else(|| "null".into())
}

struct R;
impl Guest for R {
    fn lint(program: String) -> Result<Vec<Fault>, Fault> {
        let mut ctx = Context::default();
        ctx.eval(Source::from_bytes(&program)).map_err(|e| fault(FaultKind::Syntax, e))?;
        Ok(vec![])
    }
    fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
        let mut ctx = Context::default();
        ctx.eval(Source::from_bytes(&program)).map_err(|e| fault(FaultKind::Syntax, e))?;
        let call = format!(
            "(function(){{ const v = check(JSON.parse({}), JSON.parse({}), {{agent: {}, user: {}}}, {{agent: {}, user: {}}}); return JSON.stringify(v); }})()",
            q(&input.task), q(&input.trajectory), opt(&input.initial_agent_state), opt(&input.initial_user_state), opt(&input.final_agent_state), opt(&input.final_user_state)
        );
        let v = ctx.eval(Source::from_bytes(&call)).map_err(|e| fault(FaultKind::Runtime, e))?;
        let s = v.to_string(&mut ctx).map_err(|e| fault(FaultKind::Runtime, e))?.to_std_string_escaped();
        let passed = s == "true" || s.contains("\"passed\":true");
        let reasons = vec![s];
        Ok(Verdict { passed, score: None, reasons, output: String::new() })
    }
    fn info() -> RuntimeInfo {
        RuntimeInfo { language: "javascript".into(), interpreter: "boa 0.21".into() }
    }
}
export!(R);
