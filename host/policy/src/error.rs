//! Errors, each located in the operator's file where it can be.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A place in a policy or schema file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column (characters), from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem in a file: where, what, and a hint when Cedar has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// Where in it, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when known.
    pub help: Option<String>,
}

impl Problem {
    pub(crate) fn plain(file: &str, message: String) -> Problem {
        Problem { file: file.to_string(), location: None, message, help: None }
    }

    /// From a Cedar diagnostic whose labels index into `src`.
    pub(crate) fn from_diagnostic(file: &str, src: &str, d: &dyn miette::Diagnostic) -> Problem {
        let offset = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
        let location = offset.map(|o| {
            let o = o.min(src.len());
            // Step back to a char boundary (offsets are bytes).
            let mut o2 = o;
            while o2 > 0 && !src.is_char_boundary(o2) {
                o2 -= 1;
            }
            let before = &src[..o2];
            Location { file: file.to_string(), line: before.matches('\n').count() + 1, column: before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1 }
        });
        let mut message = d.to_string();
        // Cedar lists further problems as related diagnostics; keep their text.
        if let Some(related) = d.related() {
            for r in related {
                let extra = r.to_string();
                if !message.contains(&extra) {
                    message.push_str("; ");
                    message.push_str(&extra);
                }
            }
        }
        Problem { file: file.to_string(), location, message, help: d.help().map(|h| h.to_string()) }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}", self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
}

/// Errors loading policies or evaluating a request.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No `.cedar` file among the paths.
    #[error("no policy files (*.cedar) in {0}")]
    NoPolicies(String),
    /// The schema does not parse.
    #[error("schema error: {0}")]
    Schema(Problem),
    /// A policy file does not parse.
    #[error("policy syntax error: {0}")]
    Parse(Problem),
    /// Policies parse but do not validate against the schema.
    #[error("policy does not validate against the schema:\n{}", list(.0))]
    Invalid(Vec<Problem>),
    /// Two rules share an `@id`.
    #[error("rule id `{id}` is used twice (in {first} and {second}); every @id must be unique")]
    DuplicateId {
        /// The id.
        id: String,
        /// File of the first.
        first: String,
        /// File of the second.
        second: String,
    },
    /// A request cannot be put to Cedar.
    #[error("request cannot be evaluated: {0}")]
    Request(String),
    /// A bug in this crate.
    #[error("internal policy error: {0}")]
    Internal(String),
}

impl PolicyError {
    /// Every located problem this error carries (for `eigenbox policy check`).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            PolicyError::Schema(p) | PolicyError::Parse(p) => vec![p.clone()],
            PolicyError::Invalid(ps) => ps.clone(),
            _ => Vec::new(),
        }
    }
}
