//! `char::is_alphanumeric`, fast on text outside ASCII.
//!
//! The standard library answers it for a non-ASCII character by searching
//! Unicode's tables, about 1,700 instructions a call on the scripts posts use
//! (measured with callgrind on a real Instagram export, where it was a third
//! of the cost of reading a post). Text repeats the few hundred characters of
//! its script, so the answers are remembered per thread in a small
//! direct-mapped table: the same answer, at the cost of a load and a compare.

use std::cell::Cell;

/// Slots of the table: a power of two. Each holds a character and its answer.
const SLOTS: usize = 1024;
/// No character is this: an empty slot.
const EMPTY: u32 = u32::MAX;

thread_local! {
    static SEEN: [Cell<u32>; SLOTS] = const { [const { Cell::new(EMPTY) }; SLOTS] };
}

/// Exactly `c.is_alphanumeric()`.
#[inline]
pub fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    let code = c as u32;
    // A character (21 bits) and its answer in the low bit.
    let answer = |entry: u32| entry & 1 == 1;
    SEEN.try_with(|seen| {
        let slot = &seen[code as usize % SLOTS];
        let entry = slot.get();
        if entry != EMPTY && entry >> 1 == code {
            return answer(entry);
        }
        let is = c.is_alphanumeric();
        slot.set(code << 1 | u32::from(is));
        is
    })
    .unwrap_or_else(|_| c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_the_standard_library_does_for_every_character() {
        // Twice: the second pass reads the remembered answers, with
        // characters that share a slot evicting each other.
        for _ in 0..2 {
            for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
                assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{:?}", c);
            }
        }
    }
}
