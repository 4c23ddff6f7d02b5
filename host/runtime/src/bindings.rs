//! Host-side bindings generated from the WIT packages in `wit/`.
//!
//! The shared `eigenbox:types` interface is generated once (with the domain world) and reused
//! by the checker and role worlds, so a `Message` or `ToolError` is the same Rust type everywhere.

/// Bindings for `eigenbox:domain/domain-plugin@0.1.0`.
pub mod domain {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/domain"],
        world: "eigenbox:domain/domain-plugin@0.1.0",
        exports: { default: async },
    });
}

/// Bindings for `eigenbox:checker/checker-plugin@0.1.0`.
pub mod checker {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/checker"],
        world: "eigenbox:checker/checker-plugin@0.1.0",
        exports: { default: async },
        with: { "eigenbox:types/types": crate::bindings::domain::eigenbox::types::types },
    });
}

/// Bindings for `eigenbox:checker/checker-runtime@0.2.0` (an interpreter for checker programs).
pub mod checker_runtime {
    wasmtime::component::bindgen!({
        path: ["../../wit/checker-runtime"],
        world: "eigenbox:checker/checker-runtime@0.2.0",
        exports: { default: async },
    });
}

/// Bindings for `eigenbox:role/role-plugin@0.1.0`.
pub mod role {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/role"],
        world: "eigenbox:role/role-plugin@0.1.0",
        imports: { default: async },
        exports: { default: async },
        with: { "eigenbox:types/types": crate::bindings::domain::eigenbox::types::types },
    });
}

pub use domain::eigenbox::types::types::{
    DbSide, Message, Requestor, Role as MessageRole, ToolCall, ToolError, ToolErrorKind, ToolKind, ToolSpec,
};
pub use domain::exports::eigenbox::domain::domain::{DomainInfo, EnvCall, EpisodeInit};
