//! Students, actors, signers and sessions (séances).

use super::{
    excerpt, CourseLabel, Date, EstablishmentCode, Field, IdentityError, Ine, Room, SessionId,
    StaffId, TeacherId,
};
use bincode::{Decode, Encode};
use std::collections::BTreeSet;

/// Most teachers assigned to one session.
pub const MAX_TEACHERS: usize = 16;
/// Most students enrolled in one session.
pub const MAX_STUDENTS: usize = 1_000;
/// Longest planned session: one day.
pub const MAX_SESSION_DURATION_NS: u64 = 24 * 3_600 * 1_000_000_000;

/// A student, identified nationally by INE and birth date (the pair survives school changes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Student {
    /// The student's INE.
    pub ine: Ine,
    /// The student's birth date.
    pub birth_date: Date,
}

impl Student {
    /// Parses an INE and a `YYYY-MM-DD` birth date, checking the date is plausible seen from
    /// `reference` (today, or an explicit date).
    ///
    /// ```
    /// use coffre_attendance::identity::{Date, Student};
    /// let today = Date::parse("2025-09-01").unwrap();
    /// let s = Student::parse("1234567890v", "2008-03-14", today).unwrap();
    /// assert_eq!(s.ine.as_str(), "1234567890V");
    /// assert!(Student::parse("1234567890V", "2025-01-01", today).is_err());
    /// ```
    pub fn parse(ine: &str, birth_date: &str, reference: Date) -> Result<Student, IdentityError> {
        let ine_value = Ine::parse(ine).map_err(|r| IdentityError::ine(ine, r))?;
        let date = Date::parse(birth_date)
            .map_err(|reason| IdentityError::Date { value: excerpt(birth_date), reason })?;
        Student::new(ine_value, date, reference)
    }

    /// A student whose birth date is plausible seen from `reference`.
    pub fn new(ine: Ine, birth_date: Date, reference: Date) -> Result<Student, IdentityError> {
        birth_date
            .check_birth_date(reference)
            .map_err(|reason| IdentityError::BirthDate { value: birth_date.to_string(), reason })?;
        Ok(Student { ine, birth_date })
    }
}

/// Who performed an action, within the event's establishment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Actor {
    /// A teacher.
    Teacher(TeacherId),
    /// An administrator (vie scolaire, secretariat).
    Administrator(StaffId),
    /// The establishment's integration (timetable import), authenticated by the service.
    Service,
}

/// Who holds a signing key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Signer {
    /// A student (on their own device, or on the teacher's).
    Student(Student),
    /// A teacher.
    Teacher(TeacherId),
}

/// A session's key in the vault: its establishment and its id there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct SessionRef {
    /// The establishment.
    pub establishment: EstablishmentCode,
    /// The session id within the establishment.
    pub session: SessionId,
}

/// A session (séance) as scheduled: version 1 of its slot.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Session {
    /// Establishment and id.
    pub key: SessionRef,
    /// Course label.
    pub course: CourseLabel,
    /// Room.
    pub room: Room,
    /// Planned start, UTC ns since the Unix epoch.
    pub start_ns: u64,
    /// Planned end, UTC ns since the Unix epoch.
    pub end_ns: u64,
    /// Teachers assigned (1..=[`MAX_TEACHERS`], no repeat).
    pub teachers: Vec<TeacherId>,
    /// Students enrolled (0..=[`MAX_STUDENTS`], no repeated INE).
    pub students: Vec<Student>,
}

/// Checks a planned slot: end after start, at most [`MAX_SESSION_DURATION_NS`].
pub(crate) fn check_slot(start_ns: u64, end_ns: u64) -> Result<(), IdentityError> {
    if end_ns <= start_ns || end_ns - start_ns > MAX_SESSION_DURATION_NS {
        return Err(IdentityError::Slot { start_ns, end_ns });
    }
    Ok(())
}

impl Session {
    /// Checks what does not depend on time or on other records: the slot, list sizes, repeats.
    pub fn check(&self) -> Result<(), IdentityError> {
        check_slot(self.start_ns, self.end_ns)?;
        let count = |field, count, min, max| {
            if (min..=max).contains(&count) {
                Ok(())
            } else {
                Err(IdentityError::Count { field, count, min, max })
            }
        };
        count(Field::Teachers, self.teachers.len(), 1, MAX_TEACHERS)?;
        count(Field::Students, self.students.len(), 0, MAX_STUDENTS)?;
        let mut teachers = BTreeSet::new();
        if let Some(t) = self.teachers.iter().find(|t| !teachers.insert(*t)) {
            return Err(IdentityError::Duplicate { field: Field::Teachers, value: t.to_string() });
        }
        let mut ines = BTreeSet::new();
        if let Some(s) = self.students.iter().find(|s| !ines.insert(&s.ine)) {
            return Err(IdentityError::Duplicate {
                field: Field::Students,
                value: s.ine.to_string(),
            });
        }
        Ok(())
    }

    /// Whether `student` (same INE and birth date) is enrolled.
    pub fn is_enrolled(&self, student: &Student) -> bool {
        self.students.iter().any(|s| s == student)
    }

    /// Whether `teacher` is assigned.
    pub fn is_assigned(&self, teacher: &TeacherId) -> bool {
        self.teachers.iter().any(|t| t == teacher)
    }
}
