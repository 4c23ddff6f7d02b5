//! eigenbox's checker runtime: a [Starlark](https://github.com/bazelbuild/starlark/blob/master/spec.md)
//! interpreter (Meta's `starlark` crate 0.14) compiled into a component of the
//! `eigenbox:checker/checker-runtime@0.2.0` world, which imports nothing.
//!
//! The host hands it a checker program as text with every check. The program defines
//!
//! ```python
//! def check(task, trajectory, initial, final):
//!     # task: dict (the task JSON); trajectory: list of message dicts;
//!     # initial / final: {"agent": dict or None, "user": dict or None}
//!     return True                     # or False
//!     return {"passed": True, "score": 0.5, "reasons": ["..."]}
//! ```
//!
//! The dialect is standard Starlark plus f-strings, top-level `if`/`for`, keyword-only
//! arguments and type annotations (checked statically when present); `load()` is refused at
//! parse time, so a program can reach no module, file or clock. Builtins: the standard ones
//! plus `struct`, `json` (`json.encode` / `json.decode`), `print` (captured into the verdict's
//! `output`, capped), `map`, `filter`, `partial`, `set`, `enum`, `record`. Everything is
//! deterministic: dict iteration is insertion-ordered, there is no clock and no randomness.
//!
//! Interpreter-level limits (the host's fuel, deadline and memory cap are the real fence):
//! call depth ([`MAX_CALLSTACK`]) so a recursion bomb is a typed `limit` fault rather than a
//! trap, and captured output ([`MAX_PRINT_BYTES`]).
#![allow(clippy::all)]
// The interpreter exists only as the wasm32 component (see Cargo.toml).
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: "../../wit/checker-runtime",
    world: "eigenbox:checker/checker-runtime@0.2.0",
});

use std::cell::RefCell;

use exports::eigenbox::checker::runtime::{CheckInput, Fault, FaultKind, Guest, RuntimeInfo, Verdict};
use starlark::analysis::AstModuleLint;
use starlark::typing::AstModuleTypecheck;
use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::errors::EvalSeverity;
use starlark::eval::Evaluator;
use starlark::syntax::{AstModule, Dialect, DialectTypes};
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::float::UnpackFloat;
use starlark::values::dict::AllocDict;
use starlark::values::list::AllocList;
use starlark::values::{Heap, UnpackValue, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use starlark::PrintHandler;

/// Starlark call frames a program may nest (a recursion bomb stops here with a `limit` fault).
pub const MAX_CALLSTACK: usize = 256;
/// Bytes of `print` output kept; the rest is dropped with a marker.
pub const MAX_PRINT_BYTES: usize = 64 * 1024;
/// The entry point every checker program defines.
pub const ENTRY: &str = "check";
/// The file name positions refer to.
const FILE: &str = "checker.star";

/// The Starlark dialect checker programs are written in.
pub fn dialect() -> Dialect {
    Dialect {
        enable_load: false,
        enable_keyword_only_arguments: true,
        enable_types: DialectTypes::Enable,
        enable_top_level_stmt: true,
        enable_f_strings: true,
        ..Dialect::Standard
    }
}

/// The builtins a checker sees, built once per instance. The host freezes the component after
/// `info()` has built them (wizer), so a fresh instance starts with them in its memory image.
pub fn globals() -> &'static Globals {
    static GLOBALS: std::sync::OnceLock<Globals> = std::sync::OnceLock::new();
    GLOBALS.get_or_init(build_globals)
}

fn build_globals() -> Globals {
    GlobalsBuilder::extended_by(&[
        LibraryExtension::StructType,
        LibraryExtension::RecordType,
        LibraryExtension::EnumType,
        LibraryExtension::Map,
        LibraryExtension::Filter,
        LibraryExtension::Partial,
        LibraryExtension::Print,
        LibraryExtension::Json,
        LibraryExtension::Typing,
        LibraryExtension::SetType,
    ])
    .build()
}

fn fault(kind: FaultKind, message: impl Into<String>) -> Fault {
    Fault { kind, message: message.into(), line: None, column: None }
}

/// A starlark error as a fault with its position (1-based).
fn from_error(kind: FaultKind, e: &starlark::Error) -> Fault {
    use starlark::ErrorKind as K;
    let kind = match e.kind() {
        K::StackOverflow(_) => FaultKind::Limit,
        K::Parser(_) => FaultKind::Syntax,
        // Undefined names are found when the module is compiled, before anything runs.
        K::Scope(_) => FaultKind::StaticCheck,
        _ => kind,
    };
    let (line, column) = match e.span() {
        Some(span) => {
            let r = span.resolve_span();
            (Some(r.begin.line as u32 + 1), Some(r.begin.column as u32 + 1))
        }
        None => (None, None),
    };
    Fault { kind, message: format!("{}", e.without_diagnostic()), line, column }
}

fn parse(program: String) -> Result<AstModule, Fault> {
    AstModule::parse(FILE, program, &dialect()).map_err(|e| {
        let mut f = from_error(FaultKind::Syntax, &e);
        if f.message.contains("load") && !dialect().enable_load {
            f.kind = FaultKind::StaticCheck;
            f.message = format!("{} (checkers cannot load modules: everything they need is passed to `check`)", f.message);
        }
        f
    })
}

struct Capture(RefCell<String>);

impl PrintHandler for Capture {
    fn println(&self, text: &str) -> starlark::Result<()> {
        let mut out = self.0.borrow_mut();
        if out.len() < MAX_PRINT_BYTES {
            let room = MAX_PRINT_BYTES - out.len();
            if text.len() + 1 <= room {
                out.push_str(text);
                out.push('\n');
            } else {
                let mut cut = room;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push_str(&text[..cut]);
                out.push_str("\n[output truncated]\n");
            }
        }
        Ok(())
    }
}

/// JSON text straight onto the Starlark heap, with the same values `heap.alloc(serde_json::Value)`
/// would give (numbers through `serde_json::Number`'s own conversion, duplicate keys keeping the
/// first position and the last value) but without building the `serde_json::Value` tree first:
/// input conversion was most of a check's fixed cost.
fn json<'v>(heap: Heap<'v>, what: &str, text: &str) -> Result<Value<'v>, Fault> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = ToStarlark { heap }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    v.map_err(|e| fault(FaultKind::BadInput, format!("{what} is not valid JSON: {e}")))
}

fn opt_json<'v>(heap: Heap<'v>, what: &str, text: &Option<String>) -> Result<Value<'v>, Fault> {
    match text {
        Some(t) => json(heap, what, t),
        None => Ok(Value::new_none()),
    }
}

/// The key serde_json's `arbitrary_precision` feature (which `starlark` enables) wraps every
/// number in.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

#[derive(Clone, Copy)]
struct ToStarlark<'v> {
    heap: Heap<'v>,
}

impl<'de, 'v> DeserializeSeed<'de> for ToStarlark<'v> {
    type Value = Value<'v>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value<'v>, D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key: a string on the heap, or the marker of an `arbitrary_precision` number.
enum Key<'v> {
    Str(Value<'v>),
    Number,
}

struct KeySeed<'v>(Heap<'v>);

impl<'de, 'v> DeserializeSeed<'de> for KeySeed<'v> {
    type Value = Key<'v>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'v>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'v> Visitor<'de> for KeySeed<'v> {
    type Value = Key<'v>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key<'v>, E> {
        Ok(if s == NUMBER_TOKEN { Key::Number } else { Key::Str(self.0.alloc_str(s).to_value()) })
    }
}

impl<'de, 'v> Visitor<'de> for ToStarlark<'v> {
    type Value = Value<'v>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value<'v>, E> {
        Ok(Value::new_none())
    }
    fn visit_none<E>(self) -> Result<Value<'v>, E> {
        Ok(Value::new_none())
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value<'v>, E> {
        Ok(Value::new_bool(b))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Value<'v>, E> {
        Ok(self.heap.alloc(x))
    }
    fn visit_i64<E>(self, x: i64) -> Result<Value<'v>, E> {
        Ok(self.heap.alloc(x))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value<'v>, E> {
        Ok(self.heap.alloc(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value<'v>, E> {
        Ok(self.heap.alloc_str(s).to_value())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'v>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(self.heap.alloc(AllocList(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'v>, A::Error> {
        let mut entries: Vec<(Value<'v>, Value<'v>)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed(self.heap))? {
            match key {
                Key::Number if entries.is_empty() => {
                    // The only entry of an `arbitrary_precision` number: its literal text.
                    let text: String = map.next_value()?;
                    let n: serde_json::Number = text.parse().map_err(serde::de::Error::custom)?;
                    return Ok(self.heap.alloc(&n));
                }
                Key::Number => entries.push((self.heap.alloc_str(NUMBER_TOKEN).to_value(), map.next_value_seed(self)?)),
                Key::Str(k) => entries.push((k, map.next_value_seed(self)?)),
            }
        }
        Ok(self.heap.alloc(AllocDict(entries)))
    }
}

/// Load the program into `module` (top level runs) and return its `check` function.
fn load<'v>(ev: &mut Evaluator<'v, '_, '_>, module: &Module<'v>, ast: AstModule, globals: &Globals) -> Result<Value<'v>, Fault> {
    ev.eval_module(ast, globals).map_err(|e| from_error(FaultKind::Runtime, &e))?;
    let f = module.get(ENTRY).ok_or_else(|| {
        fault(FaultKind::MissingEntry, format!("the program does not define `{ENTRY}(task, trajectory, initial, final)`"))
    })?;
    if f.get_type() != "function" {
        return Err(fault(FaultKind::MissingEntry, format!("`{ENTRY}` is a {}, not a function", f.get_type())));
    }
    Ok(f)
}

fn to_verdict(v: Value, output: String) -> Result<Verdict, Fault> {
    if let Some(b) = v.unpack_bool() {
        return Ok(Verdict { passed: b, score: None, reasons: Vec::new(), output });
    }
    let bad = |m: String| fault(FaultKind::BadReturn, m);
    let Some(d) = DictRef::from_value(v) else {
        return Err(bad(format!(
            "`{ENTRY}` returned a {} ({}); return True/False or {{\"passed\": bool, \"score\": float, \"reasons\": [str]}}",
            v.get_type(),
            truncate(&v.to_repr(), 80)
        )));
    };
    for (k, _) in d.iter() {
        match k.unpack_str() {
            Some("passed" | "score" | "reasons") => {}
            _ => return Err(bad(format!("unknown key {} in the returned verdict (allowed: passed, score, reasons)", truncate(&k.to_repr(), 80)))),
        }
    }
    let passed = match d.get_str("passed") {
        Some(p) => p.unpack_bool().ok_or_else(|| bad(format!("`passed` must be a bool, not a {}", p.get_type())))?,
        None => return Err(bad("the returned verdict has no `passed`".into())),
    };
    let score = match d.get_str("score") {
        None => None,
        Some(s) if s.is_none() => None,
        Some(s) => {
            let x = match UnpackFloat::unpack_value(s) {
                Ok(Some(UnpackFloat(x))) => x,
                _ => return Err(bad(format!("`score` must be a number, not a {}", s.get_type()))),
            };
            if !(0.0..=1.0).contains(&x) {
                return Err(bad(format!("`score` must be in [0, 1], not {x}")));
            }
            Some(x)
        }
    };
    let reasons = match d.get_str("reasons") {
        None => Vec::new(),
        Some(r) if r.is_none() => Vec::new(),
        Some(r) => match ListRef::from_value(r) {
            Some(list) => list.iter().map(|x| x.unpack_str().map(str::to_owned).unwrap_or_else(|| x.to_str())).collect(),
            None => match r.unpack_str() {
                Some(s) => vec![s.to_owned()],
                None => return Err(bad(format!("`reasons` must be a list of strings, not a {}", r.get_type()))),
            },
        },
    };
    Ok(Verdict { passed, score, reasons, output })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Parse, type-check and load a program without calling it: the faults it would hit before
/// `check` runs, and the linter's warnings.
pub fn lint(program: String) -> Result<Vec<Fault>, Fault> {
    let ast = parse(program)?;
    let globals = globals();
    let names: std::collections::HashSet<String> = globals.names().map(|s| s.as_str().to_owned()).collect();
    let warnings: Vec<Fault> = ast
        .lint(Some(&names))
        .into_iter()
        .filter(|l| l.severity != EvalSeverity::Disabled)
        .map(|l| {
            let r = l.location.resolve_span();
            Fault {
                kind: FaultKind::StaticCheck,
                message: format!("{} ({})", l.problem, l.short_name),
                line: Some(r.begin.line as u32 + 1),
                column: Some(r.begin.column as u32 + 1),
            }
        })
        .collect();
    // The whole-program type checker (types inferred where not annotated): a type error it
    // proves would fail at run time.
    let (errors, ..) = ast.clone().typecheck(globals, &std::collections::HashMap::new());
    if let Some(e) = errors.first() {
        let mut f = from_error(FaultKind::StaticCheck, e);
        if f.kind == FaultKind::Runtime || f.kind == FaultKind::Syntax {
            f.kind = FaultKind::StaticCheck;
        }
        return Err(f);
    }
    Module::with_temp_heap(|module| {
        let capture = Capture(RefCell::new(String::new()));
        let mut ev = Evaluator::new(&module);
        // Loaded as `check` loads it (no evaluator-level static typechecking, which refuses
        // ordinary dynamic code such as comparing a dict global with `None`): lint must not
        // refuse what `check` runs. The whole-program type checker above is what proves errors.
        ev.set_print_handler(&capture);
        let _ = ev.set_max_callstack_size(MAX_CALLSTACK);
        let f = load(&mut ev, &module, ast, globals)?;
        check_arity(f)?;
        Ok(warnings)
    })
}

/// The entry point must accept four positional arguments.
fn check_arity(f: Value) -> Result<(), Fault> {
    // `def check(task, trajectory, initial, final)`: its documentation lists the parameters.
    let doc = f.documentation();
    if let starlark::docs::DocItem::Member(starlark::docs::DocMember::Function(func)) = doc {
        let n = func.params.pos_only.len() + func.params.pos_or_named.len();
        let star = func.params.args.is_some();
        if n != 4 && !(n < 4 && star) {
            return Err(fault(
                FaultKind::MissingEntry,
                format!("`{ENTRY}` takes {n} positional parameter(s); it must take (task, trajectory, initial, final)"),
            ));
        }
    }
    Ok(())
}

/// Run a program on one episode.
pub fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
    let globals = globals();
    Module::with_temp_heap(|module| {
        let ast = parse(program)?;
        let capture = Capture(RefCell::new(String::new()));
        let result = {
            let mut ev = Evaluator::new(&module);
            // No static typechecking when checking: it rejects ordinary dynamic code (a global
            // dict compared with `None`, say) that `lint` reports and Starlark runs fine;
            // annotations are still enforced at run time.
            ev.set_print_handler(&capture);
            let _ = ev.set_max_callstack_size(MAX_CALLSTACK);
            let f = load(&mut ev, &module, ast, globals)?;
            // The inputs go onto the heap only now: values nothing roots would not survive a
            // garbage collection while the program's top level runs.
            let heap = module.heap();
            let task = json(heap, "task", &input.task)?;
            let trajectory = json(heap, "trajectory", &input.trajectory)?;
            if ListRef::from_value(trajectory).is_none() {
                return Err(fault(FaultKind::BadInput, "trajectory must be a JSON array of messages"));
            }
            fn side<'v>(agent: Value<'v>, user: Value<'v>) -> AllocDict<[(&'static str, Value<'v>); 2]> {
                AllocDict([("agent", agent), ("user", user)])
            }
            let initial = side(
                opt_json(heap, "initial agent state", &input.initial_agent_state)?,
                opt_json(heap, "initial user state", &input.initial_user_state)?,
            );
            let final_ = side(
                opt_json(heap, "final agent state", &input.final_agent_state)?,
                opt_json(heap, "final user state", &input.final_user_state)?,
            );
            let args = [task, trajectory, heap.alloc(initial), heap.alloc(final_)];
            let v = ev.eval_function(f, &args, &[]).map_err(|e| from_error(FaultKind::Runtime, &e))?;
            to_verdict(v, String::new())
        };
        result.map(|mut v| {
            v.output = capture.0.take();
            v
        })
    })
}

struct Runtime;

impl Guest for Runtime {
    fn lint(program: String) -> Result<Vec<Fault>, Fault> {
        lint(program)
    }
    fn check(program: String, input: CheckInput) -> Result<Verdict, Fault> {
        check(program, input)
    }
    fn info() -> RuntimeInfo {
        // Warm the interpreter: the host snapshots the instance after this call.
        let _ = globals();
        RuntimeInfo { language: "starlark".into(), interpreter: "starlark-rust 0.14 (dialect: standard + f-strings, types; no load)".into() }
    }
}

export!(Runtime);
