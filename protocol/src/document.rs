//! The rules every JSON document of the protocol follows, in one place.
//!
//! - A receiver ignores members it does not know, so a later version can add members without
//!   breaking earlier receivers. (Members are never removed or given another meaning without a new
//!   protocol version.)
//! - A member it knows may appear once; a repeated one makes the document invalid.
//! - Integers are whole numbers from 0 to 2^53 - 1, so that every JSON implementation holds them
//!   exactly; a larger one makes the document invalid.
//! - An optional member may be left out or be `null`, which means the same; a required member may
//!   not be `null`.
//! - Text is UTF-8 (the codec checks this for every JSON payload).

use serde::{Deserialize, Deserializer};

/// Why a document received from a peer is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("inconsistent: {0}")]
    Invalid(String),
}

/// Largest integer a document may hold: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Deserialises a `u64` member, refusing values above [`MAX_SAFE_INTEGER`].
pub fn safe_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = u64::deserialize(deserializer)?;
    if value > MAX_SAFE_INTEGER {
        return Err(serde::de::Error::custom(format!(
            "{value} is above 2^53 - 1"
        )));
    }
    Ok(value)
}

/// Deserialises an optional member that is not an `Option`, reading `null` as its default, as for
/// the optional members that are (an absent member gets its default from `#[serde(default)]`).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses a document with serde's rules (unknown members ignored, a known one repeated refused) and
/// then `check`'s.
pub fn parse<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    check: impl FnOnce(&T) -> Result<(), String>,
) -> Result<T, DocumentError> {
    let document: T = serde_json::from_slice(bytes)?;
    check(&document).map_err(DocumentError::Invalid)?;
    Ok(document)
}

/// Compact JSON, as every document is sent.
pub fn to_json<T: serde::Serialize>(document: &T) -> Vec<u8> {
    serde_json::to_vec(document).expect("a protocol document always serialises")
}
