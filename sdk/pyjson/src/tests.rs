use super::*;

fn v(s: &str) -> Value { serde_json::from_str(s).expect("test json") }

/// (input JSON, json.dumps, json.dumps(sort_keys=True), str()) computed by CPython.
const VECTORS: &[(&str, &str, &str, &str)] = &[
    ("1e16", "1e+16", "1e+16", "1e+16"),
    ("1e15", "1000000000000000.0", "1000000000000000.0", "1000000000000000.0"),
    ("123456789012345678.0", "1.2345678901234568e+17", "1.2345678901234568e+17", "1.2345678901234568e+17"),
    ("5e-324", "5e-324", "5e-324", "5e-324"),
    ("0.0001", "0.0001", "0.0001", "0.0001"),
    ("0.00001", "1e-05", "1e-05", "1e-05"),
    ("-0.0", "-0.0", "-0.0", "-0.0"),
    ("100.0", "100.0", "100.0", "100.0"),
    ("0.1", "0.1", "0.1", "0.1"),
    ("1e18", "1e+18", "1e+18", "1e+18"),
    ("1e+18", "1e+18", "1e+18", "1e+18"),
    ("1.5e300", "1.5e+300", "1.5e+300", "1.5e+300"),
    ("1.7976931348623157e308", "1.7976931348623157e+308", "1.7976931348623157e+308", "1.7976931348623157e+308"),
    ("2.2250738585072014e-308", "2.2250738585072014e-308", "2.2250738585072014e-308", "2.2250738585072014e-308"),
    ("1234567.125", "1234567.125", "1234567.125", "1234567.125"),
    ("-3.25", "-3.25", "-3.25", "-3.25"),
    ("1e22", "1e+22", "1e+22", "1e+22"),
    ("9007199254740993.0", "9007199254740992.0", "9007199254740992.0", "9007199254740992.0"),
    ("0.30000000000000004", "0.30000000000000004", "0.30000000000000004", "0.30000000000000004"),
    ("18446744073709551615", "18446744073709551615", "18446744073709551615", "18446744073709551615"),
    ("-9223372036854775808", "-9223372036854775808", "-9223372036854775808", "-9223372036854775808"),
    ("9223372036854775807", "9223372036854775807", "9223372036854775807", "9223372036854775807"),
    ("0", "0", "0", "0"),
    ("-1", "-1", "-1", "-1"),
    ("12345678901234567890", "12345678901234567890", "12345678901234567890", "12345678901234567890"),
    ("\"h\\u00e9llo \\u4e16\\ud83d\\ude00\"", "\"h\\u00e9llo \\u4e16\\ud83d\\ude00\"", "\"h\\u00e9llo \\u4e16\\ud83d\\ude00\"", "héllo 世😀"),
    ("\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f \\u0001 \\u001f \\u007f \\u0080 \\u00a0\"", "\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f \\u0001 \\u001f \\u007f \\u0080 \\u00a0\"", "\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f \\u0001 \\u001f \\u007f \\u0080 \\u00a0\"", "q\" b\\ n\n r\r t\t b\u{8} f\u{c} \u{1} \u{1f} \u{7f} \u{80} \u{a0}"),
    ("\"it's\"", "\"it's\"", "\"it's\"", "it's"),
    ("\"both ' and \\\"\"", "\"both ' and \\\"\"", "\"both ' and \\\"\"", "both ' and \""),
    ("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"", "say \"hi\""),
    ("\"\\u2028\\u00ad\\ufeff\"", "\"\\u2028\\u00ad\\ufeff\"", "\"\\u2028\\u00ad\\ufeff\"", "\u{2028}\u{ad}\u{feff}"),
    ("{\"b\": 1, \"a\": [null, true, false, \"x\", 1.0, {\"d\": {}, \"c\": []}], \"\\u00e9\": 2, \"A\": 3, \"_\": 4}", "{\"b\": 1, \"a\": [null, true, false, \"x\", 1.0, {\"d\": {}, \"c\": []}], \"\\u00e9\": 2, \"A\": 3, \"_\": 4}", "{\"A\": 3, \"_\": 4, \"a\": [null, true, false, \"x\", 1.0, {\"c\": [], \"d\": {}}], \"b\": 1, \"\\u00e9\": 2}", "{'b': 1, 'a': [None, True, False, 'x', 1.0, {'d': {}, 'c': []}], 'é': 2, 'A': 3, '_': 4}"),
    ("{\"z\": {\"y\": 1.5e-7, \"x\": [1e100, -1e-100]}, \"key's\": \"v\"}", "{\"z\": {\"y\": 1.5e-07, \"x\": [1e+100, -1e-100]}, \"key's\": \"v\"}", "{\"key's\": \"v\", \"z\": {\"x\": [1e+100, -1e-100], \"y\": 1.5e-07}}", "{'z': {'y': 1.5e-07, 'x': [1e+100, -1e-100]}, \"key's\": 'v'}"),
    ("[]", "[]", "[]", "[]"),
    ("{}", "{}", "{}", "{}"),
    ("null", "null", "null", "None"),
    ("true", "true", "true", "True"),
    ("\"plain\"", "\"plain\"", "\"plain\"", "plain"),
    ("{\"user_id\": 1e+18}", "{\"user_id\": 1e+18}", "{\"user_id\": 1e+18}", "{'user_id': 1e+18}"),
    ("[1e-5, 1e-4, 0.001, 123e-20, 1.0e16, 9999999999999998.0, 99999999999999.99]", "[1e-05, 0.0001, 0.001, 1.23e-18, 1e+16, 9999999999999998.0, 99999999999999.98]", "[1e-05, 0.0001, 0.001, 1.23e-18, 1e+16, 9999999999999998.0, 99999999999999.98]", "[1e-05, 0.0001, 0.001, 1.23e-18, 1e+16, 9999999999999998.0, 99999999999999.98]"),
];

#[test]
fn python_vectors() {
    for (input, d, ds, s) in VECTORS {
        let val = v(input);
        assert_eq!(dumps(&val), *d, "dumps {input}");
        assert_eq!(dumps_sorted(&val), *ds, "dumps_sorted {input}");
        assert_eq!(py_str(&val), *s, "str {input}");
    }
}

#[test]
fn non_finite() {
    assert_eq!(json_float(f64::INFINITY), "Infinity");
    assert_eq!(json_float(f64::NEG_INFINITY), "-Infinity");
    assert_eq!(json_float(f64::NAN), "NaN");
    assert_eq!(float_repr(f64::INFINITY), "inf");
    assert_eq!(float_repr(f64::NAN), "nan");
}

#[test]
fn extremes() {
    assert_eq!(dumps(&serde_json::json!(u64::MAX)), "18446744073709551615");
    assert_eq!(dumps(&serde_json::json!(i64::MIN)), "-9223372036854775808");
    assert_eq!(dumps(&serde_json::json!(f64::MIN_POSITIVE)), "2.2250738585072014e-308");
}

#[test]
fn hashes() {
    assert_eq!(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hash_value(&v("{\"b\": 1, \"a\": 2}")), sha256_hex("{\"a\": 2, \"b\": 1}"));

    let db: Value = serde_json::from_str(include_str!("../../../plugins/mock/data/db.json")).expect("db");
    assert_eq!(hash_value(&db), "107f83a70b7bf4f616e283b0b0b8451346fe7681173398d4498a1ec15c5fdfc6");
}

mod typed {
    use crate::{dumps, dumps_sorted, hash_sorted, hash_value, to_json, to_json_sorted};
    use serde::Serialize;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Loose(Value);

    #[derive(Serialize)]
    #[serde(transparent)]
    struct PyLike(Value);

    #[derive(Serialize)]
    enum Kind {
        Unit,
        New(f64),
        Tup(i32, String),
        Rec { z: u8, a: Option<String> },
    }

    #[derive(Serialize)]
    struct Inner {
        zeta: f64,
        alpha: Vec<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        none: Option<String>,
        kinds: Vec<Kind>,
    }

    #[derive(Serialize)]
    struct Outer {
        title: String,
        by_id: serde_json::Map<String, Value>,
        nums: BTreeMap<i64, bool>,
        py: PyLike,
        loose: Loose,
        inner: Inner,
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
        unit: (),
        ch: char,
        big: u64,
        neg: i128,
        bytes: Vec<u8>,
        tuple: (u8, &'static str),
    }

    fn sample() -> Outer {
        let mut by_id = serde_json::Map::new();
        for k in ["note_10", "note_2", "é", "~", "a\"b", "Z", "", "\u{1f600}", "tab\t"] {
            by_id.insert(k.to_string(), json!({"z": [1e16, 0.1, 100.0, -0.0, 1e-5, 123456789.125], "a": {"y": null, "b": "\u{2603}\n"}}));
        }
        Outer {
            title: "Trip é ☃ \u{1f600} \"q\" \\ \u{7f} \u{1}".into(),
            by_id,
            nums: BTreeMap::from([(10, true), (2, false), (-3, true)]),
            py: PyLike(json!({"b": 1e18, "a": [1.5, "x", {"d": 2, "c": 3}]})),
            loose: Loose(json!(["z", {"y": 1, "x": 2.0}])),
            inner: Inner {
                zeta: f64::NAN,
                alpha: vec![0.1, 3.0, f32::INFINITY],
                skipped: None,
                none: None,
                kinds: vec![Kind::Unit, Kind::New(2.5), Kind::Tup(-1, "t".into()), Kind::Rec { z: 1, a: None }],
            },
            extra: BTreeMap::from([("aaa".to_string(), json!(1)), ("zzz".to_string(), json!({"k": [true]}))]),
            unit: (),
            ch: 'ü',
            big: u64::MAX,
            neg: -42,
            bytes: vec![0, 255],
            tuple: (7, "seven"),
        }
    }

    #[test]
    fn typed_rendering_equals_value_rendering() {
        let t = sample();
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(to_json_sorted(&t).unwrap(), dumps_sorted(&v));
        assert_eq!(to_json(&t).unwrap(), dumps(&v));
        assert_eq!(hash_sorted(&t).unwrap(), hash_value(&v));
        // And on the Value itself (how the default `Domain::serialize_agent_db` goes).
        assert_eq!(to_json_sorted(&v).unwrap(), dumps_sorted(&v));
        assert_eq!(to_json(&v).unwrap(), dumps(&v));
        let s = to_json_sorted(&t).unwrap();
        assert!(s.contains(r#""zeta": null"#), "{s}");
        assert!(s.contains(r#""a": {"b": "\u2603\n", "y": null}, "z": [1e+16, 0.1, 100.0, -0.0, 1e-05, 123456789.125]"#), "{s}");
        assert!(s.contains(r#""none": null"#) && !s.contains("skipped"), "{s}");
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        #[derive(Serialize)]
        struct Clash {
            b: u8,
            a: u8,
            #[serde(flatten)]
            more: BTreeMap<String, u8>,
        }
        let t = Clash { b: 1, a: 2, more: BTreeMap::from([("a".to_string(), 9), ("c".to_string(), 3)]) };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(to_json(&t).unwrap(), dumps(&v));
        assert_eq!(to_json_sorted(&t).unwrap(), dumps_sorted(&v));
        assert_eq!(to_json(&t).unwrap(), r#"{"b": 1, "a": 9, "c": 3}"#);
    }

    /// A container whose first entries are already in sorted place keeps them and rewrites
    /// only the rest; every split point (none kept, some kept, a repeated key right after the
    /// kept prefix, a repeated key inside it) renders as `dumps_sorted(to_value(..))`.
    #[test]
    fn sorted_prefix_stays_and_the_rest_is_rewritten() {
        struct Entries(Vec<(&'static str, Value)>);
        impl Serialize for Entries {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let cases: &[&[&str]] = &[
            &["b", "a"],
            &["a", "c", "b"],
            &["a", "b", "d", "c", "e"],
            &["a", "b", "b"],
            &["a", "a", "c", "b"],
            &["a", "b", "c", "b", "a"],
            &["x", "y", "z", "w"],
        ];
        for keys in cases {
            let t = Entries(keys.iter().enumerate().map(|(i, k)| (*k, json!({"i": i, "s": [format!("{k}{i}")]}))).collect());
            let mut expected = serde_json::Map::new();
            for (k, v) in &t.0 {
                expected.insert(k.to_string(), v.clone());
            }
            let nested = json!({"z": 1});
            assert_eq!(to_json_sorted(&t).unwrap(), dumps_sorted(&Value::Object(expected.clone())), "{keys:?}");
            // The same map inside an outer container that is itself out of order.
            let outer = (nested.clone(), Entries(t.0.clone()));
            let want = json!([nested, Value::Object(expected)]);
            assert_eq!(to_json_sorted(&outer).unwrap(), dumps_sorted(&want), "{keys:?} nested");
        }
    }

    #[test]
    fn many_keys_and_deep_nesting() {
        let mut m = serde_json::Map::new();
        for i in (0..500).rev() {
            m.insert(format!("k{i}"), json!({"n": i, "f": i as f64 / 7.0, "s": [format!("v{i}")]}));
        }
        let mut v = Value::Object(m);
        for i in 0..60 {
            v = json!({"x": v, "a": i});
        }
        assert_eq!(to_json_sorted(&v).unwrap(), dumps_sorted(&v));
        assert_eq!(to_json(&v).unwrap(), dumps(&v));
    }

    #[test]
    fn non_string_keys() {
        let t: BTreeMap<bool, u8> = BTreeMap::from([(true, 1), (false, 0)]);
        assert_eq!(to_json_sorted(&t).unwrap(), dumps_sorted(&serde_json::to_value(&t).unwrap()));
        let bad: BTreeMap<Vec<u8>, u8> = BTreeMap::from([(vec![1], 1)]);
        assert!(to_json_sorted(&bad).is_err());
    }
}

/// The word-at-a-time escape scan agrees with the char-by-char reference renderer for every
/// special character at every position of strings around the 8-byte word size, and the
/// struct fast path renders like the `Value` route.
#[test]
fn word_scan_escapes_exactly() {
    let specials = ['"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{1}', '\u{1f}', '\u{7f}', 'é', '€', '😀', ' ', '~', '\u{0}'];
    for len in 0..20 {
        for pos in 0..len.max(1) {
            for c in specials {
                let mut s: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                if len > 0 {
                    s.replace_range(s.char_indices().nth(pos).map(|(i, ch)| i..i + ch.len_utf8()).unwrap_or(0..0), c.encode_utf8(&mut [0; 4]));
                }
                let mut out = Vec::new();
                crate::push_json_str(&mut out, &s);
                assert_eq!(String::from_utf8(out).unwrap(), crate::json_str(&s), "{s:?}");
            }
        }
    }
    #[derive(serde::Serialize)]
    struct Inner {
        z: f64,
        a: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
        empty: Vec<Inner>,
        tag: std::collections::BTreeMap<String, i64>,
    }
    let o = Outer {
        name: "x\"y".into(),
        items: vec![Inner { z: 1.0, a: None }, Inner { z: 1e16, a: Some("é".into()) }],
        empty: vec![],
        tag: [("b".to_string(), 1), ("a".to_string(), 2)].into_iter().collect(),
    };
    let via_value = crate::dumps(&serde_json::to_value(&o).unwrap());
    assert_eq!(crate::to_json(&o).unwrap(), via_value);
    assert_eq!(crate::to_json_sorted(&o).unwrap(), crate::dumps_sorted(&serde_json::to_value(&o).unwrap()));
}
