//! Target `attendance_event_decode`: the canonical event codec of coffre-attendance. Decoding
//! untrusted bytes never panics, and an accepted encoding is canonical:
//! `encode(decode(b)) == b`.

use coffre_attendance::events::{
    decode, encode, Attestation, AuditScope, AuditTrailRequested, Event, EventBody, Mark,
    MarkedLate, RequestId, RollCallMode, RollCallOpened, SessionScheduled, StudentSigned,
};
use coffre_attendance::identity::{
    Actor, CourseLabel, Date, EstablishmentCode, FunderId, Ine, Room, Session, SessionId,
    SessionRef, StaffId, Student, TeacherId,
};

/// The fuzz body.
pub fn run(data: &[u8]) {
    if let Ok(event) = decode(data) {
        let again = encode(&event).expect("a decoded event encodes");
        assert_eq!(again, data, "event decoding is not canonical");
    }
}

/// Seeds: one event of each main kind (the same values as the golden vectors).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let session = SessionRef {
        establishment: EstablishmentCode::new("E1").expect("code"),
        session: SessionId::new("S1").expect("id"),
    };
    let student = Student {
        ine: Ine::parse("1234567890V").expect("ine"),
        birth_date: Date::new(2008, 3, 14).expect("date"),
    };
    let teacher = || TeacherId::new("T").expect("teacher");
    let events = [
        (
            "roll-call-opened",
            EventBody::RollCallOpened(RollCallOpened {
                session: session.clone(),
                version: 1,
                mode: RollCallMode::RotatingQr,
                opened_by: Actor::Administrator(StaffId::new("A").expect("staff")),
                on_behalf_of: Some(teacher()),
            }),
        ),
        (
            "marked-late",
            EventBody::MarkedLate(MarkedLate {
                mark: Mark {
                    session: session.clone(),
                    version: 2,
                    student: student.clone(),
                    by: Actor::Teacher(teacher()),
                },
                minutes: 10,
            }),
        ),
        (
            "student-signed",
            EventBody::StudentSigned(StudentSigned {
                session: session.clone(),
                version: 1,
                student: student.clone(),
                attestation: Attestation {
                    public_key: [0xaa; 32],
                    challenge: [0xcc; 32],
                    device_time_ns: 0x0102_0304_0506_0708,
                    signature: [0xee; 64],
                },
            }),
        ),
        (
            "session-scheduled",
            EventBody::SessionScheduled(SessionScheduled {
                session: Session {
                    key: session.clone(),
                    course: CourseLabel::new("Maths").expect("course"),
                    room: Room::new("B2").expect("room"),
                    start_ns: 1_000,
                    end_ns: 2_000,
                    teachers: vec![teacher()],
                    students: vec![student.clone()],
                },
                by: Actor::Service,
            }),
        ),
        (
            "audit-requested",
            EventBody::AuditTrailRequested(AuditTrailRequested {
                establishment: EstablishmentCode::new("E1").expect("code"),
                funder: FunderId::new("OPCO").expect("funder"),
                scope: AuditScope::Sessions {
                    from: Date::new(2025, 9, 1).expect("date"),
                    to: Date::new(2026, 7, 4).expect("date"),
                },
                requested_by: Actor::Service,
            }),
        ),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, (name, body))| {
            let event = Event { request_id: RequestId([i as u8 + 1; 16]), body };
            (name.to_string(), encode(&event).expect("seed event encodes"))
        })
        .collect()
}
