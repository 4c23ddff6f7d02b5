//! WIT glue (wasm32 only): conversions between the generated bindings and the SDK's types.
//! `export_domain!` expands to a `Guest` impl that calls these functions.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "eigenbox:domain/domain-plugin@0.1.0",
        path: ["../../wit/types", "../../wit/domain"],
        pub_export_macro: true,
        export_macro_name: "__export_domain_plugin",
        default_bindings_module: "eigenbox_sdk::glue::bindings",
        generate_all,
    });
}

/// The generated types and the `Guest` trait, under short names.
pub mod wit {
    pub use super::bindings::eigenbox::types::types::{
        DbSide, Requestor, ToolError, ToolErrorKind, ToolKind, ToolSpec,
    };
    pub use super::bindings::exports::eigenbox::domain::domain::{
        DomainInfo, EnvCall, EpisodeInit, Guest,
    };
}

use crate::runtime::{self as rt, Domain, Runtime};

fn req(r: wit::Requestor) -> rt::Requestor {
    match r {
        wit::Requestor::Assistant => rt::Requestor::Assistant,
        wit::Requestor::User => rt::Requestor::User,
    }
}

fn side(s: wit::DbSide) -> rt::Side {
    match s {
        wit::DbSide::Assistant => rt::Requestor::Assistant,
        wit::DbSide::User => rt::Requestor::User,
    }
}

fn err(e: rt::ToolError) -> wit::ToolError {
    wit::ToolError {
        kind: match e.kind {
            rt::ToolErrorKind::UnknownTool => wit::ToolErrorKind::UnknownTool,
            rt::ToolErrorKind::InvalidArguments => wit::ToolErrorKind::InvalidArguments,
            rt::ToolErrorKind::Failed => wit::ToolErrorKind::Failed,
            rt::ToolErrorKind::Denied => wit::ToolErrorKind::Denied,
        },
        message: e.message,
    }
}

fn env_call(c: wit::EnvCall) -> rt::EnvCall {
    rt::EnvCall { side: side(c.side), name: c.name, arguments: c.arguments }
}

pub fn info<D: Domain>() -> wit::DomainInfo {
    let i = D::info();
    wit::DomainInfo { name: i.name, version: i.version, policy: i.policy, has_user_db: i.has_user_db }
}

pub fn tools<D: Domain>(r: &Runtime<D>) -> Vec<wit::ToolSpec> {
    r.tools()
        .into_iter()
        .map(|t| wit::ToolSpec {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
            kind: match t.kind {
                rt::ToolKind::Read => wit::ToolKind::Read,
                rt::ToolKind::Write => wit::ToolKind::Write,
                rt::ToolKind::Think => wit::ToolKind::Think,
                rt::ToolKind::Generic => wit::ToolKind::Generic,
            },
            mutates_state: t.mutates_state,
            requestor: match t.requestor {
                rt::Requestor::Assistant => wit::Requestor::Assistant,
                rt::Requestor::User => wit::Requestor::User,
            },
        })
        .collect()
}

pub fn reset<D: Domain>(r: &mut Runtime<D>, init: wit::EpisodeInit) -> Result<(), String> {
    let init = rt::EpisodeInit {
        agent_data: init.agent_data,
        user_data: init.user_data,
        actions: init.actions.into_iter().map(env_call).collect(),
    };
    r.reset(&init)
}

pub fn call_tool<D: Domain>(
    r: &mut Runtime<D>,
    requestor: wit::Requestor,
    name: String,
    arguments: String,
) -> Result<String, wit::ToolError> {
    r.call_tool(req(requestor), &name, &arguments).map_err(err)
}

pub fn call_tool_unsynced<D: Domain>(
    r: &mut Runtime<D>,
    requestor: wit::Requestor,
    name: String,
    arguments: String,
) -> Result<String, wit::ToolError> {
    r.call_tool_unsynced(req(requestor), &name, &arguments).map_err(err)
}

pub fn env_function<D: Domain>(r: &mut Runtime<D>, call: wit::EnvCall) -> Result<String, wit::ToolError> {
    if call.name == crate::heap::SEAL {
        return Ok(crate::heap::seal().to_string());
    }
    r.env_function(&env_call(call)).map_err(err)
}

pub fn state_json<D: Domain>(r: &Runtime<D>, s: wit::DbSide) -> Option<String> {
    r.state_json(side(s))
}

pub fn state_hash<D: Domain>(r: &Runtime<D>, s: wit::DbSide) -> Option<String> {
    r.state_hash(side(s))
}
