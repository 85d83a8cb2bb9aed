//! Counts the unknown JSON fields the generated deserializers skip. build.rs points their
//! skip (`IgnoredAny`) at [`Counted`]; wrapping the whole decode in `serde_ignored` instead
//! cost a quarter of the JSON decode, because it builds a path for every key it passes.
//!
//! The count is thread-local: a decode runs start to end on one thread, and [`take`] before
//! and after it brackets exactly that decode.

use std::cell::Cell;

thread_local! {
    static UNKNOWN: Cell<u32> = const { Cell::new(0) };
}

/// Skips one value, like `serde::de::IgnoredAny`, and counts it as one unknown field.
pub struct Counted;

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        UNKNOWN.with(|c| c.set(c.get().saturating_add(1)));
        Ok(Counted)
    }
}

/// The fields skipped on this thread since the last call, and a fresh count.
pub fn take() -> u32 {
    UNKNOWN.with(|c| c.replace(0))
}
