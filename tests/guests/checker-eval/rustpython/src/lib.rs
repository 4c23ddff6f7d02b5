//! Evaluation guest: RustPython (`rustpython-vm` 0.6, bare VM: builtins only, no stdlib, no
//! threading) behind the same `eigenbox:checker/checker-runtime@0.2.0` contract. The program is
//! Python defining `def check(task, trajectory, initial, final)` returning a bool or a dict
//! `{"passed": bool, "score": float, "reasons": [str]}`; the inputs arrive as Python dicts/lists.
//!
//! The interpreter (builtins, types, the capturing `print`) is built once per instance; `info()`
//! builds it so the host's frozen image (wizer) starts with it, as the Starlark guest does.
wit_bindgen::generate!({ path: "../../../../wit/checker-runtime", world: "eigenbox:checker/checker-runtime@0.2.0" });
use exports::eigenbox::checker::runtime::*;
use rustpython_vm::builtins::{PyBaseExceptionRef, PyDict, PyList, PyStr};
use rustpython_vm::compiler::Mode;
use rustpython_vm::{AsObject, Interpreter, PyObjectRef, PyResult, Settings, VirtualMachine};

fn fault(kind: FaultKind, e: impl ToString) -> Fault {
    Fault { kind, message: e.to_string(), line: None, column: None }
}

/// Replaces `print` (no stdio here): output goes to a list the host reads back.
const PRELUDE: &str = r#"
_eigenbox_out = []
def print(*args, sep=" ", end="\n"):
    _eigenbox_out.append(sep.join([str(a) for a in args]) + end)
"#;

fn new_interpreter() -> Interpreter {
    let mut settings = Settings::default();
    settings.isolated = true;
    settings.ignore_environment = true;
    settings.import_site = false;
    settings.user_site_directory = false;
    settings.write_bytecode = false;
    // Fixed string hashing: set iteration order is the same in every run.
    settings.hash_seed = Some(0);
    let interp = Interpreter::without_stdlib(settings);
    interp.enter(|vm| {
        let scope = vm.new_scope_with_builtins();
        let code = vm.compile(PRELUDE, Mode::Exec, "<prelude>").expect("prelude compiles");
        vm.run_code_obj(code, scope.clone()).expect("prelude runs");
        for name in ["print", "_eigenbox_out"] {
            let v = scope.globals.get_item(name, vm).expect("prelude defines it");
            vm.builtins.set_attr(name, v, vm).expect("builtins take it");
        }
    });
    interp
}

thread_local! {
    static INTERP: Interpreter = new_interpreter();
}

fn exception(vm: &VirtualMachine, kind: FaultKind, exc: PyBaseExceptionRef) -> Fault {
    let mut tb = String::new();
    let _ = vm.write_exception(&mut tb, &exc);
    // The last traceback line naming our file gives the position.
    let line = tb
        .lines()
        .filter(|l| l.contains("\"checker.py\""))
        .last()
        .and_then(|l| l.split("line ").nth(1))
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok());
    let message = tb.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("exception").trim().to_string();
    Fault { kind, message, line, column: None }
}

fn to_py(vm: &VirtualMachine, v: &serde_json::Value) -> PyResult {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => vm.ctx.none(),
        J::Bool(b) => vm.ctx.new_bool(*b).into(),
        J::Number(n) => match n.as_i64() {
            Some(i) => vm.ctx.new_int(i).into(),
            None => vm.ctx.new_float(n.as_f64().unwrap_or(f64::NAN)).into(),
        },
        J::String(s) => vm.ctx.new_str(s.as_str()).into(),
        J::Array(a) => vm.ctx.new_list(a.iter().map(|x| to_py(vm, x)).collect::<PyResult<Vec<_>>>()?).into(),
        J::Object(o) => {
            let d = vm.ctx.new_dict();
            for (k, x) in o {
                d.set_item(k.as_str(), to_py(vm, x)?, vm)?;
            }
            d.into()
        }
    })
}

fn json(t: &str) -> Result<serde_json::Value, Fault> {
    serde_json::from_str(t).map_err(|e| fault(FaultKind::BadInput, e))
}

fn opt(t: &Option<String>) -> Result<serde_json::Value, Fault> {
    t.as_deref().map(json).unwrap_or(Ok(serde_json::Value::Null))
}

fn side(vm: &VirtualMachine, a: &serde_json::Value, u: &serde_json::Value) -> PyResult {
    let d = vm.ctx.new_dict();
    d.set_item("agent", to_py(vm, a)?, vm)?;
    d.set_item("user", to_py(vm, u)?, vm)?;
    Ok(d.into())
}

fn text(vm: &VirtualMachine, o: &PyObjectRef) -> String {
    match o.downcast_ref::<PyStr>() {
        Some(s) => s.to_string_lossy().into_owned(),
        None => o.str(vm).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

fn to_verdict(vm: &VirtualMachine, v: PyObjectRef) -> Result<Verdict, Fault> {
    let bad = |m: String| fault(FaultKind::BadReturn, m);
    if v.class().is(vm.ctx.types.bool_type) {
        return Ok(Verdict { passed: v.is(&vm.ctx.true_value), score: None, reasons: vec![], output: String::new() });
    }
    let Some(d) = v.downcast_ref::<PyDict>() else {
        return Err(bad(format!("`check` returned a {}", v.class().name())));
    };
    let get = |k: &str| d.get_item_opt(k, vm).ok().flatten().filter(|x| !vm.is_none(x));
    let passed = match get("passed") {
        Some(p) if p.class().is(vm.ctx.types.bool_type) => p.is(&vm.ctx.true_value),
        _ => return Err(bad("`passed` missing or not a bool".into())),
    };
    let score = match get("score") {
        None => None,
        Some(s) => Some(s.try_float(vm).map_err(|_| bad("`score` is not a number".into()))?.to_f64()),
    };
    let reasons = match get("reasons") {
        None => vec![],
        Some(r) => match r.downcast_ref::<PyList>() {
            Some(l) => l.borrow_vec().iter().map(|x| text(vm, x)).collect(),
            None => vec![text(vm, &r)],
        },
    };
    Ok(Verdict { passed, score, reasons, output: String::new() })
}

fn compile(vm: &VirtualMachine, program: &str) -> Result<rustpython_vm::PyRef<rustpython_vm::builtins::PyCode>, Fault> {
    vm.compile(program, Mode::Exec, "checker.py").map_err(|e| fault(FaultKind::Syntax, e))
}

struct R;
impl Guest for R {
    fn lint(program: String) -> Result<Vec<Fault>, Fault> {
        INTERP.with(|i| i.enter(|vm| compile(vm, &program).map(|_| vec![])))
    }
    fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
        let task = json(&input.task)?;
        let trajectory = json(&input.trajectory)?;
        let (ia, iu, fa, fu) = (opt(&input.initial_agent_state)?, opt(&input.initial_user_state)?, opt(&input.final_agent_state)?, opt(&input.final_user_state)?);
        INTERP.with(|i| {
            i.enter(|vm| {
                let out = vm.builtins.get_attr("_eigenbox_out", vm).map_err(|e| exception(vm, FaultKind::Runtime, e))?;
                if let Some(l) = out.downcast_ref::<PyList>() {
                    l.borrow_vec_mut().clear();
                }
                let code = compile(vm, &program)?;
                let scope = vm.new_scope_with_builtins();
                vm.run_code_obj(code, scope.clone()).map_err(|e| exception(vm, FaultKind::Runtime, e))?;
                let f = scope.globals.get_item_opt("check", vm).ok().flatten().ok_or_else(|| fault(FaultKind::MissingEntry, "the program does not define `check`"))?;
                let bad = |e| exception(vm, FaultKind::BadInput, e);
                let args = (to_py(vm, &task).map_err(bad)?, to_py(vm, &trajectory).map_err(bad)?, side(vm, &ia, &iu).map_err(bad)?, side(vm, &fa, &fu).map_err(bad)?);
                let v = f.call(args, vm).map_err(|e| exception(vm, FaultKind::Runtime, e))?;
                let mut verdict = to_verdict(vm, v)?;
                if let Some(l) = out.downcast_ref::<PyList>() {
                    verdict.output = l.borrow_vec().iter().map(|x| text(vm, x)).collect();
                }
                Ok(verdict)
            })
        })
    }
    fn info() -> RuntimeInfo {
        // Warm the interpreter: the host snapshots the instance after this call.
        INTERP.with(|_| ());
        RuntimeInfo { language: "python".into(), interpreter: "rustpython-vm 0.6 (no stdlib)".into() }
    }
}
export!(R);
