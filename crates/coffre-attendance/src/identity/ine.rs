//! The INE (identifiant national élève/étudiant): normalisation, family detection, check keys.
//!
//! The five family patterns are pairwise disjoint, so a normalised string belongs to at most one
//! family and the detection order cannot change the outcome (see `families_are_disjoint`):
//! - base-36 university INEs end with a digit; every other family ends with a letter;
//! - RNIE has a letter at position 10 (1-based), BEA a digit there;
//! - at position 5, BEA and RNIE have a digit, SIFA the letter `A`, provisional the letter `D`.
//!
//! A BEA-shaped string with a wrong key is therefore rejected, never re-read as another family.

use std::fmt;

/// Length of every INE family.
pub const INE_LEN: usize = 11;

/// Letters of the BEA key, indexed by the 10-digit number modulo 23 (no I, O, Q).
const BEA_KEY_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// Which numbering scheme issued an INE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum IneFamily {
    /// Base élèves académique (schools): 10 digits and a mod-23 key letter.
    Bea,
    /// Universities: 10 base-36 characters and a mod-10 key digit.
    University,
    /// RNIE: 9 digits and two letters among A..=H, J, K; key rule not public.
    Rnie,
    /// Apprentices (SIFA): `NNNNA` + 5 digits + a letter; key rule not public.
    Apprentice,
    /// Provisional INEs: `NNNND` + 5 digits + a letter; key rule not public.
    Provisional,
}

/// How far an INE was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyCheck {
    /// The family's public check key matched.
    Verified,
    /// The format matched; the family's key rule is not public, so the key was not verified.
    FormatOnly,
}

/// Why a string is not an INE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IneReason {
    /// Not 11 characters after trimming.
    #[error("expected 11 characters")]
    Length,
    /// Matches no family's format.
    #[error("matches no INE family format")]
    Format,
    /// BEA format, but the key letter is not the one the number gives.
    #[error("BEA key letter should be {expected}")]
    BeaKey {
        /// The key letter the 10 digits give.
        expected: char,
    },
    /// University format, but the key digit is not the one the first ten characters give.
    #[error("university key digit should be {expected}")]
    UniversityKey {
        /// The key digit the first ten characters give.
        expected: char,
    },
}

/// A normalised (trimmed, upper-case) INE of a known family.
///
/// ```
/// use coffre_attendance::identity::{Ine, IneFamily, KeyCheck};
/// let ine = Ine::parse(" 1234567890v ").unwrap();
/// assert_eq!(ine.as_str(), "1234567890V");
/// assert_eq!(ine.family(), IneFamily::Bea);
/// assert_eq!(ine.key_check(), KeyCheck::Verified);
/// assert!(Ine::parse("1234567890A").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ine {
    value: String,
    family: IneFamily,
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// Letters A..=Z without I, O and Q, as in the BEA, SIFA and provisional key positions.
fn is_key_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !matches!(c, b'I' | b'O' | b'Q')
}

fn is_rnie_letter(c: u8) -> bool {
    matches!(c, b'A'..=b'H' | b'J' | b'K')
}

fn base36(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'A'..=b'Z' => Some(u64::from(c - b'A') + 10),
        _ => None,
    }
}

/// The family whose format `b` matches, if any (at most one, see the module doc).
fn family_of(b: &[u8; INE_LEN]) -> Option<IneFamily> {
    let (head, last) = (&b[..10], b[10]);
    if head.iter().all(|&c| is_digit(c)) && is_key_letter(last) {
        return Some(IneFamily::Bea);
    }
    if head.iter().all(|&c| base36(c).is_some()) && is_digit(last) {
        return Some(IneFamily::University);
    }
    if b[..9].iter().all(|&c| is_digit(c)) && is_rnie_letter(b[9]) && is_rnie_letter(last) {
        return Some(IneFamily::Rnie);
    }
    let apprentice_like = b[..4].iter().all(|&c| is_digit(c))
        && b[5..10].iter().all(|&c| is_digit(c))
        && is_key_letter(last);
    match b[4] {
        b'A' if apprentice_like => Some(IneFamily::Apprentice),
        b'D' if apprentice_like => Some(IneFamily::Provisional),
        _ => None,
    }
}

fn check_key(b: &[u8; INE_LEN], family: IneFamily) -> Result<KeyCheck, IneReason> {
    match family {
        IneFamily::Bea => {
            let n = b[..10].iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
            let expected = BEA_KEY_LETTERS[(n % 23) as usize];
            if b[10] == expected {
                Ok(KeyCheck::Verified)
            } else {
                Err(IneReason::BeaKey { expected: char::from(expected) })
            }
        }
        IneFamily::University => {
            // 36^10 < 2^52: the value of ten base-36 characters fits a u64.
            let n = b[..10].iter().fold(0u64, |n, &c| n * 36 + base36(c).unwrap_or(0));
            let expected = b'0' + (n % 10) as u8;
            if b[10] == expected {
                Ok(KeyCheck::Verified)
            } else {
                Err(IneReason::UniversityKey { expected: char::from(expected) })
            }
        }
        IneFamily::Rnie | IneFamily::Apprentice | IneFamily::Provisional => {
            Ok(KeyCheck::FormatOnly)
        }
    }
}

impl Ine {
    /// Trims, upper-cases, detects the family and checks its key where the rule is public.
    pub fn parse(text: &str) -> Result<Ine, IneReason> {
        let value = text.trim().to_ascii_uppercase();
        let bytes: &[u8; INE_LEN] = value.as_bytes().try_into().map_err(|_| IneReason::Length)?;
        let family = family_of(bytes).ok_or(IneReason::Format)?;
        check_key(bytes, family)?;
        Ok(Ine { value, family })
    }

    /// The normalised INE.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The family that issued it.
    pub fn family(&self) -> IneFamily {
        self.family
    }

    /// Whether the key was verified or only the format.
    pub fn key_check(&self) -> KeyCheck {
        match self.family {
            IneFamily::Bea | IneFamily::University => KeyCheck::Verified,
            _ => KeyCheck::FormatOnly,
        }
    }
}

impl fmt::Display for Ine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl bincode::Encode for Ine {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.value.encode(encoder)
    }
}

impl<C> bincode::Decode<C> for Ine {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let raw = String::decode(decoder)?;
        let ine = Ine::parse(&raw)
            .map_err(|r| bincode::error::DecodeError::OtherString(format!("ine: {r}")))?;
        // Only the normalised form is canonical: one value, one encoding.
        if ine.value != raw {
            return Err(bincode::error::DecodeError::Other("ine: not normalised"));
        }
        Ok(ine)
    }
}
bincode::impl_borrow_decode!(Ine);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn family(s: &str) -> Result<(IneFamily, KeyCheck), IneReason> {
        Ine::parse(s).map(|i| (i.family(), i.key_check()))
    }

    #[test]
    fn given_examples_are_valid() {
        assert_eq!(family("1234567890V"), Ok((IneFamily::Bea, KeyCheck::Verified)));
        assert_eq!(family("ABC123XYZ95"), Ok((IneFamily::University, KeyCheck::Verified)));
    }

    #[test]
    fn bea_key_letter_is_checked() {
        assert_eq!(family("0000000000A"), Ok((IneFamily::Bea, KeyCheck::Verified)));
        // 22 mod 23 = 22 -> Z; 23 mod 23 = 0 -> A.
        assert_eq!(family("0000000022Z"), Ok((IneFamily::Bea, KeyCheck::Verified)));
        assert_eq!(family("0000000023A"), Ok((IneFamily::Bea, KeyCheck::Verified)));
        assert_eq!(Ine::parse("1234567890W"), Err(IneReason::BeaKey { expected: 'V' }));
        // I, O and Q are never key letters: the string matches no family.
        assert_eq!(Ine::parse("1234567890I"), Err(IneReason::Format));
        assert_eq!(Ine::parse("1234567890O"), Err(IneReason::Format));
    }

    #[test]
    fn university_key_digit_is_checked() {
        assert_eq!(family("00000000000"), Ok((IneFamily::University, KeyCheck::Verified)));
        // 11 digits: only the university family ends with a digit.
        assert_eq!(family("12345678900").map(|f| f.0), Ok(IneFamily::University));
        assert_eq!(Ine::parse("ABC123XYZ94"), Err(IneReason::UniversityKey { expected: '5' }));
        assert_eq!(Ine::parse("12345678907"), Err(IneReason::UniversityKey { expected: '0' }));
    }

    #[test]
    fn format_only_families_are_marked_unverified() {
        assert_eq!(family("123456789AB"), Ok((IneFamily::Rnie, KeyCheck::FormatOnly)));
        assert_eq!(family("123456789KJ"), Ok((IneFamily::Rnie, KeyCheck::FormatOnly)));
        assert_eq!(Ine::parse("123456789AL"), Err(IneReason::Format));
        assert_eq!(family("1234A56789Z"), Ok((IneFamily::Apprentice, KeyCheck::FormatOnly)));
        assert_eq!(family("2023D00001K"), Ok((IneFamily::Provisional, KeyCheck::FormatOnly)));
        assert_eq!(Ine::parse("1234B56789Z"), Err(IneReason::Format));
        assert_eq!(Ine::parse("1234A56789Q"), Err(IneReason::Format));
    }

    #[test]
    fn input_is_trimmed_and_upper_cased() {
        let ine = Ine::parse("\t abc123xyz95 \n").unwrap();
        assert_eq!(ine.as_str(), "ABC123XYZ95");
        assert_eq!(Ine::parse(" 2023d00001k").unwrap().as_str(), "2023D00001K");
        assert_eq!(Ine::parse("1234567890"), Err(IneReason::Length));
        assert_eq!(Ine::parse("12345 67890V"), Err(IneReason::Length));
        assert_eq!(Ine::parse("1234567890VV"), Err(IneReason::Length));
        assert_eq!(Ine::parse("ABC123XYZ9é"), Err(IneReason::Length));
        assert_eq!(Ine::parse("ABC-23XYZ95"), Err(IneReason::Format));
        assert_eq!(Ine::parse(""), Err(IneReason::Length));
    }

    /// Matches `s` against each family pattern independently (no early return).
    fn patterns_matched(s: &[u8; INE_LEN]) -> usize {
        let d = |r: std::ops::Range<usize>| s[r].iter().all(|&c| is_digit(c));
        [
            d(0..10) && is_key_letter(s[10]),
            s[..10].iter().all(|&c| base36(c).is_some()) && is_digit(s[10]),
            d(0..9) && is_rnie_letter(s[9]) && is_rnie_letter(s[10]),
            d(0..4) && s[4] == b'A' && d(5..10) && is_key_letter(s[10]),
            d(0..4) && s[4] == b'D' && d(5..10) && is_key_letter(s[10]),
        ]
        .into_iter()
        .filter(|m| *m)
        .count()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn families_are_disjoint(s in "[0-9]{4}[0-9AD][0-9]{4}[0-9A-K][0-9A-Z]") {
            let b: [u8; INE_LEN] = s.as_bytes().try_into().unwrap();
            prop_assert!(patterns_matched(&b) <= 1);
        }

        #[test]
        fn parse_never_panics_and_output_is_normalised(s in "\\PC{0,16}") {
            if let Ok(ine) = Ine::parse(&s) {
                prop_assert_eq!(Ine::parse(ine.as_str()), Ok(ine.clone()));
                prop_assert_eq!(ine.as_str().len(), INE_LEN);
            }
        }
    }
}
