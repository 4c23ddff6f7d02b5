//! Derived checkers against the τ² golden evaluation vectors (`evals.jsonl` of mock, airline,
//! retail and telecom): the checker derived from each task must pass exactly when the
//! reference's reward is 1.0.
//!
//! Two builds, because the `starlark` crate turns on serde_json's `arbitrary_precision`, with
//! which the domains cannot run natively (see `derive`'s docs):
//!
//! 1. `cargo test --release -p eigenbox-checker --test derive_golden` derives every checker
//!    through the in-process domain plugins, computes each record's initial and final states
//!    (the evaluator's predicted environment), checks the diff round trip, and writes fixtures
//!    under `CARGO_TARGET_TMPDIR/derive-golden`.
//! 2. `cargo test --release -p eigenbox-checker --features native-eval --test derive_golden`
//!    runs every derived program natively on its fixture and prints the agreement table.

use std::path::PathBuf;

/// Where phase 1 writes and phase 2 reads (`EIGENBOX_DERIVE_FIXTURES` overrides, e.g. when the
/// two phases use different target directories).
fn fixture_dir() -> PathBuf {
    match std::env::var_os("EIGENBOX_DERIVE_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("derive-golden"),
    }
}

const DOMAINS: [&str; 4] = ["mock", "airline", "retail", "telecom"];

#[cfg(not(feature = "native-eval"))]
mod derive_phase {
    use std::collections::HashMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use eigenbox_checker::derive::{apply_changes, derive_checker, state_diff, DomainCtx, Sides, StateEnv, TERMINATION_KEY};
    use eigenbox_sdk::testing::SdkEnv;
    use eigenbox_sdk::Domain;
    use eigenbox_tau2::{DomainEnv, EpisodeInit, EvalRecord, Message, Requestor, TaskSet, TaskVersion, ToolSpec};
    use serde_json::{json, Value};

    use super::{fixture_dir, DOMAINS};

    /// `SdkEnv` (the in-process plugin) with `state_json`.
    struct Env<D: Domain>(SdkEnv<D>);

    impl<D: Domain> DomainEnv for Env<D> {
        type Error = String;
        fn reset(&mut self, init: &EpisodeInit) -> Result<(), String> {
            self.0.reset(init)
        }
        fn tools(&mut self) -> Result<Vec<ToolSpec>, String> {
            self.0.tools()
        }
        fn call_tool(&mut self, r: Requestor, name: &str, args: &Value) -> Result<(String, bool), String> {
            self.0.call_tool(r, name, args)
        }
        fn call_tool_unsynced(&mut self, r: Requestor, name: &str, args: &Value) -> Result<Option<(String, bool)>, String> {
            self.0.call_tool_unsynced(r, name, args)
        }
        fn env_function(&mut self, side: Requestor, name: &str, args: &Value) -> Result<Value, String> {
            self.0.env_function(side, name, args)
        }
        fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, String> {
            self.0.state_hash(side)
        }
        fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, String> {
            self.0.is_mutating(name)
        }
    }

    impl<D: Domain> StateEnv for Env<D> {
        fn state_json(&mut self, side: Requestor) -> Result<Option<String>, String> {
            let s = match side {
                Requestor::User => eigenbox_sdk::Requestor::User,
                Requestor::Assistant => eigenbox_sdk::Requestor::Assistant,
            };
            Ok(self.0.runtime().state_json(s))
        }
    }

    fn factory<D: Domain>() -> impl FnMut() -> Result<Env<D>, String> {
        let mut inner = SdkEnv::<D>::factory();
        move || inner().map(Env)
    }

    fn golden_dir(domain: &str) -> PathBuf {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let shared = root.join("../shared/golden").join(domain);
        if shared.join("evals.jsonl").is_file() {
            shared
        } else {
            root.join("plugins").join(domain).join("data/golden")
        }
    }

    fn data_dir(domain: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins").join(domain).join("data")
    }

    fn sha(v: &Value) -> String {
        // Content address for de-duplicating initial states (not security relevant).
        use std::hash::{Hash, Hasher};
        let text = v.to_string();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        format!("{:016x}-{}", h.finish(), text.len())
    }

    struct Counts {
        records: usize,
        derived: usize,
        derive_time: Duration,
        failures: Vec<String>,
    }

    fn run_domain<D: Domain>(domain: &str) -> Counts {
        let dir = fixture_dir();
        let states_dir = dir.join("states");
        std::fs::create_dir_all(&states_dir).expect("fixture dir");
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{domain}.jsonl"))).expect("fixture file"));
        let lines = std::fs::read_to_string(golden_dir(domain).join("evals.jsonl")).expect("golden evals.jsonl");
        let mut ctx = DomainCtx::new(domain, factory::<D>());
        let mut sets: HashMap<String, TaskSet> = HashMap::new();
        let mut derived: HashMap<(String, String), (String, Sides)> = HashMap::new();
        let mut c = Counts { records: 0, derived: 0, derive_time: Duration::ZERO, failures: Vec::new() };
        let store = |v: &Option<Value>| -> Value {
            match v {
                None => Value::Null,
                Some(v) => {
                    let key = sha(v);
                    let p = states_dir.join(format!("{key}.json"));
                    if !p.is_file() {
                        std::fs::write(&p, v.to_string()).expect("write state");
                    }
                    Value::String(key)
                }
            }
        };
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let raw: Value = serde_json::from_str(line).expect("json line");
            let rec: EvalRecord = serde_json::from_value(raw.clone()).expect("EvalRecord");
            let version = rec.version.clone().unwrap_or_else(|| "v1.0".into());
            let id = format!("{version}/{}/{}", rec.task_id, rec.variant);
            if rec.generation_error.is_some() {
                continue;
            }
            c.records += 1;
            let set = sets.entry(version.clone()).or_insert_with(|| {
                TaskSet::load(&data_dir(domain), TaskVersion::parse(&version).expect("version"), None).expect("tasks")
            });
            let task = set.get(&rec.task_id).expect("task in set").clone();
            let key = (version.clone(), rec.task_id.clone());
            if !derived.contains_key(&key) {
                let t0 = Instant::now();
                let d = match derive_checker(&task, &mut ctx) {
                    Ok(d) => d,
                    Err(e) => {
                        c.failures.push(format!("{id}: derive failed: {e}"));
                        continue;
                    }
                };
                c.derive_time += t0.elapsed();
                c.derived += 1;
                let initial = ctx.states(&task, false).expect("initial state").initial;
                derived.insert(key.clone(), (d.source, initial));
            }
            let (source, initial) = &derived[&key];
            let messages: Vec<Message> = rec.messages().expect("messages");
            let fin = ctx.replayed_state(&task, &messages).expect("final state");
            // The diff round trip the DB check's soundness rests on, on real states.
            let mut final_changes = json!({});
            for (side, a, b) in [("agent", &initial.agent, &fin.agent), ("user", &initial.user, &fin.user)] {
                let (a, b) = (a.clone().unwrap_or(Value::Null), b.clone().unwrap_or(Value::Null));
                let d = state_diff(&a, &b);
                assert_eq!(apply_changes(&a, &d).as_ref(), Some(&b), "{id}: {side} diff round trip");
                final_changes[side] = serde_json::to_value(&d).expect("changes");
            }
            let mut task_json = serde_json::to_value(&task).expect("task json");
            task_json[TERMINATION_KEY] = json!({"termination_reason": rec.termination_reason.clone()});
            let fixture = json!({
                "id": id,
                "reward": raw["reward_info"]["reward"],
                "task": task_json,
                "trajectory": raw["trajectory"],
                "source": source,
                "initial": {"agent": store(&initial.agent), "user": store(&initial.user)},
                "final_changes": final_changes,
                "final_present": {"agent": fin.agent.is_some(), "user": fin.user.is_some()},
            });
            writeln!(out, "{fixture}").expect("write fixture");
        }
        c
    }

    #[test]
    fn derive_every_golden_task_and_record_fixtures() {
        let rows = [
            run_domain::<eigenbox_plugin_mock::Mock>(DOMAINS[0]),
            run_domain::<eigenbox_plugin_airline::Airline>(DOMAINS[1]),
            run_domain::<eigenbox_plugin_retail::Retail>(DOMAINS[2]),
            run_domain::<eigenbox_plugin_telecom::Telecom>(DOMAINS[3]),
        ];
        let mut failures = Vec::new();
        let mut total = 0;
        for (d, r) in DOMAINS.iter().zip(&rows) {
            println!(
                "{d:<8} {:>4} records, {:>3} checkers derived, {:>8.1} ms per derivation",
                r.records,
                r.derived,
                r.derive_time.as_secs_f64() * 1e3 / r.derived.max(1) as f64
            );
            total += r.records;
            failures.extend(r.failures.iter().cloned());
        }
        for f in &failures {
            println!("FAIL {f}");
        }
        assert!(failures.is_empty());
        assert_eq!(total, 408, "every scored golden record");
        println!("fixtures in {}", fixture_dir().display());
    }
}

#[cfg(feature = "native-eval")]
mod eval_phase {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use eigenbox_checker::derive::native::{states_arg, NativeChecker};
    use eigenbox_checker::derive::{apply_changes, Change, PathElem, TERMINATION_KEY};
    use serde_json::Value;

    use super::{fixture_dir, DOMAINS};

    fn fixtures(domain: &str) -> Vec<Value> {
        let p = fixture_dir().join(format!("{domain}.jsonl"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!("{}: {e}; run `cargo test --release -p eigenbox-checker --test derive_golden` (without native-eval) first", p.display())
        });
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("fixture")).collect()
    }

    fn changes(v: &Value) -> Vec<Change> {
        v.as_array()
            .expect("changes")
            .iter()
            .map(|c| Change {
                path: c["path"]
                    .as_array()
                    .expect("path")
                    .iter()
                    .map(|e| match e {
                        Value::String(s) => PathElem::Key(s.clone()),
                        n => PathElem::Index(n.as_u64().expect("index") as usize),
                    })
                    .collect(),
                old: if c["old"].is_null() && !c.as_object().is_some_and(|m| m.contains_key("old")) { None } else { Some(c["old"].clone()) },
                new: if c["new"].is_null() && !c.as_object().is_some_and(|m| m.contains_key("new")) { None } else { Some(c["new"].clone()) },
            })
            .collect()
    }

    struct States {
        cache: HashMap<String, Value>,
    }

    impl States {
        fn get(&mut self, key: &Value) -> Option<Value> {
            let k = key.as_str()?;
            Some(
                self.cache
                    .entry(k.to_string())
                    .or_insert_with(|| {
                        let text = std::fs::read_to_string(fixture_dir().join("states").join(format!("{k}.json"))).expect("state");
                        serde_json::from_str(&text).expect("state json")
                    })
                    .clone(),
            )
        }
    }

    /// (initial, final) arguments of a fixture.
    fn states(f: &Value, st: &mut States) -> (Value, Value) {
        let ia = st.get(&f["initial"]["agent"]);
        let iu = st.get(&f["initial"]["user"]);
        let fin = |base: &Option<Value>, side: &str| -> Option<Value> {
            if !f["final_present"][side].as_bool().unwrap_or(false) {
                return None;
            }
            let b = base.clone().unwrap_or(Value::Null);
            apply_changes(&b, &changes(&f["final_changes"][side]))
        };
        let fa = fin(&ia, "agent");
        let fu = fin(&iu, "user");
        (states_arg(ia.as_ref(), iu.as_ref()), states_arg(fa.as_ref(), fu.as_ref()))
    }

    #[test]
    fn derived_checkers_agree_with_golden_rewards() {
        let mut st = States { cache: HashMap::new() };
        println!();
        println!(
            "{:<8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>11} {:>10} {:>12}",
            "domain", "records", "agree", "%", "reward=1", "checkers", "check/rec", "max check", "avg program"
        );
        let mut all = (0usize, 0usize);
        let mut failures = Vec::new();
        for d in DOMAINS {
            let fx = fixtures(d);
            let mut agree = 0;
            let mut ones = 0;
            let mut total = Duration::ZERO;
            let mut max = Duration::ZERO;
            let mut sources: HashMap<String, usize> = HashMap::new();
            for f in &fx {
                let id = f["id"].as_str().unwrap_or("?").to_string();
                let source = f["source"].as_str().expect("source");
                sources.insert(source.to_string(), source.len());
                let expected = f["reward"].as_f64() == Some(1.0);
                ones += usize::from(expected);
                let (initial, fin) = states(f, &mut st);
                let t0 = Instant::now();
                let verdict = NativeChecker::compile(source).and_then(|c| c.check(&f["task"], &f["trajectory"], &initial, &fin));
                let dt = t0.elapsed();
                total += dt;
                max = max.max(dt);
                match verdict {
                    Ok(v) if v.passed == expected => agree += 1,
                    Ok(v) => failures.push(format!("{d} {id}: passed={} but reward {}\n  {}", v.passed, f["reward"], v.reasons.join("\n  "))),
                    Err(e) => failures.push(format!("{d} {id}: checker error: {e}")),
                }
            }
            all.0 += fx.len();
            all.1 += agree;
            let avg_src = sources.values().sum::<usize>() / sources.len().max(1);
            println!(
                "{:<8} {:>7} {:>7} {:>6.1}% {:>9} {:>9} {:>9.2}ms {:>8.2}ms {:>10} B",
                d,
                fx.len(),
                agree,
                100.0 * agree as f64 / fx.len().max(1) as f64,
                ones,
                sources.len(),
                total.as_secs_f64() * 1e3 / fx.len().max(1) as f64,
                max.as_secs_f64() * 1e3,
                avg_src
            );
        }
        println!("total    {:>7} {:>7} {:>6.1}%", all.0, all.1, 100.0 * all.1 as f64 / all.0.max(1) as f64);
        for f in failures.iter().take(20) {
            println!("FAIL {f}");
        }
        assert!(failures.is_empty(), "{} disagreements or errors", failures.len());
        assert_eq!(all.0, 408, "every scored golden record");
    }

    #[test]
    fn termination_reason_and_task_id_are_required() {
        let fx = fixtures("mock");
        let f = &fx[0];
        let mut st = States { cache: HashMap::new() };
        let (initial, fin) = states(f, &mut st);
        let c = NativeChecker::compile(f["source"].as_str().expect("source")).expect("compile");
        let mut task = f["task"].clone();
        assert!(c.check(&task, &f["trajectory"], &initial, &fin).is_ok());
        task.as_object_mut().expect("task").remove(TERMINATION_KEY);
        assert!(c.check(&task, &f["trajectory"], &initial, &fin).is_err(), "no termination reason: error");
        let mut other = f["task"].clone();
        other["id"] = "someone_else".into();
        assert!(c.check(&other, &f["trajectory"], &initial, &fin).is_err(), "wrong task id: error");
        let mut stopped = f["task"].clone();
        stopped[TERMINATION_KEY]["termination_reason"] = "max_steps".into();
        let v = c.check(&stopped, &f["trajectory"], &initial, &fin).expect("verdict");
        assert!(!v.passed && v.score == Some(0.0));
    }
}
