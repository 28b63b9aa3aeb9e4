//! A string that never shows up in logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Placeholder printed instead of a secret's value.
const REDACTED: &str = "<redacted>";

/// A secret string (an RPC password) that `Debug`, `Display` and `Serialize` redact.
///
/// Serializing redacts too, so that a config echoed by the API or a log line never leaks it;
/// a serialized config therefore does not round-trip its secrets.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}
