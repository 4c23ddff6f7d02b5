//! Evaluation guest: Boa (JavaScript) behind the same `eigenbox:checker/checker-runtime@0.2.0`
//! contract. The program defines `function check(task, trajectory, initial, final)` returning a
//! bool or `{passed, score, reasons}`. Inputs are parsed with serde_json and turned into JS values
//! with `JsValue::from_json` (as the other guests convert from serde_json), the verdict back with
//! `to_json`.
wit_bindgen::generate!({ path: "../../../../wit/checker-runtime", world: "eigenbox:checker/checker-runtime@0.2.0" });
use boa_engine::{js_string, Context, JsValue, Source};
use exports::eigenbox::checker::runtime::*;
use std::cell::RefCell;

thread_local! {
    /// Built once per instance (realm, intrinsics); `info()` builds it so the host's frozen image
    /// (wizer) has it, as the Starlark guest does with its builtins. Every check runs in a fresh
    /// instance from that image, so one program's globals never meet another's.
    static CTX: RefCell<Context> = RefCell::new(Context::default());
}

fn fault(kind: FaultKind, e: impl ToString) -> Fault {
    Fault { kind, message: e.to_string(), line: None, column: None }
}

fn json(t: &str) -> Result<serde_json::Value, Fault> {
    serde_json::from_str(t).map_err(|e| fault(FaultKind::BadInput, e))
}

fn opt(t: &Option<String>) -> Result<serde_json::Value, Fault> {
    t.as_deref().map(json).unwrap_or(Ok(serde_json::Value::Null))
}

fn run(ctx: &mut Context, program: String, input: CheckInput) -> Result<Verdict, Fault> {
    let task = json(&input.task)?;
    let trajectory = json(&input.trajectory)?;
    let initial = serde_json::json!({"agent": opt(&input.initial_agent_state)?, "user": opt(&input.initial_user_state)?});
    let final_ = serde_json::json!({"agent": opt(&input.final_agent_state)?, "user": opt(&input.final_user_state)?});
    ctx.eval(Source::from_bytes(&program)).map_err(|e| fault(FaultKind::Syntax, e))?;
    let f = ctx.global_object().get(js_string!("check"), ctx).map_err(|e| fault(FaultKind::Runtime, e))?;
    let f = f.as_callable().ok_or_else(|| fault(FaultKind::MissingEntry, "the program does not define `check`"))?;
    let mut args = Vec::with_capacity(4);
    for v in [&task, &trajectory, &initial, &final_] {
        args.push(JsValue::from_json(v, ctx).map_err(|e| fault(FaultKind::BadInput, e))?);
    }
    let v = f.call(&JsValue::undefined(), &args, ctx).map_err(|e| fault(FaultKind::Runtime, e))?;
    if let Some(b) = v.as_boolean() {
        return Ok(Verdict { passed: b, score: None, reasons: vec![], output: String::new() });
    }
    let v = v.to_json(ctx).map_err(|e| fault(FaultKind::BadReturn, e))?.unwrap_or_default();
    let passed = v.get("passed").and_then(|p| p.as_bool()).ok_or_else(|| fault(FaultKind::BadReturn, "`passed` missing or not a bool"))?;
    let score = v.get("score").and_then(|s| s.as_f64());
    let reasons = match v.get("reasons") {
        Some(serde_json::Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).collect(),
        _ => vec![],
    };
    Ok(Verdict { passed, score, reasons, output: String::new() })
}

struct R;
impl Guest for R {
    fn lint(program: String) -> Result<Vec<Fault>, Fault> {
        CTX.with(|c| {
            let ctx = &mut *c.borrow_mut();
            ctx.eval(Source::from_bytes(&program)).map_err(|e| fault(FaultKind::Syntax, e))?;
            Ok(vec![])
        })
    }
    fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
        CTX.with(|c| run(&mut c.borrow_mut(), program, input))
    }
    fn info() -> RuntimeInfo {
        // Warm the engine: the host snapshots the instance after this call.
        CTX.with(|_| ());
        RuntimeInfo { language: "javascript".into(), interpreter: "boa 0.21".into() }
    }
}
export!(R);
