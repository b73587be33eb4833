//! Who and what attendance is about: establishments, students (INE + birth date), teachers,
//! staff, sessions. Pure values, validated on construction and on decode.

mod date;
mod ine;
mod session;
mod text;

pub use date::{Date, DateReason, NS_PER_DAY};
pub use ine::{Ine, IneFamily, IneReason, KeyCheck, INE_LEN};
pub(crate) use session::check_slot;
pub use session::{
    Actor, Session, SessionRef, Signer, Student, MAX_SESSION_DURATION_NS, MAX_STUDENTS,
    MAX_TEACHERS,
};
pub use text::{
    CourseLabel, EstablishmentCode, FunderId, Reason, Room, SessionId, StaffId, TeacherId,
};

/// Longest excerpt of a rejected value kept in an error (input may be hostile and huge).
const ERROR_VALUE_CHARS: usize = 80;

/// Which field a value was meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// [`EstablishmentCode`].
    Establishment,
    /// [`TeacherId`].
    Teacher,
    /// [`StaffId`].
    Staff,
    /// [`SessionId`].
    Session,
    /// [`CourseLabel`].
    Course,
    /// [`Room`].
    Room,
    /// [`Reason`].
    Reason,
    /// [`FunderId`].
    Funder,
    /// A session's assigned teachers.
    Teachers,
    /// A session's enrolled students.
    Students,
}

/// Why free text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextReason {
    /// Empty after trimming.
    #[error("empty")]
    Empty,
    /// Longer than allowed.
    #[error("longer than {max_chars} characters")]
    TooLong {
        /// The limit, in characters.
        max_chars: usize,
    },
    /// Contains a control character.
    #[error("contains a control character")]
    NotPrintable,
}

/// A value that is not a valid identity, each variant naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Not a valid INE.
    #[error("invalid INE {value:?}: {reason}")]
    Ine {
        /// The input (truncated).
        value: String,
        /// What is wrong.
        reason: IneReason,
    },
    /// Not a plausible birth date.
    #[error("invalid birth date {value:?}: {reason}")]
    BirthDate {
        /// The input.
        value: String,
        /// What is wrong.
        reason: DateReason,
    },
    /// Not a valid date.
    #[error("invalid date {value:?}: {reason}")]
    Date {
        /// The input (truncated).
        value: String,
        /// What is wrong.
        reason: DateReason,
    },
    /// Free text refused.
    #[error("invalid {field:?} {value:?}: {reason}")]
    Text {
        /// The field.
        field: Field,
        /// The input (truncated).
        value: String,
        /// What is wrong.
        reason: TextReason,
    },
    /// A session's planned end is not after its start, or it lasts more than a day.
    #[error("invalid session slot {start_ns}..{end_ns}")]
    Slot {
        /// Planned start, UTC ns.
        start_ns: u64,
        /// Planned end, UTC ns.
        end_ns: u64,
    },
    /// A list is longer than allowed (or empty where one entry is needed).
    #[error("{field:?}: {count} entries, allowed {min}..={max}")]
    Count {
        /// The list.
        field: Field,
        /// Entries given.
        count: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// A date range whose end is before its start.
    #[error("date range {from}..={to} is inverted")]
    DateRange {
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// The same entry twice in a list.
    #[error("{field:?}: {value:?} listed twice")]
    Duplicate {
        /// The list.
        field: Field,
        /// The repeated entry.
        value: String,
    },
}

fn excerpt(value: &str) -> String {
    value.chars().take(ERROR_VALUE_CHARS).collect()
}

impl IdentityError {
    pub(crate) fn text(field: Field, value: &str, reason: TextReason) -> IdentityError {
        IdentityError::Text { field, value: excerpt(value), reason }
    }

    pub(crate) fn ine(value: &str, reason: IneReason) -> IdentityError {
        IdentityError::Ine { value: excerpt(value), reason }
    }
}
