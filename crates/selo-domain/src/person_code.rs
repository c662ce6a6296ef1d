//! Person codes: Brazilian CPF and Mexican CURP validation.
//!
//! `subject.code` (API contract) and `person.duiValue` (Web & SDK contract) carry either a CPF
//! (11 ASCII digits, no formatting) or a CURP (18 uppercase characters). Both carry check digits,
//! which are verified here; an invalid code is rejected with `20507` by the HTTP layer.

/// A validated person code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonCode {
    /// A Brazilian CPF: exactly 11 ASCII digits with valid check digits.
    Cpf(String),
    /// A Mexican CURP: 18 uppercase characters with a valid format and check digit.
    Curp(String),
}

impl PersonCode {
    /// The code exactly as it was given (digits only for a CPF, 18 characters for a CURP).
    pub fn as_str(&self) -> &str {
        match self {
            PersonCode::Cpf(s) | PersonCode::Curp(s) => s,
        }
    }

    /// A masked rendering for logs, hiding the middle of the code.
    ///
    /// A CPF keeps its first 3 and last 2 digits in the usual `000.000.000-00` layout, e.g.
    /// `00000000191` → `000.***.***-91`. A CURP keeps its first 4 and last 2 characters, e.g.
    /// `HEGG560427MVZRRL04` → `HEGG************04`.
    pub fn masked(&self) -> String {
        match self {
            PersonCode::Cpf(s) => {
                let first = s.get(..3).unwrap_or("");
                let last = s.get(s.len().saturating_sub(2)..).unwrap_or("");
                format!("{first}.***.***-{last}")
            }
            PersonCode::Curp(s) => mask_middle(s, 4, 2),
        }
    }
}

/// Keeps `head` leading and `tail` trailing characters of `s`, replacing the rest with `*`.
fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out = String::with_capacity(chars.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Whether `s` is a valid CPF: exactly 11 ASCII digits (no dots, dashes or spaces), not all the
/// same digit, with both mod-11 check digits correct.
pub fn is_valid_cpf(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != 11 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digits: Vec<u32> = bytes.iter().map(|b| u32::from(b - b'0')).collect();
    if digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    cpf_check_digit(&digits[..9]) == digits[9] && cpf_check_digit(&digits[..10]) == digits[10]
}

/// The CPF check digit following `digits` (9 digits for the first, 10 for the second).
fn cpf_check_digit(digits: &[u32]) -> u32 {
    let top = digits.len() as u32 + 1;
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| d * (top - i as u32))
        .sum();
    let rest = sum % 11;
    if rest < 2 { 0 } else { 11 - rest }
}

/// The two-letter state codes allowed at positions 12–13 of a CURP (`NE`: born abroad).
const CURP_STATES: [&[u8; 2]; 33] = [
    b"AS", b"BC", b"BS", b"CC", b"CL", b"CM", b"CS", b"CH", b"DF", b"DG", b"GT", b"GR", b"HG",
    b"JC", b"MC", b"MN", b"MS", b"NT", b"NL", b"OC", b"PL", b"QT", b"QR", b"SP", b"SL", b"SR",
    b"TC", b"TS", b"TL", b"VZ", b"YN", b"ZS", b"NE",
];

/// Whether `s` is a valid CURP: 18 uppercase ASCII characters matching
/// `[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX](state)[B-DF-HJ-NP-TV-Z]{3}[0-9A-Z]\d`, where the state is an
/// official two-letter code, the `YYMMDD` birth date is a real calendar date (the 17th character,
/// a digit for births before 2000 and a letter from 2000 on, fixes the century), and the 18th
/// character is the official check digit.
pub fn is_valid_curp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let upper = |c: u8| c.is_ascii_uppercase();
    let digit = |c: u8| c.is_ascii_digit();
    let consonant = |c: u8| upper(c) && !matches!(c, b'A' | b'E' | b'I' | b'O' | b'U');
    let format_ok = upper(b[0])
        && matches!(b[1], b'A' | b'E' | b'I' | b'O' | b'U' | b'X')
        && upper(b[2])
        && upper(b[3])
        && b[4..10].iter().all(|&c| digit(c))
        && matches!(b[10], b'H' | b'M' | b'X')
        && CURP_STATES.iter().any(|st| st[..] == b[11..13])
        && b[13..16].iter().all(|&c| consonant(c))
        && (digit(b[16]) || upper(b[16]))
        && digit(b[17]);
    if !format_ok {
        return false;
    }
    let num = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let century = if digit(b[16]) { 1900 } else { 2000 };
    if !is_real_date(century + num(4), num(6), num(8)) {
        return false;
    }
    curp_check_digit(&b[..17]) == Some(u32::from(b[17] - b'0'))
}

/// Whether `year-month-day` is a real Gregorian calendar date.
fn is_real_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// The value of a CURP character in the official dictionary
/// `0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ` (Ñ is index 24, so `O`..`Z` are 25..36).
fn curp_char_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'N' => Some(u32::from(c - b'A') + 10),
        b'O'..=b'Z' => Some(u32::from(c - b'O') + 25),
        _ => None,
    }
}

/// The official CURP check digit of the first 17 characters: the sum of
/// `value(char) * (18 - index)`, then `(10 - sum % 10) % 10`.
fn curp_check_digit(first17: &[u8]) -> Option<u32> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in first17.iter().enumerate() {
        sum += curp_char_value(c)? * (18 - i as u32);
    }
    Some((10 - sum % 10) % 10)
}

/// Parses `subject.code`: 11 ASCII digits → CPF (check digits verified), 18 chars → CURP (format
/// and check digit verified). Anything else (formatting characters like dots/dashes, wrong
/// length, bad check digit) → `None`.
pub fn parse_person_code(s: &str) -> Option<PersonCode> {
    match s.len() {
        11 if is_valid_cpf(s) => Some(PersonCode::Cpf(s.to_owned())),
        18 if is_valid_curp(s) => Some(PersonCode::Curp(s.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid CURP from its first 17 characters by appending the computed check digit.
    fn with_check_digit(first17: &str) -> String {
        let d = curp_check_digit(first17.as_bytes()).expect("17 valid characters");
        format!("{first17}{d}")
    }

    /// Builds a valid CPF from its first 9 digits by appending both check digits.
    fn cpf_from_base(base9: &str) -> String {
        let mut digits: Vec<u32> = base9.bytes().map(|b| u32::from(b - b'0')).collect();
        digits.push(cpf_check_digit(&digits));
        digits.push(cpf_check_digit(&digits));
        digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
    }

    // ---- CPF ----

    #[test]
    fn sandbox_cpfs_are_valid() {
        for cpf in [
            "00000000191",
            "00000000272",
            "00000000353",
            "00000000434",
            "00000000515",
            "00000000604",
            "00000000787",
            "00000000868",
        ] {
            assert!(is_valid_cpf(cpf), "{cpf} should be valid");
            assert_eq!(
                parse_person_code(cpf),
                Some(PersonCode::Cpf(cpf.to_owned()))
            );
        }
    }

    #[test]
    fn known_real_format_cpfs_are_valid() {
        // Check digits verified by hand with the mod-11 rule.
        assert!(is_valid_cpf("52998224725"));
        assert!(is_valid_cpf("11144477735"));
        assert_eq!(cpf_from_base("529982247"), "52998224725");
        assert_eq!(cpf_from_base("111444777"), "11144477735");
    }

    #[test]
    fn cpf_with_wrong_check_digits_is_invalid() {
        assert!(!is_valid_cpf("00000000192"));
        assert!(!is_valid_cpf("00000000181"));
        assert!(!is_valid_cpf("52998224724"));
        assert!(!is_valid_cpf("52998224715"));
        // Every wrong last digit fails.
        for d in 0..10u8 {
            let s = format!("0000000019{}", char::from(b'0' + d));
            assert_eq!(is_valid_cpf(&s), d == 1, "{s}");
        }
    }

    #[test]
    fn cpf_with_all_same_digits_is_invalid() {
        for d in b'0'..=b'9' {
            let s: String = std::iter::repeat_n(char::from(d), 11).collect();
            assert!(!is_valid_cpf(&s), "{s}");
        }
    }

    #[test]
    fn cpf_with_formatting_or_wrong_length_is_invalid() {
        assert!(!is_valid_cpf("000.000.001-91"));
        assert!(!is_valid_cpf("529.982.247-25"));
        assert!(!is_valid_cpf("0000000019"));
        assert!(!is_valid_cpf("000000001910"));
        assert!(!is_valid_cpf(" 00000000191"));
        assert!(!is_valid_cpf("0000000019a"));
        assert!(!is_valid_cpf(""));
        // Non-ASCII digits (Arabic-Indic) are not accepted.
        assert!(!is_valid_cpf("٠٠٠٠٠٠٠٠١٩١"));
        assert_eq!(parse_person_code("000.000.001-91"), None);
        assert_eq!(parse_person_code("00000000192"), None);
        assert_eq!(parse_person_code("11111111111"), None);
    }

    #[test]
    fn generated_cpfs_round_trip() {
        for base in [
            "123456789",
            "987654321",
            "000000001",
            "100000000",
            "314159265",
        ] {
            let cpf = cpf_from_base(base);
            assert!(is_valid_cpf(&cpf), "{cpf}");
        }
    }

    // ---- CURP ----

    #[test]
    fn curp_dictionary_values() {
        assert_eq!(curp_char_value(b'0'), Some(0));
        assert_eq!(curp_char_value(b'9'), Some(9));
        assert_eq!(curp_char_value(b'A'), Some(10));
        assert_eq!(curp_char_value(b'N'), Some(23));
        // Ñ occupies 24, so O is 25 and Z is 36.
        assert_eq!(curp_char_value(b'O'), Some(25));
        assert_eq!(curp_char_value(b'Z'), Some(36));
        assert_eq!(curp_char_value(b'a'), None);
        assert_eq!(curp_char_value(b'-'), None);
    }

    #[test]
    fn hand_verified_curps_are_valid() {
        // Published example CURPs; sums verified by hand (value × weight, weights 18 down to 2).
        // HEGG560427MVZRRL0: 306+238+256+240+70+78+0+44+20+63+176+224+216+140+112+63+0 = 2246,
        // (10 - 6) % 10 = 4.
        assert_eq!(curp_check_digit(b"HEGG560427MVZRRL0"), Some(4));
        assert!(is_valid_curp("HEGG560427MVZRRL04"));
        // BEML920313HCMLNS0: 198+238+352+315+126+26+0+33+10+27+136+84+132+105+92+87+0 = 1961,
        // (10 - 1) % 10 = 9.
        assert_eq!(curp_check_digit(b"BEML920313HCMLNS0"), Some(9));
        assert!(is_valid_curp("BEML920313HCMLNS09"));
        // A 2000s birth (letter differentiator) on a leap day, MAPR050229MJCRRSA:
        // 396+170+416+420+0+65+0+22+20+81+176+133+72+140+112+87+20 = 2330, (10 - 0) % 10 = 0.
        // (2005 is not a leap year, so this one fails on its date; see below.)
        assert_eq!(curp_check_digit(b"MAPR050229MJCRRSA"), Some(0));
        assert!(!is_valid_curp("MAPR050229MJCRRSA0"));
        // The made-up "GODE561231HDFRRN04" has the wrong check digit: it is 0.
        assert_eq!(curp_check_digit(b"GODE561231HDFRRN0"), Some(0));
        assert!(is_valid_curp("GODE561231HDFRRN00"));
        assert!(!is_valid_curp("GODE561231HDFRRN04"));
        // Fictional examples with wrong check digits circulate widely; they are rejected.
        assert!(!is_valid_curp("BADD110313HCMLNS09"));
        for curp in [
            "HEGG560427MVZRRL04",
            "BEML920313HCMLNS09",
            "GODE561231HDFRRN00",
        ] {
            assert_eq!(
                parse_person_code(curp),
                Some(PersonCode::Curp(curp.to_owned()))
            );
        }
    }

    #[test]
    fn curp_born_in_2000s_is_valid() {
        let curp = with_check_digit("MAPR040229MJCRRSA");
        assert!(is_valid_curp(&curp), "{curp}");
        assert!(parse_person_code(&curp).is_some());
    }

    #[test]
    fn every_other_check_digit_is_rejected() {
        let first = "HEGG560427MVZRRL0";
        for d in 0..10 {
            let s = format!("{first}{d}");
            assert_eq!(is_valid_curp(&s), d == 4, "{s}");
        }
    }

    #[test]
    fn all_states_and_sexes_are_accepted() {
        for st in CURP_STATES {
            for sex in ["H", "M", "X"] {
                let st = std::str::from_utf8(st).unwrap();
                let curp = with_check_digit(&format!("PEPJ800101{sex}{st}RNS0"));
                assert!(is_valid_curp(&curp), "{curp}");
            }
        }
    }

    #[test]
    fn curp_format_violations_are_rejected() {
        let valid = with_check_digit("PEPJ800101HDFRNS0");
        assert!(is_valid_curp(&valid));
        let cases: &[(usize, u8)] = &[
            (0, b'1'),  // first char must be a letter
            (1, b'B'),  // second char must be a vowel or X
            (2, b'3'),  // letters
            (3, b'3'),  // letters
            (4, b'A'),  // date digits
            (9, b'Z'),  // date digits
            (10, b'F'), // sex H/M/X
            (11, b'Z'), // state: ZF is not a state
            (13, b'A'), // consonant
            (14, b'E'), // consonant
            (15, b'U'), // consonant
            (16, b'-'), // differentiator
            (17, b'A'), // check digit must be a digit
        ];
        for &(pos, c) in cases {
            let mut b = valid.clone().into_bytes();
            b[pos] = c;
            let mut s = String::from_utf8(b).unwrap();
            // Re-derive the check digit where the position is not the check digit itself, so the
            // failure is due to the format, not the check digit.
            if pos != 17 && curp_check_digit(&s.as_bytes()[..17]).is_some() {
                s = with_check_digit(&s[..17]);
            }
            assert!(!is_valid_curp(&s), "pos {pos}: {s}");
        }
        // Vowel X at position 1 is allowed.
        assert!(is_valid_curp(&with_check_digit("PXPJ800101HDFRNS0")));
    }

    #[test]
    fn curp_dates_must_be_real() {
        let ok = |d: &str| is_valid_curp(&with_check_digit(&format!("PEPJ{d}HDFRNS0")));
        assert!(ok("800131"));
        assert!(ok("800430"));
        assert!(!ok("800431"));
        assert!(!ok("800001"));
        assert!(!ok("801301"));
        assert!(!ok("800100"));
        assert!(!ok("800132"));
        // Leap years: 1980 yes, 1981 no.
        assert!(ok("800229"));
        assert!(!ok("810229"));
        assert!(!ok("800230"));
        // 1900 was not a leap year (digit differentiator), 2000 was (letter differentiator).
        let with_diff =
            |d: &str, diff: char| is_valid_curp(&with_check_digit(&format!("PEPJ{d}HDFRNS{diff}")));
        assert!(!with_diff("000229", '0'));
        assert!(with_diff("000229", 'A'));
        assert!(with_diff("000228", '0'));
    }

    #[test]
    fn curp_lowercase_length_and_non_ascii_are_rejected() {
        assert!(is_valid_curp("HEGG560427MVZRRL04"));
        assert!(!is_valid_curp("hegg560427mvzrrl04"));
        assert!(!is_valid_curp("HEGG560427mVZRRL04"));
        assert!(!is_valid_curp("HEGG560427MVZRRL0"));
        assert!(!is_valid_curp("HEGG560427MVZRRL041"));
        assert!(!is_valid_curp(" HEGG560427MVZRRL04"));
        assert!(!is_valid_curp(""));
        // 18 bytes but containing a multi-byte char.
        assert_eq!("HEÑG560427MVZRRL0".len(), 18);
        assert!(!is_valid_curp("HEÑG560427MVZRRL0"));
        assert_eq!(parse_person_code("hegg560427mvzrrl04"), None);
        assert_eq!(parse_person_code("HEGG-560427-MVZRRL04"), None);
    }

    #[test]
    fn parse_rejects_other_lengths() {
        for s in [
            "",
            "1",
            "0000000019",
            "000000001910",
            "GODE561231HDFRRN0",
            "x".repeat(18).as_str(),
        ] {
            assert_eq!(parse_person_code(s), None, "{s}");
        }
    }

    #[test]
    fn as_str_and_masked() {
        let cpf = parse_person_code("00000000191").unwrap();
        assert_eq!(cpf.as_str(), "00000000191");
        assert_eq!(cpf.masked(), "000.***.***-91");
        let cpf = parse_person_code("52998224725").unwrap();
        assert_eq!(cpf.masked(), "529.***.***-25");
        let curp = parse_person_code("HEGG560427MVZRRL04").unwrap();
        assert_eq!(curp.as_str(), "HEGG560427MVZRRL04");
        assert_eq!(curp.masked(), "HEGG************04");
        assert_eq!(curp.masked().len(), 18);
    }

    #[test]
    fn masking_never_panics_on_unvalidated_values() {
        assert_eq!(PersonCode::Curp("ABC".into()).masked(), "***");
        assert_eq!(PersonCode::Cpf("1".into()).masked(), ".***.***-1");
        assert_eq!(PersonCode::Cpf(String::new()).masked(), ".***.***-");
        assert_eq!(mask_middle("ABCDEFG", 4, 2), "ABCD*FG");
    }
}
