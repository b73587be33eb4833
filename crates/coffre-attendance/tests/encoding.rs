//! Golden byte vectors and hostile-input decoding of the event encoding.

use coffre_attendance::events::{
    decode, encode, Attestation, AuditScope, AuditTrailRequested, DecodeError, EncodeError, Event,
    EventBody, Mark, MarkedLate, RequestId, RollCallMode, RollCallOpened, SessionScheduled,
    StudentSigned, MAX_EVENT_BYTES,
};
use coffre_attendance::identity::{
    Actor, CourseLabel, Date, EstablishmentCode, FunderId, Ine, Room, Session, SessionId,
    SessionRef, StaffId, Student, TeacherId,
};
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn session_ref() -> SessionRef {
    SessionRef {
        establishment: EstablishmentCode::new("E1").unwrap(),
        session: SessionId::new("S1").unwrap(),
    }
}

fn student() -> Student {
    Student { ine: Ine::parse("1234567890V").unwrap(), birth_date: Date::new(2008, 3, 14).unwrap() }
}

fn roll_call_opened() -> Event {
    Event {
        request_id: RequestId([0x11; 16]),
        body: EventBody::RollCallOpened(RollCallOpened {
            session: session_ref(),
            version: 1,
            mode: RollCallMode::RotatingQr,
            opened_by: Actor::Administrator(StaffId::new("A").unwrap()),
            on_behalf_of: Some(TeacherId::new("T").unwrap()),
        }),
    }
}

fn marked_late() -> Event {
    Event {
        request_id: RequestId([0x22; 16]),
        body: EventBody::MarkedLate(MarkedLate {
            mark: Mark {
                session: session_ref(),
                version: 2,
                student: student(),
                by: Actor::Teacher(TeacherId::new("T").unwrap()),
            },
            minutes: 10,
        }),
    }
}

fn student_signed() -> Event {
    Event {
        request_id: RequestId([0x33; 16]),
        body: EventBody::StudentSigned(StudentSigned {
            session: session_ref(),
            version: 1,
            student: student(),
            attestation: Attestation {
                public_key: [0xaa; 32],
                challenge: [0xcc; 32],
                device_time_ns: 0x0102_0304_0506_0708,
                signature: [0xee; 64],
            },
        }),
    }
}

fn session_scheduled() -> Event {
    Event {
        request_id: RequestId([0x44; 16]),
        body: EventBody::SessionScheduled(SessionScheduled {
            session: Session {
                key: session_ref(),
                course: CourseLabel::new("Maths").unwrap(),
                room: Room::new("B2").unwrap(),
                start_ns: 1_000,
                end_ns: 2_000,
                teachers: vec![TeacherId::new("T").unwrap()],
                students: vec![student()],
            },
            by: Actor::Service,
        }),
    }
}

fn audit_requested() -> Event {
    Event {
        request_id: RequestId([0x55; 16]),
        body: EventBody::AuditTrailRequested(AuditTrailRequested {
            establishment: EstablishmentCode::new("E1").unwrap(),
            funder: FunderId::new("OPCO").unwrap(),
            scope: AuditScope::Sessions {
                from: Date::new(2025, 9, 1).unwrap(),
                to: Date::new(2026, 7, 4).unwrap(),
            },
            requested_by: Actor::Service,
        }),
    }
}

/// Helper to write expected vectors field by field.
fn cat(parts: &[&str]) -> String {
    parts.concat()
}

const E1_S1: &str = "0200000000000000453102000000000000005331"; // two u64-length strings

#[test]
fn golden_roll_call_opened() {
    let expected = cat(&[
        "01",                 // format version
        &"11".repeat(16),     // request id
        "03000000",           // EventBody::RollCallOpened
        E1_S1,                // session
        "01000000",           // version 1
        "02000000",           // RotatingQr
        "01000000",           // Actor::Administrator
        "010000000000000041", // "A"
        "01",                 // Some
        "010000000000000054", // "T"
    ]);
    assert_eq!(hex(&encode(&roll_call_opened()).unwrap()), expected);
}

#[test]
fn golden_marked_late() {
    let expected = cat(&[
        "01",
        &"22".repeat(16),
        "07000000", // EventBody::MarkedLate
        E1_S1,
        "02000000", // version 2
        "0b00000000000000",
        "3132333435363738393056", // INE
        "d807",
        "03",
        "0e", // 2008-03-14
        "00000000",
        "010000000000000054", // Actor::Teacher("T")
        "0a00",               // 10 minutes, u16
    ]);
    assert_eq!(hex(&encode(&marked_late()).unwrap()), expected);
}

#[test]
fn golden_student_signed() {
    let expected = cat(&[
        "01",
        &"33".repeat(16),
        "04000000", // EventBody::StudentSigned
        E1_S1,
        "01000000",
        "0b00000000000000",
        "3132333435363738393056",
        "d807",
        "03",
        "0e",
        &"aa".repeat(32), // arrays carry no length
        &"cc".repeat(32),
        "0807060504030201",
        &"ee".repeat(64),
    ]);
    assert_eq!(hex(&encode(&student_signed()).unwrap()), expected);
}

#[test]
fn golden_audit_trail_requested() {
    let expected = cat(&[
        "01",
        &"55".repeat(16),
        "0f000000", // EventBody::AuditTrailRequested
        "02000000000000004531",
        "04000000000000004f50434f", // "OPCO"
        "00000000",
        "e907",
        "09",
        "01", // AuditScope::Sessions from 2025-09-01
        "ea07",
        "07",
        "04",       // to 2026-07-04
        "02000000", // Actor::Service
    ]);
    assert_eq!(hex(&encode(&audit_requested()).unwrap()), expected);
}

#[test]
fn every_golden_event_round_trips() {
    for event in [
        roll_call_opened(),
        marked_late(),
        student_signed(),
        session_scheduled(),
        audit_requested(),
    ] {
        let bytes = encode(&event).unwrap();
        assert_eq!(decode(&bytes).unwrap(), event);
    }
}

#[test]
fn envelope_errors_are_typed() {
    let bytes = encode(&marked_late()).unwrap();
    assert_eq!(decode(&[]), Err(DecodeError::Empty));
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(decode(&v2), Err(DecodeError::UnknownVersion { version: 2 }));
    let mut long = bytes.clone();
    long.extend_from_slice(&[0, 0]);
    assert_eq!(decode(&long), Err(DecodeError::TrailingBytes { count: 2 }));
    assert!(matches!(decode(&bytes[..bytes.len() - 1]), Err(DecodeError::Malformed { .. })));
    let mut huge = vec![1u8; MAX_EVENT_BYTES + 1];
    huge[0] = 1;
    assert!(matches!(decode(&huge), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn non_canonical_values_do_not_decode() {
    // Lower-case INE in the bytes: the same student would have two encodings.
    let mut bytes = encode(&marked_late()).unwrap();
    let at = bytes.windows(11).position(|w| w == b"1234567890V").unwrap();
    bytes[at + 10] = b'v';
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed { .. })));
    // 29 February 2007 does not exist.
    let mut bytes = encode(&marked_late()).unwrap();
    bytes[at + 13] = 2;
    bytes[at + 14] = 29;
    bytes[at + 11..at + 13].copy_from_slice(&2007u16.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed { .. })));
    // A string length claiming far more than the record holds.
    let mut bytes = encode(&marked_late()).unwrap();
    bytes[21..29].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed { .. })));
}

#[test]
fn structurally_invalid_events_are_refused_both_ways() {
    let mut event = session_scheduled();
    if let EventBody::SessionScheduled(s) = &mut event.body {
        s.session.end_ns = s.session.start_ns;
    }
    assert!(matches!(encode(&event), Err(EncodeError::Invalid(_))));
    // The same shape written by hand is refused on decode.
    let mut bytes = encode(&session_scheduled()).unwrap();
    let mut slot = 1_000u64.to_le_bytes().to_vec();
    slot.extend_from_slice(&2_000u64.to_le_bytes());
    let at = bytes.windows(16).position(|w| w == slot.as_slice()).unwrap();
    bytes[at + 8..at + 16].copy_from_slice(&1_000u64.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(DecodeError::Invalid(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut with_version = vec![1u8];
        with_version.extend_from_slice(&bytes);
        let _ = decode(&bytes);
        let _ = decode(&with_version);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic_and_never_round_trip_wrongly(
        pick in 0usize..5, cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let events = [roll_call_opened(), marked_late(), student_signed(), session_scheduled(),
            audit_requested()];
        let bytes = encode(&events[pick]).unwrap();
        let n = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..n]).is_err());
        let mut flipped = bytes.clone();
        flipped[flip.index(bytes.len())] ^= 1 << bit;
        if let Ok(event) = decode(&flipped) {
            // Whatever decodes re-encodes to exactly the bytes read: one value, one encoding.
            prop_assert_eq!(encode(&event).unwrap(), flipped);
        }
    }
}
