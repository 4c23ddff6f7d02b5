//! Exports `eigenbox:domain/domain@0.1.0` with every function present but the wrong types, as a
//! component built against an incompatible copy of the WIT would: the host must refuse it at
//! load, naming the function.

wit_bindgen::generate!({
    inline: r#"
        package eigenbox:domain@0.1.0;
        interface domain {
            info: func() -> string;
            tools: func() -> string;
            reset: func(init: string) -> result<_, string>;
            call-tool: func(name: string, arguments: string) -> string;
            call-tool-unsynced: func(name: string, arguments: string) -> string;
            env-function: func(name: string) -> string;
            state-json: func() -> option<string>;
            state-hash: func() -> option<string>;
            snapshot: func() -> list<u8>;
            restore: func(snapshot: list<u8>) -> result<_, string>;
        }
        world domain-plugin { export domain; }
    "#,
    world: "eigenbox:domain/domain-plugin@0.1.0",
});

use exports::eigenbox::domain::domain::Guest;

struct Old;

impl Guest for Old {
    fn info() -> String {
        "old".into()
    }
    fn tools() -> String {
        "[]".into()
    }
    fn reset(_init: String) -> Result<(), String> {
        Ok(())
    }
    fn call_tool(name: String, _arguments: String) -> String {
        name
    }
    fn call_tool_unsynced(name: String, _arguments: String) -> String {
        name
    }
    fn env_function(name: String) -> String {
        name
    }
    fn state_json() -> Option<String> {
        None
    }
    fn state_hash() -> Option<String> {
        None
    }
    fn snapshot() -> Vec<u8> {
        Vec::new()
    }
    fn restore(_snapshot: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

export!(Old);
