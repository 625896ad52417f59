//! Positive integer identifiers (`SERIAL` in storage), one newtype per entity.

use thiserror::Error;

/// An id that is not a positive 32-bit integer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidId {
    /// The refused value.
    #[error("id must be a positive integer, got {0}")]
    NotPositive(i64),
}

/// An entity id that can be built from a raw integer (from a path, a body or storage).
pub trait EntityId: Sized + Copy {
    /// Builds the id, refusing zero, negative and out-of-range values.
    fn from_raw(raw: i64) -> Result<Self, InvalidId>;
}

/// Defines an id newtype over a positive `i32` with a fallible constructor.
macro_rules! positive_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(i32);

        impl $name {
            /// Builds an id, refusing zero, negative and out-of-range values.
            pub fn new(raw: i64) -> Result<Self, $crate::id::InvalidId> {
                i32::try_from(raw)
                    .ok()
                    .filter(|id| *id > 0)
                    .map(Self)
                    .ok_or($crate::id::InvalidId::NotPositive(raw))
            }

            /// The raw integer, for storage and the wire.
            pub fn get(self) -> i32 {
                self.0
            }
        }

        impl $crate::id::EntityId for $name {
            fn from_raw(raw: i64) -> Result<Self, $crate::id::InvalidId> {
                Self::new(raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub(crate) use positive_id;

#[cfg(test)]
mod tests {
    use super::InvalidId;
    use rstest::rstest;

    positive_id!(
        /// A test id.
        TestId
    );

    #[rstest]
    #[case(0)]
    #[case(-3)]
    #[case(i64::from(i32::MAX) + 1)]
    fn ids_must_be_positive_i32(#[case] raw: i64) {
        assert_eq!(TestId::new(raw), Err(InvalidId::NotPositive(raw)));
    }

    #[test]
    fn valid_ids_keep_their_value() {
        assert_eq!(TestId::new(42).map(TestId::get), Ok(42));
        assert_eq!(
            TestId::new(42).map(|id| id.to_string()),
            Ok("42".to_owned())
        );
    }
}
