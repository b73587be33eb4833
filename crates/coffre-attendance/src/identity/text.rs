//! Validated free-form identifiers and labels: trimmed, non-empty, bounded, printable.

use super::{Field, IdentityError, TextReason};
use std::fmt;

/// Checks and normalises free text: trimmed, `1..=max_chars` characters, no control character.
fn normalise(field: Field, text: &str, max_chars: usize) -> Result<String, IdentityError> {
    let trimmed = text.trim();
    let err = |reason| Err(IdentityError::text(field, text, reason));
    if trimmed.is_empty() {
        return err(TextReason::Empty);
    }
    // Bound the walk: more than max_chars * 4 bytes cannot be max_chars characters.
    if trimmed.len() > max_chars * 4 || trimmed.chars().count() > max_chars {
        return err(TextReason::TooLong { max_chars });
    }
    if trimmed.chars().any(char::is_control) {
        return err(TextReason::NotPrintable);
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Trims and validates `text`.
            pub fn new(text: &str) -> Result<$name, IdentityError> {
                normalise($field, text, $max).map($name)
            }

            /// The normalised text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl bincode::Encode for $name {
            fn encode<E: bincode::enc::Encoder>(
                &self,
                encoder: &mut E,
            ) -> Result<(), bincode::error::EncodeError> {
                self.0.encode(encoder)
            }
        }

        impl<C> bincode::Decode<C> for $name {
            fn decode<D: bincode::de::Decoder<Context = C>>(
                decoder: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                let raw = String::decode(decoder)?;
                let value = $name::new(&raw)
                    .map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))?;
                // Only the trimmed form is canonical: one value, one encoding.
                if value.0 != raw {
                    return Err(bincode::error::DecodeError::Other("text not normalised"));
                }
                Ok(value)
            }
        }
        bincode::impl_borrow_decode!($name);
    };
}

text_type!(
    /// A school's own code (free-form, not a UAI), stable from year to year; several schools
    /// share one vault, so every session and key is scoped by it.
    EstablishmentCode, Field::Establishment, 64
);
text_type!(
    /// A teacher's identifier, unique within an establishment.
    TeacherId, Field::Teacher, 64
);
text_type!(
    /// An administrator's (staff member's) identifier, unique within an establishment.
    StaffId, Field::Staff, 64
);
text_type!(
    /// A session's identifier, unique within an establishment (the school's timetable id).
    SessionId, Field::Session, 64
);
text_type!(
    /// A course label as shown on the attendance sheet.
    CourseLabel, Field::Course, 200
);
text_type!(
    /// A room name.
    Room, Field::Room, 64
);
text_type!(
    /// A human explanation (move, cancellation, justification, correction, revocation).
    Reason, Field::Reason, 1000
);
text_type!(
    /// A funder's identifier (for example an OPCO).
    FunderId, Field::Funder, 64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_bounded() {
        assert_eq!(
            EstablishmentCode::new("  LYC-Jean Moulin ").unwrap().as_str(),
            "LYC-Jean Moulin"
        );
        let err = EstablishmentCode::new("   ").unwrap_err();
        assert!(matches!(
            err,
            IdentityError::Text { field: Field::Establishment, reason: TextReason::Empty, .. }
        ));
        assert!(EstablishmentCode::new(&"é".repeat(64)).is_ok());
        assert!(matches!(
            EstablishmentCode::new(&"é".repeat(65)),
            Err(IdentityError::Text { reason: TextReason::TooLong { max_chars: 64 }, .. })
        ));
        assert!(matches!(
            TeacherId::new("ab\u{7}c"),
            Err(IdentityError::Text {
                field: Field::Teacher,
                reason: TextReason::NotPrintable,
                ..
            })
        ));
        assert!(matches!(
            TeacherId::new("a\nb"),
            Err(IdentityError::Text { reason: TextReason::NotPrintable, .. })
        ));
    }
}
