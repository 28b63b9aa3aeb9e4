//! Errors of loading a config, and the issues found by validating one.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Why a config could not be loaded.
///
/// Semantic problems of a config that did load are [`Issue`]s, not errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The document holds no configuration at all (empty, only comments, or `null`).
    #[error(
        "the config is empty: expected a YAML mapping of sections (app, mining, pool, ...); see config.example.yaml"
    )]
    Empty,
    /// The document is larger than [`MAX_CONFIG_BYTES`](super::MAX_CONFIG_BYTES).
    #[error("the config is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The most bytes accepted.
        limit: usize,
    },
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`](super::MAX_DEPTH), counting
    /// what aliases expand to.
    #[error(
        "the config nests deeper than the limit of {limit} levels at line {line} column {column}"
    )]
    TooDeep {
        /// The most levels accepted.
        limit: usize,
        /// Line of the first node past the limit, from 1.
        line: u64,
        /// Its column, from 1.
        column: u64,
    },
    /// Aliases (`*name`) expand the document beyond
    /// [`MAX_EXPANDED`](super::MAX_EXPANDED).
    #[error(
        "aliases (*name) expand the config beyond the limit of {limit} nodes and bytes at line {line} column {column}"
    )]
    TooExpanded {
        /// The largest expanded size accepted.
        limit: u64,
        /// Line of the event that passed the limit, from 1.
        line: u64,
        /// Its column, from 1.
        column: u64,
    },
    /// The document is not valid YAML, has an unknown key, or a value of the wrong type.
    #[error("{}", Issue::new(path.clone(), message.clone()))]
    Parse {
        /// Where in the document, as `section.key[index]`; empty for the document itself.
        path: String,
        /// What is wrong there, with the line and column where known.
        message: String,
        /// The YAML error.
        source: serde_norway::Error,
    },
}

impl ConfigError {
    /// Returns a [`ConfigError::Parse`] for `source` found at `path` (`.` for the document itself).
    pub(super) fn parse(path: String, source: serde_norway::Error) -> Self {
        // Serde quotes whole values and unknown keys, which may be megabytes long.
        let path = if path == "." {
            String::new()
        } else {
            super::bounds::shorten(&path, 4 * super::bounds::QUOTE_CHARS)
        };
        let mut message = super::bounds::shorten_quoted(&source.to_string());
        // serde_norway leads with its own (parent) path, as `mining.gpu: unknown field ...`;
        // `path` is the more precise one, so the duplicate goes.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.is_empty()
            && !prefix.contains(char::is_whitespace)
            && path.starts_with(prefix)
        {
            message = rest.to_string();
        }
        ConfigError::Parse {
            path,
            message,
            source,
        }
    }

    /// Returns the error as an [`Issue`]: the key path (empty where there is none) and a message.
    pub fn to_issue(&self) -> Issue {
        match self {
            ConfigError::Parse { path, message, .. } => Issue::new(path.clone(), message.clone()),
            other => Issue::new(String::new(), other.to_string()),
        }
    }
}

/// One semantic problem of a config, found by [`Config::validate`](super::Config::validate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The key path, as `chains[0].daemons[1].url`; empty for the config as a whole.
    pub path: String,
    /// What is wrong, for a person to read.
    pub message: String,
    /// The line of the key in the file, from 1, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl Issue {
    /// Returns an issue at `path`, with no line.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for Issue {
    /// Formats as `path (line N): message`, leaving out what is not known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (true, None) => f.write_str(&self.message),
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.path, self.message),
        }
    }
}

/// Why a log filter (`app.log_level`, `--log-level`) was refused.
#[derive(Debug, thiserror::Error)]
pub enum LogFilterError {
    /// The filter is empty.
    #[error("must not be empty; expected one of off, error, warn, info, debug, trace")]
    Empty,
    /// A directive names no known level (`verbose`, `otedama=loud`).
    #[error(
        "unknown level {} in {}; expected one of off, error, warn, info, debug, trace \
         or target=level directives",
        super::quote(.level),
        super::quote(.filter)
    )]
    UnknownLevel {
        /// The word that is not a level.
        level: String,
        /// The whole filter.
        filter: String,
    },
    /// A span or field filter (`target[span{field=value}]=level`), which the node's log
    /// filters do not take.
    #[error(
        "{} filters by span or field, which log filters do not support; use target=level \
         directives",
        super::quote(.directive)
    )]
    Span {
        /// The directive.
        directive: String,
    },
    /// `tracing_subscriber` cannot parse the filter.
    #[error("invalid filter {}: {source}", super::quote(.filter))]
    Invalid {
        /// The whole filter.
        filter: String,
        /// Why it cannot be parsed.
        source: tracing_subscriber::filter::ParseError,
    },
}
