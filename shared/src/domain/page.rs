//! Page tokens of the list routes: opaque to clients, a versioned encoding of the last name a
//! page served, so the next page starts after it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

const PREFIX: &str = "v1:";

/// The `continue` token of a page that ended with `last`.
pub fn encode_continue(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{last}"))
}

/// The name a `continue` token says the previous page ended with; `None` for anything that is
/// not such a token.
pub fn decode_continue(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(PREFIX).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_continue(&encode_continue("prod-2")).as_deref(),
            Some("prod-2")
        );
        for bad in ["", "!!", "eHl6"] {
            assert!(decode_continue(bad).is_none(), "{bad}");
        }
    }
}
