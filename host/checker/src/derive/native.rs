//! Native evaluation of checker programs with the `starlark` crate (the interpreter the
//! sandboxed `checker-starlark` component embeds): same dialect (`Dialect::Standard`), same
//! globals (`Globals::standard()`), same calling convention. For tests and for verifying
//! derived programs on a machine without the sandbox; not a sandbox itself (no fuel or memory
//! limits), so run only programs you trust here, e.g. derived ones.

use serde::Serialize;
use serde_json::Value as Json;
use starlark::environment::{Globals, Module};
use starlark::eval::Evaluator;
use starlark::syntax::{AstModule, Dialect};
use starlark::values::dict::AllocDict;
use starlark::values::list::AllocList;
use starlark::values::{Heap, Value};

/// A failure of the program (not a failing verdict).
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The source does not parse.
    #[error("syntax: {0}")]
    Syntax(String),
    /// Evaluating the module's top level failed.
    #[error("module: {0}")]
    Module(String),
    /// The program defines no `check`.
    #[error("the program defines no `check` function")]
    NoCheck,
    /// `check` raised (`fail()` or a runtime error).
    #[error("check failed: {0}")]
    Check(String),
    /// `check` returned something that is not a verdict.
    #[error("bad verdict: {0}")]
    BadVerdict(String),
}

/// What `check` returned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether the task was accomplished.
    pub passed: bool,
    /// Graded score, if any.
    pub score: Option<f64>,
    /// Why.
    pub reasons: Vec<String>,
}

/// A checker program, checked to parse, evaluate and define `check`. Every
/// [`NativeChecker::check`] parses and evaluates it afresh in a new heap, as the sandboxed
/// runtime does with a program it receives as data, so no check sees another's state.
pub struct NativeChecker {
    source: String,
}

impl std::fmt::Debug for NativeChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeChecker").field("bytes", &self.source.len()).finish()
    }
}

/// The checker's `initial` / `final` argument: `{"agent": ..., "user": ...}`.
pub fn states_arg(agent: Option<&Json>, user: Option<&Json>) -> Json {
    serde_json::json!({"agent": agent.cloned().unwrap_or(Json::Null), "user": user.cloned().unwrap_or(Json::Null)})
}

fn to_star<'v>(heap: Heap<'v>, v: &Json) -> Value<'v> {
    match v {
        Json::Null => Value::new_none(),
        Json::Bool(b) => Value::new_bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                heap.alloc(i)
            } else if let Some(u) = n.as_u64() {
                heap.alloc(u)
            } else {
                heap.alloc(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => heap.alloc(s.as_str()),
        Json::Array(a) => heap.alloc(AllocList(a.iter().map(|x| to_star(heap, x)))),
        Json::Object(m) => heap.alloc(AllocDict(m.iter().map(|(k, x)| (heap.alloc(k.as_str()), to_star(heap, x))))),
    }
}

fn verdict(v: Json) -> Result<Verdict, NativeError> {
    let bad = |m: &str| NativeError::BadVerdict(format!("{m}: {v}"));
    let obj = v.as_object().ok_or_else(|| bad("not a dict"))?;
    let passed = obj.get("passed").and_then(Json::as_bool).ok_or_else(|| bad("`passed` is not a bool"))?;
    let score = match obj.get("score") {
        None | Some(Json::Null) => None,
        Some(s) => Some(s.as_f64().ok_or_else(|| bad("`score` is not a number"))?),
    };
    let reasons = match obj.get("reasons") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(a)) => a.iter().map(|r| r.as_str().map(str::to_string).ok_or_else(|| bad("a reason is not a string"))).collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`reasons` is not a list")),
    };
    Ok(Verdict { passed, score, reasons })
}

impl NativeChecker {
    /// Parses and evaluates `source`'s top level once, and checks that it defines `check`.
    pub fn compile(source: &str) -> Result<NativeChecker, NativeError> {
        Module::with_temp_heap(|module| -> Result<(), NativeError> {
            let globals = Globals::standard();
            let mut eval = Evaluator::new(&module);
            eval_module(&mut eval, source, &globals)?;
            drop(eval);
            module.get("check").map(|_| ()).ok_or(NativeError::NoCheck)
        })?;
        Ok(NativeChecker { source: source.to_owned() })
    }

    /// Calls `check(task, trajectory, initial, final)`.
    pub fn check(&self, task: &Json, trajectory: &Json, initial: &Json, final_: &Json) -> Result<Verdict, NativeError> {
        let out = Module::with_temp_heap(|module| -> Result<Json, NativeError> {
            let globals = Globals::standard();
            let mut eval = Evaluator::new(&module);
            eval_module(&mut eval, &self.source, &globals)?;
            let f = module.get("check").ok_or(NativeError::NoCheck)?;
            let heap = module.heap();
            let args = [to_star(heap, task), to_star(heap, trajectory), to_star(heap, initial), to_star(heap, final_)];
            let res = eval.eval_function(f, &args, &[]).map_err(|e| NativeError::Check(e.to_string()))?;
            res.to_json_value().map_err(|e| NativeError::BadVerdict(e.to_string()))
        })?;
        verdict(out)
    }
}

fn eval_module(eval: &mut Evaluator<'_, '_, '_>, source: &str, globals: &Globals) -> Result<(), NativeError> {
    let ast = AstModule::parse("checker.star", source.to_owned(), &Dialect::Standard).map_err(|e| NativeError::Syntax(e.to_string()))?;
    eval.eval_module(ast, globals).map_err(|e| NativeError::Module(e.to_string()))?;
    Ok(())
}

/// Compiles and runs `source` once.
pub fn run_checker(source: &str, task: &Json, trajectory: &Json, initial: &Json, final_: &Json) -> Result<Verdict, NativeError> {
    NativeChecker::compile(source)?.check(task, trajectory, initial, final_)
}
