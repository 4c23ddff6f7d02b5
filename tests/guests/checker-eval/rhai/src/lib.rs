//! Evaluation guest: Rhai behind the same `eigenbox:checker/checker-runtime@0.2.0` contract.
//! The program defines `fn check(task, trajectory, initial, final)` returning a bool or a map
//! `#{passed: bool, score: float, reasons: [..]}`.
wit_bindgen::generate!({ path: "../../../../wit/checker-runtime", world: "eigenbox:checker/checker-runtime@0.2.0" });
use exports::eigenbox::checker::runtime::*;
use rhai::{Dynamic, Engine, Map, Scope};

fn fault(kind: FaultKind, e: impl ToString) -> Fault {
    Fault { kind, message: e.to_string(), line: None, column: None }
}

fn new_engine() -> Engine {
    let mut e = Engine::new();
    e.set_max_call_levels(256);
    e
}

thread_local! {
    /// Built once per instance; `info()` builds it so the host's frozen image (wizer) has it,
    /// as the Starlark guest does with its builtins.
    static ENGINE: Engine = new_engine();
}

fn with_engine<T>(f: impl FnOnce(&Engine) -> T) -> T {
    ENGINE.with(f)
}

fn json(t: &str) -> Result<Dynamic, Fault> {
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| fault(FaultKind::BadInput, e))?;
    rhai::serde::to_dynamic(v).map_err(|e| fault(FaultKind::BadInput, e))
}

fn side(a: &Option<String>, u: &Option<String>) -> Result<Dynamic, Fault> {
    let mut m = Map::new();
    m.insert("agent".into(), match a { Some(t) => json(t)?, None => Dynamic::UNIT });
    m.insert("user".into(), match u { Some(t) => json(t)?, None => Dynamic::UNIT });
    Ok(m.into())
}

struct R;
impl Guest for R {
    fn lint(program: String) -> Result<Vec<Fault>, Fault> {
        with_engine(|e| e.compile(&program)).map_err(|e| fault(FaultKind::Syntax, e))?;
        Ok(vec![])
    }
    fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
        let args = (json(&input.task)?, json(&input.trajectory)?, side(&input.initial_agent_state, &input.initial_user_state)?, side(&input.final_agent_state, &input.final_user_state)?);
        let v: Dynamic = with_engine(|e| {
            let ast = e.compile(&program).map_err(|e| fault(FaultKind::Syntax, e))?;
            e.call_fn(&mut Scope::new(), &ast, "check", args).map_err(|e| fault(FaultKind::Runtime, e))
        })?;
        if let Ok(b) = v.as_bool() {
            return Ok(Verdict { passed: b, score: None, reasons: vec![], output: String::new() });
        }
        let m = v.try_cast::<Map>().ok_or_else(|| fault(FaultKind::BadReturn, "not a map"))?;
        let passed = m.get("passed").and_then(|p| p.as_bool().ok()).ok_or_else(|| fault(FaultKind::BadReturn, "no passed"))?;
        let score = m.get("score").and_then(|s| s.as_float().ok());
        let reasons = m.get("reasons").and_then(|r| r.clone().try_cast::<rhai::Array>()).map(|a| a.into_iter().map(|x| x.to_string()).collect()).unwrap_or_default();
        Ok(Verdict { passed, score, reasons, output: String::new() })
    }
    fn info() -> RuntimeInfo {
        // Warm the engine: the host snapshots the instance after this call.
        with_engine(|_| ());
        RuntimeInfo { language: "rhai".into(), interpreter: "rhai 1.27".into() }
    }
}
export!(R);
