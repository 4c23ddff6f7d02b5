//! `eigenbox policy check|schema`: validate policy files the way the host will load them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use eigenbox_policy::{Engine, PolicyError};

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Parse and validate policy files (or directories of *.cedar) against the schema; print
    /// every problem as FILE:LINE:COLUMN.
    Check {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A schema file (default: a *.cedarschema in a given directory, else the built-in one).
        #[arg(long)]
        schema: Option<PathBuf>,
    },
    /// Print the built-in Cedar schema (copy it to extend `Args`).
    Schema,
}

pub fn run(cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Schema => {
            print!("{}", eigenbox_policy::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCmd::Check { paths, schema } => match Engine::load(&paths, schema.as_deref()) {
            Ok(engine) => {
                let rules = engine.rules();
                println!("ok: {} rule(s) in {} file(s), policy sha256 {} ({})", rules.len(), engine.files().len(), engine.policy_hash(), eigenbox_policy::CEDAR_VERSION);
                for r in rules {
                    println!("  {:<7} {:<40} {}{}", r.effect, r.id, r.file, r.reason.map(|x| format!("  — {x}")).unwrap_or_default());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                let problems = e.problems();
                if problems.is_empty() {
                    eprintln!("error: {e}");
                } else {
                    let what = match e {
                        PolicyError::Schema(_) => "schema error",
                        PolicyError::Parse(_) => "syntax error",
                        _ => "invalid",
                    };
                    for p in &problems {
                        eprintln!("{what}: {p}");
                    }
                    eprintln!("{} problem(s); the policy was not loaded", problems.len());
                }
                Ok(ExitCode::from(1))
            }
        },
    }
}
