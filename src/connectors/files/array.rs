//! Where the items of a JSON array end, found without parsing them, so each
//! item is parsed where it lies in the read buffer (serde_json reading from
//! a file goes byte by byte through `io::Read`).
//!
//! Only brackets and strings matter: a bracket inside a string, or a quote
//! after a backslash, is content. A broken item still ends somewhere at or
//! after the place its parser fails, so the parser names the same problem.

/// How many bytes a parser reads of the value at the start of `bytes`, when
/// `bytes` holds all of them: an object or array up to its matching bracket,
/// a string up to its closing quote, anything else up to the first byte that
/// cannot continue it and that byte (a number ends where the next byte is no
/// digit). `None`: the value goes on past `bytes`.
pub(super) fn value_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        b'{' | b'[' => bracketed_len(bytes),
        b'"' => string_end(bytes, 1),
        _ => {
            let token = bytes.iter().position(|b| !is_token(*b))?;
            Some(token + 1)
        }
    }
}

/// Bytes a literal or number (or a typo of one) may be made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

fn bracketed_len(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => {
                i = string_end(bytes, i + 1)?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index after the closing quote of a string whose content starts at `from`.
fn string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i + 1);
        }
        // The escaped byte is content, whatever it is.
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(s: &str) -> Option<usize> {
        value_len(s.as_bytes())
    }

    #[test]
    fn an_object_ends_at_its_matching_bracket() {
        assert_eq!(len(r#"{"a":1},{"b":2}"#), Some(7));
        assert_eq!(len(r#"{"a":{"b":[1,{"c":[]}]}} ]"#), Some(24));
        assert_eq!(len("[[1], [2]], 3"), Some(10));
    }

    #[test]
    fn brackets_and_escaped_quotes_in_strings_are_content() {
        let item = r#"{"t":"say \"}\" ] [ { \\","u":"\\\""}"#;
        assert_eq!(len(&format!("{item},{{}}")), Some(item.len()));
        assert_eq!(len(r#""a \" ] b", 1"#), Some(10));
    }

    #[test]
    fn a_value_cut_short_goes_on_past_the_bytes() {
        assert_eq!(len(r#"{"a":[1,2]"#), None);
        assert_eq!(len(r#"{"a":"}"#), None);
        assert_eq!(len(r#"{"a":"\"#), None);
        assert_eq!(len(r#""open"#), None);
        assert_eq!(len("123"), None, "the next byte may be a digit");
        assert_eq!(len(""), None);
    }

    #[test]
    fn a_number_or_literal_takes_the_byte_after_it_too() {
        assert_eq!(len("12.5e3,"), Some(7));
        assert_eq!(len("true]"), Some(5));
        assert_eq!(len("nul\""), Some(4));
    }

    #[test]
    fn a_broken_object_ends_no_earlier_than_its_parser_fails() {
        // The parser fails at `]`; the brackets only balance later.
        let broken = r#"{"a":[1}, {"b":2}]"#;
        assert_eq!(len(broken), Some(broken.len()));
        assert!(serde_json::from_str::<serde_json::Value>(&broken[..8]).is_err());
    }
}
