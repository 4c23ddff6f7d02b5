//! # eigenbox-sdk: write a tool domain as plain Rust
//!
//! A domain (τ²-bench style: an agent-side database, optionally a user-side database, and
//! the tools each side may call) is one `impl Domain for MyDomain`. Tools are ordinary
//! methods taking an argument struct that derives [`ToolArgs`]; the doc comments become the
//! OpenAI function schema the model sees. `export_domain!(MyDomain)` implements the WIT world
//! `eigenbox:domain/domain-plugin@0.1.0` for it when built with
//! `cargo build --release --target wasm32-wasip2` (crate type `cdylib`).
//!
//! The whole machinery ([`Runtime`]) is target-independent, so a domain is unit-tested
//! natively with `cargo test`.
//!
//! ```
//! use eigenbox_sdk::prelude::*;
//! use std::collections::BTreeMap;
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! pub struct Db { pub counters: BTreeMap<String, i64> }
//!
//! #[derive(Clone)] // `reset` starts each episode from a clone of the initial state
//! pub struct Counter { db: Db }
//!
//! /// Increment a counter and return its new value.
//! #[derive(ToolArgs)]
//! pub struct Increment {
//!     /// The counter's name
//!     pub name: String,
//!     /// How much to add
//!     #[arg(default = "1")]
//!     pub by: i64,
//! }
//!
//! impl Counter {
//!     fn increment(&mut self, a: Increment) -> Result<String, ToolError> {
//!         let c = self.db.counters.entry(a.name).or_insert(0);
//!         *c += a.by;
//!         Ok(format!("now {c}"))
//!     }
//! }
//!
//! impl Domain for Counter {
//!     fn info() -> DomainInfo {
//!         DomainInfo::new("counter", "0.1.0", "Count things.")
//!     }
//!     fn initial_state() -> Result<Self, String> {
//!         Ok(Counter { db: Db { counters: BTreeMap::new() } })
//!     }
//!     fn toolkits() -> Vec<Toolkit<Self>> {
//!         vec![Toolkit::new("CounterTools", Requestor::Assistant)
//!             .tool(ToolKind::Write, Self::increment)]
//!     }
//!     fn agent_db(&self) -> Result<Value, String> { to_value(&self.db) }
//!     fn set_agent_db(&mut self, v: Value) -> Result<(), String> {
//!         self.db = from_value(v)?;
//!         Ok(())
//!     }
//! }
//!
//! // In the plugin crate: eigenbox_sdk::export_domain!(Counter);
//!
//! let mut rt = Runtime::<Counter>::new();
//! assert_eq!(rt.call_tool(Requestor::Assistant, "increment", r#"{"name": "a"}"#).unwrap(), "now 1");
//! let err = rt.call_tool(Requestor::Assistant, "increment", "{}").unwrap_err();
//! assert_eq!(err.message, "CounterTools.increment() missing 1 required positional argument: 'name'");
//! assert_eq!(rt.state_json(Side::Assistant).unwrap(), r#"{"counters": {"a": 1}}"#);
//! ```
//!
//! What a plugin author writes:
//! - argument structs with `#[derive(ToolArgs)]` (see [`ToolArgs`]; field types are strict
//!   serde types or the loose [`PyValue`]);
//! - methods `fn(&mut self, Args) -> Result<R, E>` with `R: Serialize` (a `String` result is
//!   the tool message verbatim, anything else is rendered like Python's
//!   `json.dumps(model.model_dump(), default=str)` in field order) and `E: Into<ToolError>`
//!   (a `String` becomes a `failed` error, which the host shows as `Error: <message>`);
//! - `impl Domain` ([`Domain`]) listing [`Toolkit`]s: tools (`.tool(kind, f)`, `.mutates(bool)`)
//!   and non-tool environment functions (`.env_fn(f)`, e.g. `assert_*` helpers);
//! - for a large DB, the typed fast paths [`Domain::serialize_agent_db`] /
//!   [`Domain::deserialize_agent_db`] (and the `_user_db` pair), one line each
//!   (`self.db.serialize(s)`, `self.db = Db::deserialize(d)?`): DB hash, state JSON and
//!   snapshot/restore then skip the intermediate JSON value. Hashes and the snapshot are
//!   cached by [`Runtime`] until the next tool call, environment function, reset or restore;
//!   the snapshot is a compact binary encoding;
//! - DB tables in [`Table`]s (copy-on-write rows with cached hash text; the domain is
//!   `Clone`, and every reset clones the parsed initial state), and [`Domain::sync_tools`]
//!   where agent and user state must be kept in line after each call;
//! - the strings of rows as [`Str`] and nested values that tools rarely write in [`Shared`]
//!   (both clone without allocating, and never write into a frozen image): copying a row for
//!   a write then copies pointers instead of allocating every string again (τ² airline's
//!   user and reservation rows hold dozens of strings; its tool-call rate rose by about a
//!   fifth with them);
//! - for databases kept in struct fields, `eigenbox_sdk::db_fields!(agent: db: MyDb, user: device: MyUserDb);`
//!   inside the `impl Domain` instead of writing the accessors by hand;
//! - `eigenbox_sdk::export_domain!(MyDomain);` at the crate root.
//!
//! For domains that mirror Python tools taking the model's raw JSON, [`py`] has CPython's value
//! semantics and exception texts (`iter`, `len`, `==`, hashability, `round`), pydantic v2
//! validation-error formatting ([`py::pydantic`]) and the τ² `calculate` evaluator
//! ([`py::calc`]). With the `testing` feature (for `[dev-dependencies]`), `testing` holds the
//! golden-vector helpers plugin tests share.
//!
//! Guests need no ambient authority: the SDK never touches clocks, randomness, files or the
//! environment; use `BTreeMap`/`IndexMap` rather than `std::collections::HashMap` (whose
//! `RandomState` would import `wasi:random`).
//!
//! The SDK is the component's global allocator (feature `frozen-heap`, on by default): when the
//! host freezes a state it seals the heap ([`heap`]), so the frozen state's episodes leave the
//! image's heap unwritten and a pooled slot resets in a few µs. Turn the feature off to bring
//! your own allocator (episodes then need a slot reset that copies the whole image back).

extern crate self as eigenbox_sdk;

mod args;
mod binary;
pub mod heap;
pub mod py;
mod runtime;
pub mod shared;
mod table;
#[cfg(feature = "testing")]
pub mod testing;

pub use args::{ArgSchema, PyValue, ToolArgs};
pub use eigenbox_pyjson as pyjson;
pub use eigenbox_sdk_macros::{include_json, ToolArgs};
pub use shared::{Shared, Str};
pub use table::{Cached, Table};
pub use runtime::{
    deep_merge, py_process, Alias, Domain, DomainInfo, EnvCall, EpisodeInit, Requestor, Runtime,
    Side, ToolError, ToolErrorKind, ToolKind, ToolSpec, Toolkit,
};
pub use serde;
pub use serde_json;
pub use serde_json::{Map, Value};

/// An insertion-ordered map (Python `dict` semantics) with a fixed hasher (FxHash), so nothing
/// in the guest asks for `wasi:random`. Use it for small maps inside rows; use [`Table`] for a
/// DB's top-level tables such as `Dict[str, Task]` (cheap forks and cached hash text).
pub type OrderedMap<K, V> = indexmap::IndexMap<K, V, rustc_hash::FxBuildHasher>;
pub use indexmap;

/// `serde_json::to_value` with a `String` error (what [`Domain::agent_db`] returns).
pub fn to_value<T: serde::Serialize>(t: &T) -> Result<Value, String> {
    serde_json::to_value(t).map_err(|e| e.to_string())
}

/// `serde_json::from_value` with a `String` error: pydantic's re-validation of a merged DB.
pub fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Everything a domain file usually needs.
pub mod prelude {
    pub use crate::{
        from_value, to_value, Domain, DomainInfo, OrderedMap, PyValue, Requestor, Shared, Side, Str, Table, ToolArgs,
        ToolError, ToolKind, Toolkit, Value,
    };
    pub use crate::Runtime;
    pub use serde::{Deserialize, Serialize};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::args::{canonical_schema, check_kwargs, schema_from_text, take_arg, take_py_value};
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod glue;

/// Implement a [`Domain`]'s database methods for databases kept in plain struct fields.
///
/// Inside `impl Domain for MyDomain { ... }`, `eigenbox_sdk::db_fields!(agent: db: MyDb);` (or
/// `db_fields!(agent: db: MyDb, user: device: MyUserDb);`) writes `agent_db` / `set_agent_db`
/// (and `user_db` / `set_user_db`) plus the typed fast paths `serialize_*` / `deserialize_*` that
/// hashing, snapshots and restores use, so no intermediate JSON value is built for them.
///
/// ```
/// use eigenbox_sdk::prelude::*;
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct Db { pub n: i64 }
/// #[derive(Clone)]
/// pub struct D { db: Db }
/// impl Domain for D {
///     fn info() -> DomainInfo { DomainInfo::new("d", "0.1.0", "") }
///     fn initial_state() -> Result<Self, String> { Ok(D { db: Db { n: 0 } }) }
///     fn toolkits() -> Vec<Toolkit<Self>> { vec![] }
///     eigenbox_sdk::db_fields!(agent: db: Db);
/// }
/// assert_eq!(Runtime::<D>::new().state_json(Side::Assistant).unwrap(), r#"{"n": 0}"#);
/// ```
#[macro_export]
macro_rules! db_fields {
    (agent: $a:ident : $at:ty $(, user: $u:ident : $ut:ty)? $(,)?) => {
        fn agent_db(&self) -> ::core::result::Result<$crate::Value, ::std::string::String> {
            $crate::to_value(&self.$a)
        }
        fn set_agent_db(&mut self, v: $crate::Value) -> ::core::result::Result<(), ::std::string::String> {
            self.$a = $crate::from_value(v)?;
            Ok(())
        }
        fn serialize_agent_db<S: $crate::serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
            $crate::serde::Serialize::serialize(&self.$a, s)
        }
        fn deserialize_agent_db<'de, De: $crate::serde::Deserializer<'de>>(&mut self, d: De) -> ::core::result::Result<(), De::Error> {
            self.$a = <$at as $crate::serde::Deserialize>::deserialize(d)?;
            Ok(())
        }
        $(
        fn user_db(&self) -> ::core::option::Option<::core::result::Result<$crate::Value, ::std::string::String>> {
            Some($crate::to_value(&self.$u))
        }
        fn set_user_db(&mut self, v: $crate::Value) -> ::core::result::Result<(), ::std::string::String> {
            self.$u = $crate::from_value(v)?;
            Ok(())
        }
        fn serialize_user_db<S: $crate::serde::Serializer>(&self, s: S) -> ::core::option::Option<::core::result::Result<S::Ok, S::Error>> {
            Some($crate::serde::Serialize::serialize(&self.$u, s))
        }
        fn deserialize_user_db<'de, De: $crate::serde::Deserializer<'de>>(&mut self, d: De) -> ::core::result::Result<(), De::Error> {
            self.$u = <$ut as $crate::serde::Deserialize>::deserialize(d)?;
            Ok(())
        }
        )?
    };
}

/// Export a [`Domain`] as the component world `eigenbox:domain/domain-plugin@0.1.0`.
///
/// Put `eigenbox_sdk::export_domain!(MyDomain);` at the root of a `cdylib` crate. On
/// non-wasm targets it expands to nothing, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export_domain {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::glue::wit as __wit;
            struct __EigenboxGuest;
            ::std::thread_local! {
                static __EIGENBOX_STATE: ::core::cell::RefCell<$crate::Runtime<$ty>> =
                    ::core::cell::RefCell::new($crate::Runtime::<$ty>::new());
            }
            fn __with<R>(f: impl FnOnce(&mut $crate::Runtime<$ty>) -> R) -> R {
                __EIGENBOX_STATE.with(|s| f(&mut s.borrow_mut()))
            }
            impl __wit::Guest for __EigenboxGuest {
                fn info() -> __wit::DomainInfo {
                    $crate::glue::info::<$ty>()
                }
                fn tools() -> ::std::vec::Vec<__wit::ToolSpec> {
                    __with(|rt| $crate::glue::tools(rt))
                }
                fn reset(init: __wit::EpisodeInit) -> ::core::result::Result<(), ::std::string::String> {
                    __with(|rt| $crate::glue::reset(rt, init))
                }
                fn call_tool(
                    requestor: __wit::Requestor,
                    name: ::std::string::String,
                    arguments: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, __wit::ToolError> {
                    __with(|rt| $crate::glue::call_tool(rt, requestor, name, arguments))
                }
                fn call_tool_unsynced(
                    requestor: __wit::Requestor,
                    name: ::std::string::String,
                    arguments: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, __wit::ToolError> {
                    __with(|rt| $crate::glue::call_tool_unsynced(rt, requestor, name, arguments))
                }
                fn env_function(call: __wit::EnvCall) -> ::core::result::Result<::std::string::String, __wit::ToolError> {
                    __with(|rt| $crate::glue::env_function(rt, call))
                }
                fn state_json(side: __wit::DbSide) -> ::core::option::Option<::std::string::String> {
                    __with(|rt| $crate::glue::state_json(rt, side))
                }
                fn state_hash(side: __wit::DbSide) -> ::core::option::Option<::std::string::String> {
                    __with(|rt| $crate::glue::state_hash(rt, side))
                }
                fn snapshot() -> ::std::vec::Vec<u8> {
                    __with(|rt| rt.snapshot())
                }
                fn restore(snapshot: ::std::vec::Vec<u8>) -> ::core::result::Result<(), ::std::string::String> {
                    __with(|rt| rt.restore_owned(snapshot))
                }
            }
            $crate::glue::bindings::__export_domain_plugin!(__EigenboxGuest with_types_in $crate::glue::bindings);
        };
    };
}

#[cfg(test)]
mod tests;
