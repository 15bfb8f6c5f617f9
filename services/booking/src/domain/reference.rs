//! Booking references people read out on the phone: `EVT-7K2M9Q`.
//!
//! Six characters from an alphabet without 0/O and 1/I (32 symbols, 30 bits),
//! derived from the booking id so a replayed decision yields the same
//! reference. Collisions are possible at this length, so the caller says
//! which references are taken and the next candidate is tried.

use common_types::BookingId;

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 6;

fn mix(mut z: u64) -> u64 {
    // splitmix64: spreads the id's bits evenly over the output.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `attempt`-th candidate reference for a booking.
pub fn candidate(id: BookingId, attempt: u64) -> String {
    let (hi, lo) = id.0.as_u64_pair();
    let mut bits = mix(hi ^ mix(lo ^ attempt));
    let mut out = String::with_capacity(4 + LEN);
    out.push_str("EVT-");
    for _ in 0..LEN {
        out.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    out
}

/// The first candidate that `taken` does not claim.
pub fn unique(id: BookingId, taken: impl Fn(&str) -> bool) -> String {
    let mut attempt = 0;
    loop {
        let reference = candidate(id, attempt);
        if !taken(&reference) {
            return reference;
        }
        attempt += 1;
    }
}

/// Whether `s` looks like a reference we issue.
pub fn is_reference(s: &str) -> bool {
    s.strip_prefix("EVT-")
        .is_some_and(|rest| rest.len() == LEN && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_unambiguous_and_stable() {
        let id = BookingId::new();
        let r = candidate(id, 0);
        assert!(is_reference(&r), "{r}");
        assert!(!r[4..].contains(['0', 'O', '1', 'I']));
        assert_eq!(r, candidate(id, 0));
        assert_ne!(r, candidate(id, 1));
    }

    #[test]
    fn taken_references_are_skipped() {
        let id = BookingId::new();
        let first = candidate(id, 0);
        let chosen = unique(id, |r| r == first);
        assert_eq!(chosen, candidate(id, 1));
    }
}
