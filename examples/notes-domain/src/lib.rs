//! A small third-party eigenbox domain: a notes app, written only against `eigenbox-sdk`.
//!
//! The agent can create, list, search and delete notes; the (simulated) user can pin a note
//! on their own device (the user-side database). Build it with
//! `cargo build --release --target wasm32-wasip2 -p eigenbox-example-notes`; see README.md.
//!
//! ```
//! use eigenbox_example_notes::Notes;
//! use eigenbox_sdk::{Requestor, Runtime};
//! let mut rt = Runtime::<Notes>::new();
//! let out = rt.call_tool(Requestor::Assistant, "create_note", r#"{"title": "Hi", "body": "there"}"#).unwrap();
//! assert_eq!(out, r#"{"note_id": "note_2", "title": "Hi", "body": "there", "tags": []}"#);
//! ```

use eigenbox_sdk::prelude::*;

/// One note.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// `note_<n>`.
    pub note_id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The agent-side database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesDb {
    /// Notes by id, in creation order.
    pub notes: OrderedMap<String, Note>,
    /// Number used for the next note id.
    pub next_id: u64,
}

/// The user-side database (the user's device).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDb {
    /// Pinned note ids.
    pub pinned: Vec<String>,
}

/// The domain state.
#[derive(Clone)]
pub struct Notes {
    db: NotesDb,
    device: DeviceDb,
}

/// Create a new note.
#[derive(ToolArgs)]
pub struct CreateNote {
    /// The title of the note
    pub title: String,
    /// The text of the note
    pub body: String,
    /// Optional tags for the note
    pub tags: Option<Vec<String>>,
}

/// List all notes.
#[derive(ToolArgs)]
pub struct ListNotes {}

/// Delete a note.
#[derive(ToolArgs)]
pub struct DeleteNote {
    /// The ID of the note to delete, such as 'note_1'
    pub note_id: PyValue,
}

/// Search notes by a word or phrase in their title, body or tags (case-insensitive).
#[derive(ToolArgs)]
pub struct SearchNotes {
    /// The text to search for
    pub query: String,
}

/// Pin a note on your device so it shows at the top.
#[derive(ToolArgs)]
pub struct PinNote {
    /// The ID of the note to pin
    pub note_id: PyValue,
}

/// Check whether a note exists (an env assertion helper).
#[derive(ToolArgs)]
pub struct AssertNoteExists {
    /// The ID of the note
    pub note_id: String,
}

/// Check whether a note is pinned on the user's device (an env assertion helper).
#[derive(ToolArgs)]
pub struct AssertNotePinned {
    /// The ID of the note
    pub note_id: String,
}

impl Notes {
    fn create_note(&mut self, a: CreateNote) -> Result<Note, ToolError> {
        if a.title.trim().is_empty() {
            return Err("Title must not be empty".into());
        }
        let note_id = format!("note_{}", self.db.next_id);
        self.db.next_id += 1;
        let note = Note { note_id: note_id.clone(), title: a.title, body: a.body, tags: a.tags.unwrap_or_default() };
        self.db.notes.insert(note_id, note.clone());
        Ok(note)
    }

    fn list_notes(&mut self, _: ListNotes) -> Result<Vec<Note>, ToolError> {
        Ok(self.db.notes.values().cloned().collect())
    }

    fn delete_note(&mut self, a: DeleteNote) -> Result<String, ToolError> {
        let key = a.note_id.dict_key()?;
        match key.and_then(|k| self.db.notes.shift_remove(k)) {
            Some(n) => Ok(format!("Note {} deleted", n.note_id)),
            None => Err(format!("Note {} not found", a.note_id).into()),
        }
    }

    fn search_notes(&mut self, a: SearchNotes) -> Result<Vec<Note>, ToolError> {
        let q = a.query.to_lowercase();
        Ok(self
            .db
            .notes
            .values()
            .filter(|n| {
                n.title.to_lowercase().contains(&q)
                    || n.body.to_lowercase().contains(&q)
                    || n.tags.iter().any(|t| t.to_lowercase().contains(&q))
            })
            .cloned()
            .collect())
    }

    fn pin_note(&mut self, a: PinNote) -> Result<String, ToolError> {
        let Some(id) = a.note_id.as_str() else {
            return Err(format!("Note {} not found", a.note_id).into());
        };
        if !self.device.pinned.iter().any(|p| p == id) {
            self.device.pinned.push(id.to_string());
        }
        Ok(format!("Note {id} pinned"))
    }

    fn assert_note_exists(&mut self, a: AssertNoteExists) -> Result<bool, ToolError> {
        Ok(self.db.notes.contains_key(&a.note_id))
    }

    fn assert_note_pinned(&mut self, a: AssertNotePinned) -> Result<bool, ToolError> {
        Ok(self.device.pinned.contains(&a.note_id))
    }
}

impl Domain for Notes {
    fn info() -> DomainInfo {
        DomainInfo::new("notes", env!("CARGO_PKG_VERSION"), include_str!("../data/policy.md")).with_user_db()
    }

    fn initial_state() -> Result<Self, String> {
        Ok(Notes {
            db: serde_json::from_str(include_str!("../data/db.json")).map_err(|e| e.to_string())?,
            device: serde_json::from_str(include_str!("../data/user_db.json")).map_err(|e| e.to_string())?,
        })
    }

    fn toolkits() -> Vec<Toolkit<Self>> {
        vec![
            Toolkit::new("NotesTools", Requestor::Assistant)
                .tool(ToolKind::Write, Self::create_note)
                .tool(ToolKind::Read, Self::list_notes)
                .tool(ToolKind::Write, Self::delete_note)
                .tool(ToolKind::Read, Self::search_notes)
                .env_fn(Self::assert_note_exists),
            Toolkit::new("NotesUserTools", Requestor::User)
                .tool(ToolKind::Write, Self::pin_note)
                .env_fn(Self::assert_note_pinned),
        ]
    }

    eigenbox_sdk::db_fields!(agent: db: NotesDb, user: device: DeviceDb);
}

eigenbox_sdk::export_domain!(Notes);

#[cfg(test)]
mod tests {
    use super::*;
    use eigenbox_sdk::{EnvCall, EpisodeInit, Runtime, ToolErrorKind};

    fn rt() -> Runtime<Notes> {
        Runtime::new()
    }

    #[test]
    fn schemas() {
        let tools = rt().tools();
        let names: Vec<_> = tools.iter().map(|t| (t.name.as_str(), t.requestor)).collect();
        assert_eq!(
            names,
            [
                ("create_note", Requestor::Assistant),
                ("list_notes", Requestor::Assistant),
                ("delete_note", Requestor::Assistant),
                ("search_notes", Requestor::Assistant),
                ("pin_note", Requestor::User),
            ]
        );
        assert_eq!(tools[0].description, "Create a new note.");
        assert_eq!(
            tools[0].parameters,
            r#"{"properties": {"title": {"description": "The title of the note", "title": "Title", "type": "string"}, "body": {"description": "The text of the note", "title": "Body", "type": "string"}, "tags": {"default": null, "description": "Optional tags for the note", "items": {"type": "string"}, "title": "Tags", "type": "array"}}, "required": ["title", "body"], "title": "parameters", "type": "object"}"#
        );
        assert_eq!(tools[1].parameters, r#"{"properties": {}, "title": "parameters", "type": "object"}"#);
        assert!(tools[0].mutates_state && !tools[1].mutates_state);
    }

    #[test]
    fn create_list_search_delete() {
        let mut rt = rt();
        let out = rt
            .call_tool(Requestor::Assistant, "create_note", r#"{"title": "Trip", "body": "Book hotel", "tags": ["travel"]}"#)
            .unwrap();
        assert_eq!(out, r#"{"note_id": "note_2", "title": "Trip", "body": "Book hotel", "tags": ["travel"]}"#);
        let list = rt.call_tool(Requestor::Assistant, "list_notes", "{}").unwrap();
        assert!(list.starts_with(r#"[{"note_id": "note_1""#));
        let found = rt.call_tool(Requestor::Assistant, "search_notes", r#"{"query": "TRAVEL"}"#).unwrap();
        assert_eq!(found, r#"[{"note_id": "note_2", "title": "Trip", "body": "Book hotel", "tags": ["travel"]}]"#);
        assert_eq!(rt.call_tool(Requestor::Assistant, "delete_note", r#"{"note_id": "note_1"}"#).unwrap(), "Note note_1 deleted");
        let e = rt.call_tool(Requestor::Assistant, "delete_note", r#"{"note_id": 7}"#).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ToolErrorKind::Failed, "Note 7 not found"));
        assert_eq!(
            rt.state_json(Side::Assistant).unwrap(),
            r#"{"next_id": 3, "notes": {"note_2": {"body": "Book hotel", "note_id": "note_2", "tags": ["travel"], "title": "Trip"}}}"#
        );
    }

    #[test]
    fn python_argument_errors() {
        let mut rt = rt();
        let e = rt.call_tool(Requestor::Assistant, "create_note", "{}").unwrap_err();
        assert_eq!(e.message, "NotesTools.create_note() missing 2 required positional arguments: 'title' and 'body'");
        let e = rt.call_tool(Requestor::Assistant, "list_notes", r#"{"x": 1}"#).unwrap_err();
        assert_eq!(e.message, "NotesTools.list_notes() got an unexpected keyword argument 'x'");
        let e = rt.call_tool(Requestor::User, "create_note", r#"{"title": "a", "body": "b"}"#).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ToolErrorKind::UnknownTool, "Tool 'create_note' not found."));
    }

    #[test]
    fn user_side_and_env() {
        let mut rt = rt();
        let init = EpisodeInit {
            actions: vec![EnvCall {
                side: Side::User,
                name: "pin_note".into(),
                arguments: r#"{"note_id": "note_1"}"#.into(),
            }],
            ..Default::default()
        };
        rt.reset(&init).unwrap();
        assert_eq!(rt.state_json(Side::User).unwrap(), r#"{"pinned": ["note_1"]}"#);
        let call = EnvCall { side: Side::User, name: "assert_note_pinned".into(), arguments: r#"{"note_id": "note_1"}"#.into() };
        assert_eq!(rt.env_function(&call).unwrap(), "true");
        let call = EnvCall { side: Side::Assistant, name: "assert_note_exists".into(), arguments: r#"{"note_id": "note_9"}"#.into() };
        assert_eq!(rt.env_function(&call).unwrap(), "false");
        let snap = rt.snapshot();
        rt.call_tool(Requestor::User, "pin_note", r#"{"note_id": "note_2"}"#).unwrap();
        rt.restore(&snap).unwrap();
        assert_eq!(rt.state_json(Side::User).unwrap(), r#"{"pinned": ["note_1"]}"#);
    }

    /// The benchmark's synthetic state (`tests/benches/runtime.rs`), about `target` bytes.
    fn synthetic_notes(target: usize) -> String {
        let mut notes = serde_json::Map::new();
        let (mut i, mut size) = (0, 0);
        while size < target {
            i += 1;
            let id = format!("note_{i}");
            let body = format!("Reservation {i:06}: flight HAT{:03} from JFK to LAX, passengers Ana, Bo, Cy; paid with credit_card_{:07}; status confirmed.", i % 300, i * 7);
            let note = serde_json::json!({"note_id": id, "title": format!("Trip {i} é ☃"), "body": body, "tags": ["travel", format!("t{}", i % 17)]});
            size += note.to_string().len() + id.len() + 4;
            notes.insert(id, note);
        }
        serde_json::json!({"notes": notes, "next_id": i + 1}).to_string()
    }

    fn big(target: usize) -> Runtime<Notes> {
        let mut rt = rt();
        let init = EpisodeInit { agent_data: Some(synthetic_notes(target)), ..Default::default() };
        rt.reset(&init).unwrap();
        rt
    }

    fn slow_hash(rt: &Runtime<Notes>, side: Side) -> String {
        let d = rt.domain().unwrap();
        // The reference's aliasing: after `agent_data` the user toolkit reads the agent DB.
        let side = match (side, rt.alias()) {
            (Side::User, eigenbox_sdk::Alias::UserIsAgent) => Side::Assistant,
            (Side::Assistant, eigenbox_sdk::Alias::AgentIsUser) => Side::User,
            (s, _) => s,
        };
        let v = match side {
            Side::Assistant => d.agent_db().unwrap(),
            Side::User => d.user_db().unwrap().unwrap(),
        };
        eigenbox_sdk::pyjson::hash_value(&v)
    }

    #[test]
    fn fast_paths_match_json_and_cache_invalidates() {
        let mut rt = big(200_000);
        for side in [Side::Assistant, Side::User] {
            assert_eq!(rt.state_hash(side).unwrap(), slow_hash(&rt, side));
        }
        let before = rt.state_hash(Side::Assistant).unwrap();
        // A read-only call leaves the same state (hash recomputed); a write changes it.
        rt.call_tool(Requestor::Assistant, "list_notes", "{}").unwrap();
        assert_eq!(rt.state_hash(Side::Assistant).unwrap(), before);
        rt.call_tool(Requestor::Assistant, "create_note", r#"{"title": "n", "body": "b"}"#).unwrap();
        let after = rt.state_hash(Side::Assistant).unwrap();
        assert_ne!(after, before);
        assert_eq!(after, slow_hash(&rt, Side::Assistant));
        // Snapshot -> restore into a fresh runtime reproduces the state exactly.
        let snap = rt.snapshot();
        let mut other = Runtime::<Notes>::new();
        other.restore(&snap).unwrap();
        assert_eq!(other.state_json(Side::Assistant), rt.state_json(Side::Assistant));
        assert_eq!(other.state_json(Side::User), rt.state_json(Side::User));
        assert_eq!(other.alias(), rt.alias());
        assert_eq!(other.snapshot(), snap);
        assert_eq!(rt.state_hash(Side::User).unwrap(), after);
        // The user DB proper (no aliasing in a fresh runtime) hashes the same both ways.
        let mut plain = Runtime::<Notes>::new();
        plain.call_tool(Requestor::User, "pin_note", r#"{"note_id": "note_1"}"#).unwrap();
        assert_eq!(plain.state_hash(Side::User).unwrap(), slow_hash(&plain, Side::User));
        let mut fresh = Runtime::<Notes>::new();
        fresh.call_tool(Requestor::Assistant, "list_notes", "{}").unwrap();
        let snap2 = fresh.snapshot();
        assert_ne!(snap2, snap);
        fresh.restore(&snap).unwrap();
        assert_eq!(fresh.state_hash(Side::Assistant).unwrap(), after);
        // A mutation after restore must not hand out the restored snapshot again.
        fresh.call_tool(Requestor::Assistant, "delete_note", r#"{"note_id": "note_1"}"#).unwrap();
        assert_ne!(fresh.snapshot(), snap);
        assert_eq!(fresh.state_hash(Side::Assistant).unwrap(), slow_hash(&fresh, Side::Assistant));
    }

    /// Timing of the 7 MB state natively: `cargo test --release -p eigenbox-example-notes -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn big_state_timing() {
        use std::time::{Duration, Instant};
        fn best(name: &str, n: usize, mut f: impl FnMut()) {
            let mut b = Duration::MAX;
            for _ in 0..n {
                let t = Instant::now();
                f();
                b = b.min(t.elapsed());
            }
            println!("{name:<40} best of {n}: {b:?}");
        }
        let mut rt = big(7 * 1024 * 1024);
        let slow = slow_hash(&rt, Side::Assistant);
        assert_eq!(rt.state_hash(Side::Assistant).unwrap(), slow);
        best("hash via Value + dumps_sorted", 3, || {
            slow_hash(&rt, Side::Assistant);
        });
        let db = &rt.domain().unwrap().db;
        best("to_json_sorted (typed)", 5, || {
            eigenbox_sdk::pyjson::to_json_sorted(db).unwrap();
        });
        let mut w = eigenbox_sdk::pyjson::JsonWriter::sorted();
        best("JsonWriter sorted, buffer reused", 5, || {
            w.clear();
            serde::Serialize::serialize(db, &mut w).unwrap();
        });
        best("to_json (typed, unsorted)", 5, || {
            eigenbox_sdk::pyjson::to_json(db).unwrap();
        });
        best("hash_sorted (typed)", 5, || {
            eigenbox_sdk::pyjson::hash_sorted(db).unwrap();
        });
        let snap = rt.snapshot();
        println!("snapshot: {} bytes", snap.len());
        best("snapshot (cached)", 5, || {
            rt.snapshot();
        });
        best("snapshot (cold)", 5, || {
            rt.domain_mut().unwrap();
            rt.snapshot();
        });
        let mut keep = Vec::new();
        best("restore (drop not counted)", 5, || {
            let mut other = Runtime::<Notes>::new();
            other.restore(&snap).unwrap();
            keep.push(other);
        });
        drop(keep);
        best("state_hash after a write", 5, || {
            rt.call_tool(Requestor::Assistant, "create_note", r#"{"title": "n", "body": "b"}"#).unwrap();
            rt.state_hash(Side::Assistant).unwrap();
        });
    }
}

