use crate::prelude::*;
use crate::{deep_merge, py_process, pyjson, Alias, EnvCall, EpisodeInit, ToolErrorKind};
use serde_json::json;

/// Three required arguments.
#[derive(ToolArgs)]
struct ThreeArgs {
    /// First
    a_b: String,
    /// Second
    item_ids: Vec<String>,
    c: PyValue,
    /// Optional number
    #[arg(default = "2.5")]
    ratio: f64,
    /// Exact schema
    #[arg(schema = r##"{"type": "string", "title": "Mode", "anyOf": [{"$ref": "#/$defs/M"}]}"##)]
    mode: Option<PyValue>,
}

/// Summary line.
///
/// Second paragraph.
#[derive(ToolArgs)]
#[tool(name = "custom_name", defs = r#"{"M": {"type": "string", "enum": ["x"]}}"#)]
struct Renamed {
    #[arg(rename = "type", title = "Kind", values = ["a", "b"])]
    kind: String,
}

#[test]
fn derive_names_and_schema() {
    assert_eq!(ThreeArgs::NAME, "three");
    assert_eq!(ThreeArgs::DESCRIPTION, "Three required arguments.");
    assert_eq!(Renamed::NAME, "custom_name");
    assert_eq!(Renamed::DESCRIPTION, "Summary line.\n\nSecond paragraph.");
    assert_eq!(
        pyjson::dumps(&ThreeArgs::parameters()),
        r##"{"properties": {"a_b": {"description": "First", "title": "A B", "type": "string"}, "item_ids": {"description": "Second", "items": {"type": "string"}, "title": "Item Ids", "type": "array"}, "c": {"title": "C", "type": "string"}, "ratio": {"default": 2.5, "description": "Optional number", "title": "Ratio", "type": "number"}, "mode": {"anyOf": [{"$ref": "#/$defs/M"}], "title": "Mode", "type": "string"}}, "required": ["a_b", "item_ids", "c"], "title": "parameters", "type": "object"}"##
    );
    assert_eq!(
        pyjson::dumps(&Renamed::parameters()),
        r##"{"$defs": {"M": {"enum": ["x"], "type": "string"}}, "properties": {"type": {"enum": ["a", "b"], "title": "Kind", "type": "string"}}, "required": ["type"], "title": "parameters", "type": "object"}"##
    );
}

#[test]
fn python_binding_errors() {
    let kw = |v: Value| v.as_object().cloned().unwrap_or_default();
    let e = ThreeArgs::from_kwargs("K", &kw(json!({}))).err().unwrap();
    assert_eq!(e.message, "K.three() missing 3 required positional arguments: 'a_b', 'item_ids', and 'c'");
    let e = ThreeArgs::from_kwargs("K", &kw(json!({"a_b": "x"}))).err().unwrap();
    assert_eq!(e.message, "K.three() missing 2 required positional arguments: 'item_ids' and 'c'");
    let e = ThreeArgs::from_kwargs("K", &kw(json!({"zz": 1, "yy": 2}))).err().unwrap();
    assert_eq!(e.message, "K.three() got an unexpected keyword argument 'zz'");
    let e = ThreeArgs::from_kwargs("K", &kw(json!({"a_b": 1, "item_ids": [], "c": 1}))).err().unwrap();
    assert_eq!(e.kind, ToolErrorKind::InvalidArguments);
    let ok = ThreeArgs::from_kwargs("K", &kw(json!({"a_b": "x", "item_ids": ["1"], "c": 1e18}))).ok().unwrap();
    assert_eq!(ok.c.to_string(), "1e+18");
    assert_eq!(ok.ratio, 2.5);
    assert!(ok.mode.is_none());
    assert_eq!(ok.a_b, "x");
    assert_eq!(ok.item_ids, vec!["1".to_string()]);
    let r = Renamed::from_kwargs("K", &kw(json!({"type": "a"}))).ok().unwrap();
    assert_eq!(r.kind, "a");
}

/// A loose argument with a default.
#[derive(ToolArgs)]
struct LooseDefault {
    first: PyValue,
    #[arg(default = r#"{"d": [1]}"#)]
    second: PyValue,
}

#[test]
fn owned_binding_binds_like_the_borrowed_one() {
    let kw = |v: Value| v.as_object().cloned().unwrap_or_default();
    let cases = [
        json!({}),
        json!({"a_b": "x"}),
        json!({"zz": 1, "yy": 2}),
        json!({"a_b": 1, "item_ids": [], "c": 1}),
        json!({"a_b": "x", "item_ids": "no", "c": [{"deep": ["list", 1.5]}]}),
        json!({"a_b": "x", "item_ids": ["1"], "c": 1e18, "mode": "m"}),
    ];
    for case in cases {
        let (b, o) = (ThreeArgs::from_kwargs("K", &kw(case.clone())), ThreeArgs::from_kwargs_owned("K", kw(case.clone())));
        match (b, o) {
            (Ok(b), Ok(o)) => {
                assert_eq!((&b.a_b, &b.item_ids, &b.c, b.ratio, &b.mode), (&o.a_b, &o.item_ids, &o.c, o.ratio, &o.mode), "{case}");
            }
            (Err(b), Err(o)) => assert_eq!((b.kind, b.message), (o.kind, o.message), "{case}"),
            (b, o) => panic!("{case}: borrowed {:?}, owned {:?}", b.err().map(|e| e.message), o.err().map(|e| e.message)),
        }
    }
    let l = LooseDefault::from_kwargs_owned("K", kw(json!({"first": [{"x": "y"}]}))).ok().unwrap();
    assert_eq!((l.first.0, l.second.0), (json!([{"x": "y"}]), json!({"d": [1]})));
    let e = LooseDefault::from_kwargs_owned("K", kw(json!({"second": 1}))).err().unwrap();
    assert_eq!(e.message, "K.loose_default() missing 1 required positional argument: 'first'");
}

#[test]
fn merge_and_process() {
    let mut base = json!({"a": {"x": 1, "y": [1]}, "b": 2});
    deep_merge(&mut base, json!({"a": {"y": [2], "z": {}}, "c": 3}));
    assert_eq!(pyjson::dumps(&base), r#"{"a": {"x": 1, "y": [2], "z": {}}, "b": 2, "c": 3}"#);
    assert_eq!(py_process(json!([1, 2.0, true, null, "s"])), json!(["1", "2.0", "True", null, "s"]));
    let p = PyValue(json!({"a": 1}));
    assert_eq!(p.dict_key().unwrap_err().message, "unhashable type: 'dict'");
    assert_eq!(PyValue(json!(3)).dict_key().unwrap(), None);
    assert_eq!(PyValue(json!(["it's", null])).to_string(), r#"["it's", None]"#);
}

// A tiny two-sided domain for the runtime.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Db {
    items: crate::OrderedMap<String, f64>,
}
#[derive(Clone)]
struct Two {
    db: Db,
    udb: Db,
}
/// Put an item.
#[derive(ToolArgs)]
struct Put {
    /// Key
    key: String,
    /// Value
    value: f64,
}
/// List items.
#[derive(ToolArgs)]
struct List {}
/// Check an item.
#[derive(ToolArgs)]
struct AssertItem {
    key: String,
    value: f64,
}
impl Two {
    fn put(&mut self, a: Put) -> Result<Value, String> {
        self.db.items.insert(a.key, a.value);
        Ok(json!({"ok": true}))
    }
    fn uput(&mut self, a: Put) -> Result<String, ToolError> {
        if a.value < 0.0 {
            return Err(ToolError::failed("negative"));
        }
        self.udb.items.insert(a.key.clone(), a.value);
        Ok(format!("put {}", a.key))
    }
    fn list(&mut self, _: List) -> Result<Vec<f64>, ToolError> {
        Ok(self.db.items.values().copied().collect())
    }
    fn assert_item(&mut self, a: AssertItem) -> Result<bool, ToolError> {
        Ok(self.db.items.get(&a.key) == Some(&a.value))
    }
}
impl Domain for Two {
    fn info() -> DomainInfo {
        DomainInfo::new("two", "0.1.0", "p").with_user_db()
    }
    fn initial_state() -> Result<Self, String> {
        let mut items = crate::OrderedMap::default();
        items.insert("z".to_string(), 100.0);
        Ok(Two { db: Db { items: items.clone() }, udb: Db { items } })
    }
    fn toolkits() -> Vec<Toolkit<Self>> {
        vec![
            Toolkit::new("TwoTools", Requestor::Assistant)
                .tool(ToolKind::Write, Self::put)
                .tool(ToolKind::Read, Self::list)
                .env_fn(Self::assert_item),
            Toolkit::new("TwoUserTools", Requestor::User).tool(ToolKind::Write, Self::uput).mutates(false),
        ]
    }
    fn agent_db(&self) -> Result<Value, String> {
        to_value(&self.db)
    }
    fn set_agent_db(&mut self, v: Value) -> Result<(), String> {
        self.db = from_value(v)?;
        Ok(())
    }
    fn user_db(&self) -> Option<Result<Value, String>> {
        Some(to_value(&self.udb))
    }
    fn set_user_db(&mut self, v: Value) -> Result<(), String> {
        self.udb = from_value(v)?;
        Ok(())
    }
}

#[test]
fn runtime_end_to_end() {
    let mut rt = Runtime::<Two>::new();
    let tools = rt.tools();
    assert_eq!(tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["put", "list", "put"]);
    assert!(!tools[2].mutates_state);
    assert_eq!(rt.call_tool(Requestor::Assistant, "put", r#"{"key": "a", "value": 1}"#).unwrap(), r#"{"ok": true}"#);
    assert_eq!(rt.call_tool(Requestor::Assistant, "list", "{}").unwrap(), "[100.0, 1.0]");
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"items": {"a": 1.0, "z": 100.0}}"#);
    assert_eq!(rt.call_tool(Requestor::User, "put", r#"{"key": "u", "value": 2}"#).unwrap(), "put u");
    let e = rt.call_tool(Requestor::User, "put", r#"{"key": "u", "value": -2}"#).unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ToolErrorKind::Failed, "negative"));
    let e = rt.call_tool(Requestor::User, "list", "{}").unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ToolErrorKind::UnknownTool, "Tool 'list' not found."));
    let call = EnvCall { side: Side::Assistant, name: "assert_item".into(), arguments: r#"{"key": "a", "value": 1.0}"#.into() };
    assert_eq!(rt.env_function(&call).unwrap(), "true");
    let snap = rt.snapshot();
    rt.call_tool(Requestor::Assistant, "put", r#"{"key": "b", "value": 1e300}"#).unwrap();
    let after = rt.state_json(Side::Assistant);
    let snap2 = rt.snapshot();
    rt.restore(&snap).unwrap();
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"items": {"a": 1.0, "z": 100.0}}"#);
    rt.restore(&snap2).unwrap();
    assert_eq!(rt.state_json(Side::Assistant), after);
    assert_eq!(rt.snapshot(), snap2);

    // agent_data: merged, re-validated (ints become floats), user side aliased to it.
    let init = EpisodeInit { agent_data: Some(r#"{"items": {"q": 5}}"#.into()), ..Default::default() };
    rt.reset(&init).unwrap();
    assert_eq!(rt.alias(), Alias::UserIsAgent);
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"items": {"q": 5.0, "z": 100.0}}"#);
    assert_eq!(rt.state_json(Side::User), rt.state_json(Side::Assistant));
    // user_data only: the agent side is aliased to the user DB.
    let init = EpisodeInit { user_data: Some(r#"{"items": {"u": 1}}"#.into()), ..Default::default() };
    rt.reset(&init).unwrap();
    assert_eq!(rt.alias(), Alias::AgentIsUser);
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"items": {"u": 1.0, "z": 100.0}}"#);
    // invalid data → error, initial state.
    let init = EpisodeInit { agent_data: Some(r#"{"items": {"q": "x"}}"#.into()), ..Default::default() };
    assert!(rt.reset(&init).is_err());
    assert_eq!(rt.alias(), Alias::None);
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"items": {"z": 100.0}}"#);
}

/// A reset with the `init` that produced the current, untouched state is skipped; anything
/// that may have changed the state (a tool call, even a reading one, an environment function,
/// a restore, a failed reset) makes the next reset a real one.
#[test]
fn repeated_reset_is_skipped_only_while_the_state_is_untouched() {
    // Where the agent DB's rows live: a real reset clones the pristine state into new memory
    // while the old state is still alive, so the address changes exactly when it runs.
    fn rows(rt: &Runtime<Two>) -> *const f64 {
        rt.domain().map(|d| &d.db.items["z"] as *const f64).unwrap_or(std::ptr::null())
    }
    let initial = r#"{"items": {"z": 100.0}}"#;
    let empty = EpisodeInit::default();
    let mut rt = Runtime::<Two>::new();
    rt.reset(&empty).unwrap();
    let p = rows(&rt);
    rt.reset(&empty).unwrap();
    assert_eq!(rows(&rt), p, "an untouched state is not rebuilt");
    rt.call_tool(Requestor::Assistant, "list", "{}").unwrap();
    rt.reset(&empty).unwrap();
    assert_ne!(rows(&rt), p, "after a tool call the reset runs");
    rt.call_tool(Requestor::Assistant, "put", r#"{"key": "a", "value": 1}"#).unwrap();
    rt.reset(&empty).unwrap();
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), initial);

    let a = EpisodeInit { agent_data: Some(r#"{"items": {"q": 5}}"#.into()), ..Default::default() };
    let b = EpisodeInit { user_data: Some(r#"{"items": {"u": 1}}"#.into()), ..Default::default() };
    rt.reset(&a).unwrap();
    let p = rows(&rt);
    rt.reset(&a).unwrap();
    assert_eq!((rows(&rt), rt.alias()), (p, Alias::UserIsAgent));
    rt.reset(&b).unwrap();
    assert_eq!((rt.state_json(Side::Assistant).unwrap().as_str(), rt.alias()), (r#"{"items": {"u": 1.0, "z": 100.0}}"#, Alias::AgentIsUser));
    rt.reset(&empty).unwrap();
    assert_eq!((rt.state_json(Side::Assistant).unwrap().as_str(), rt.alias()), (initial, Alias::None));

    // An environment function, a restore and a failed reset each make the next reset real.
    let call = EnvCall { side: Side::Assistant, name: "assert_item".into(), arguments: r#"{"key": "z", "value": 100.0}"#.into() };
    let p = rows(&rt);
    rt.env_function(&call).unwrap();
    rt.reset(&empty).unwrap();
    assert_ne!(rows(&rt), p);
    let snap = rt.snapshot();
    let p = rows(&rt);
    rt.restore(&snap).unwrap();
    rt.reset(&empty).unwrap();
    assert_ne!(rows(&rt), p);
    let bad = EpisodeInit { agent_data: Some(r#"{"items": {"q": "x"}}"#.into()), ..Default::default() };
    assert!(rt.reset(&bad).is_err());
    assert!(rt.reset(&bad).is_err(), "a failed reset is never skipped");
    let p = rows(&rt);
    rt.reset(&empty).unwrap();
    assert_ne!(rows(&rt), p);
    assert_eq!(rt.state_json(Side::Assistant).unwrap(), initial);
}

#[test]
fn cached_hash_and_binary_snapshot() {
    let mut rt = Runtime::<Two>::new();
    let slow = |rt: &Runtime<Two>, side: Side| {
        let d = rt.domain().unwrap();
        let v = if side == Side::Assistant { d.agent_db().unwrap() } else { d.user_db().unwrap().unwrap() };
        pyjson::hash_value(&v)
    };
    let h0 = rt.state_hash(Side::User).unwrap();
    assert_eq!(h0, slow(&rt, Side::User));
    // `uput` is registered with `.mutates(false)` yet writes: the cache must not go stale.
    rt.call_tool(Requestor::User, "put", r#"{"key": "a", "value": 1e16}"#).unwrap();
    assert_ne!(rt.state_hash(Side::User).unwrap(), h0);
    assert_eq!(rt.state_hash(Side::User).unwrap(), slow(&rt, Side::User));
    rt.call_tool(Requestor::Assistant, "put", r#"{"key": "é", "value": 0.1}"#).unwrap();
    assert_eq!(rt.state_hash(Side::Assistant).unwrap(), slow(&rt, Side::Assistant));

    let snap = rt.snapshot();
    let mut other = Runtime::<Two>::new();
    other.restore(&snap).unwrap();
    for side in [Side::Assistant, Side::User] {
        assert_eq!(other.state_json(side), rt.state_json(side));
    }
    assert_eq!(other.snapshot(), snap);
    // Aliasing survives a snapshot.
    let init = EpisodeInit { agent_data: Some(r#"{"items": {"q": 2.0}}"#.into()), ..Default::default() };
    rt.reset(&init).unwrap();
    let snap = rt.snapshot();
    other.restore(&snap).unwrap();
    assert_eq!(other.alias(), Alias::UserIsAgent);
    assert_eq!(other.state_hash(Side::User), rt.state_hash(Side::User));

    // Version 1 (JSON) snapshots still restore.
    let v1 = r#"{"v": 1, "alias": "None", "agent": {"items": {"k": 3.0}}, "user": {"items": {}}}"#;
    other.restore(v1.as_bytes()).unwrap();
    assert_eq!(other.state_json(Side::Assistant).unwrap(), r#"{"items": {"k": 3.0}}"#);

    // Garbage and truncations fail cleanly and leave the state alone.
    let before = other.state_json(Side::Assistant);
    let mut bad: Vec<Vec<u8>> = (0..snap.len()).map(|n| snap[..n].to_vec()).collect();
    for i in 0..snap.len() {
        let mut b = snap.clone();
        b[i] ^= 0xff;
        bad.push(b);
    }
    bad.push(vec![b'E', b'B', b'X', b'S', 2, 0, 7, 0xff, 0xff, 0xff, 0xff]);
    let mut deep = b"EBXS\x02\x00".to_vec();
    deep.extend(std::iter::repeat_n([7u8, 1, 0, 0, 0], 100_000).flatten());
    bad.push(deep);
    for b in &bad {
        if other.restore(b).is_ok() {
            // A flipped byte inside a string or number can still be a valid snapshot.
            other.restore(v1.as_bytes()).unwrap();
        }
    }
    assert_eq!(other.state_json(Side::Assistant), before);
}

/// Borrowed (`tool_ref`) and cached (`tool_cached`) results render exactly like owned ones,
/// as text and as values, before and after the row is written; string results stay verbatim.
#[test]
fn borrowed_and_cached_results_render_like_owned_ones() {
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Row {
        name: String,
        n: f64,
        tags: Vec<String>,
    }
    #[derive(Clone, Serialize, Deserialize)]
    struct Db {
        rows: Table<Row, true>,
        plain: Table<Row>,
    }
    #[derive(Clone)]
    struct D {
        db: Db,
    }
    /// Get a row.
    #[derive(ToolArgs)]
    struct Get {
        /// Id
        id: String,
    }
    /// Get a row, borrowed.
    #[derive(ToolArgs)]
    struct GetRef {
        /// Id
        id: String,
    }
    /// Get a row, cached.
    #[derive(ToolArgs)]
    struct GetCached {
        /// Id
        id: String,
    }
    /// Get a plain-table row, cached.
    #[derive(ToolArgs)]
    struct GetPlain {
        /// Id
        id: String,
    }
    /// Bump a row.
    #[derive(ToolArgs)]
    struct Bump {
        /// Id
        id: String,
    }
    /// A string result.
    #[derive(ToolArgs)]
    struct Say {
        /// Text
        text: String,
    }
    impl D {
        fn get(&mut self, a: Get) -> Result<Row, ToolError> {
            self.db.rows.get(&a.id).cloned().ok_or_else(|| ToolError::failed("no"))
        }
        fn get_ref(&mut self, a: GetRef) -> Result<&Row, ToolError> {
            self.db.rows.get(&a.id).ok_or_else(|| ToolError::failed("no"))
        }
        fn get_cached(&mut self, a: GetCached) -> Result<crate::Cached<'_, Row>, ToolError> {
            self.db.rows.get_cached(&a.id).ok_or_else(|| ToolError::failed("no"))
        }
        fn get_plain(&mut self, a: GetPlain) -> Result<crate::Cached<'_, Row>, ToolError> {
            self.db.plain.get_cached(&a.id).ok_or_else(|| ToolError::failed("no"))
        }
        fn bump(&mut self, a: Bump) -> Result<&Row, ToolError> {
            if let Some(p) = self.db.plain.get_mut(&a.id) {
                p.n += 0.5;
                p.tags.push("b\u{e9}\"".into());
            }
            let r = self.db.rows.get_mut(&a.id).ok_or_else(|| ToolError::failed("no"))?;
            r.n += 0.5;
            r.tags.push("b\u{e9}\"".into());
            Ok(r)
        }
        fn say(&mut self, a: Say) -> Result<String, ToolError> {
            Ok(a.text)
        }
    }
    impl Domain for D {
        fn info() -> DomainInfo {
            DomainInfo::new("d", "0.1.0", "")
        }
        fn initial_state() -> Result<Self, String> {
            let rows = json!({"r1": {"name": "\u{1F600} x", "n": 1e16, "tags": []}, "r2": {"name": "y", "n": 2.0, "tags": ["a"]}});
            Ok(D { db: Db { rows: from_value(rows.clone())?, plain: from_value(rows)? } })
        }
        fn toolkits() -> Vec<Toolkit<Self>> {
            vec![Toolkit::new("T", Requestor::Assistant)
                .tool(ToolKind::Read, Self::get)
                .tool_ref(ToolKind::Read, Self::get_ref)
                .tool_cached(ToolKind::Read, Self::get_cached)
                .tool_cached(ToolKind::Read, Self::get_plain)
                .tool_ref(ToolKind::Write, Self::bump)
                .tool(ToolKind::Read, Self::say)]
        }
        crate::db_fields!(agent: db: Db);
    }
    let mut rt = Runtime::<D>::new();
    let a = Requestor::Assistant;
    let check = |rt: &mut Runtime<D>, id: &str| {
        let args = format!(r#"{{"id": "{id}"}}"#);
        let owned = rt.call_tool(a, "get", &args).unwrap();
        assert_eq!(owned, pyjson::to_json(rt.domain().unwrap().db.rows.get(id).unwrap()).unwrap());
        for tool in ["get_ref", "get_cached", "get_plain"] {
            assert_eq!(rt.call_tool(a, tool, &args).unwrap(), owned, "{tool}");
            assert_eq!(rt.call_tool_value(a, tool, &args).unwrap(), rt.call_tool_value(a, "get", &args).unwrap(), "{tool}");
            assert_eq!(rt.env_function_value(a, tool, &args).unwrap(), rt.env_function_value(a, "get", &args).unwrap(), "{tool}");
        }
    };
    check(&mut rt, "r1");
    // A hash renders (and caches) every row's result text too.
    rt.state_hash(Side::Assistant).unwrap();
    check(&mut rt, "r2");
    let bumped = rt.call_tool(a, "bump", r#"{"id": "r1"}"#).unwrap();
    assert!(bumped.contains(r#""b\u00e9\"""#), "{bumped}");
    check(&mut rt, "r1");
    assert_eq!(rt.call_tool(a, "get_cached", r#"{"id": "r1"}"#).unwrap(), bumped);
    assert_eq!(rt.call_tool(a, "get_cached", r#"{"id": "zz"}"#).unwrap_err().message, "no");
    // String results are the content itself.
    assert_eq!(rt.call_tool(a, "say", r#"{"text": "a \"q\" \u00e9\n"}"#).unwrap(), "a \"q\" \u{e9}\n");
    assert_eq!(rt.call_tool_value(a, "say", r#"{"text": "x"}"#).unwrap(), json!("x"));
}

/// Error locations name the field where it failed: top level, inside a listed model
/// (`passengers.1.dob`), a missing field inside one, and a location written out in full.
#[test]
fn validation_error_locations() {
    use crate::py::pydantic::Validator;
    let person = |v: &mut Validator, loc: &str, m: &crate::Map<String, Value>| {
        let a = v.field(loc, m, "first_name").and_then(|x| v.str_((loc, "first_name"), x));
        let b = v.field(loc, m, "dob").and_then(|x| v.str_((loc, "dob"), x));
        Some((a?, b?))
    };
    let mut v = Validator::default();
    let cabin = v.literal("cabin", &json!("first"), &["business", "economy"]);
    let list = json!([{"first_name": "A", "dob": "x"}, {"first_name": "B", "dob": 7}, {"dob": "y"}]);
    let people = v.list("passengers", &list, |v, loc, x| v.model(loc, x, "Passenger", person));
    let n = v.int(String::from("nested.count"), &json!("1.5"));
    assert!(cabin.is_none() && people.is_none() && n.is_none());
    let locs: Vec<&str> = v.errs.iter().map(|e| e.loc.as_str()).collect();
    assert_eq!(locs, ["cabin", "passengers.1.dob", "passengers.2.first_name", "nested.count"]);
    let text = v.finish("Reservation").unwrap_err().message;
    assert!(text.starts_with("4 validation errors for Reservation\ncabin\n  Input should be 'business' or 'economy' [type=literal_error"), "{text}");
    assert!(text.contains("passengers.2.first_name\n  Field required [type=missing, input_value={'dob': 'y'}, input_type=dict]"), "{text}");
}
