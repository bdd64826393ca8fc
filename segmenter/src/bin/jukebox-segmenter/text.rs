//! What the binary prints of file names and reasons: one line each, never a control sequence.

use std::borrow::Cow;
use std::fmt::Display;

/// `text` with every control character (escape sequences, newlines) replaced by U+FFFD, as the
/// client shows titles: a file named with an escape sequence could otherwise move the cursor,
/// clear the screen or forge output lines.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// [`printable`] of anything shown, such as a path's `display()`.
pub fn shown(thing: impl Display) -> String {
    printable(&thing.to_string()).into_owned()
}

/// `1 song`, `2 songs`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_counts_agree() {
        assert_eq!(
            printable("a\u{1b}[2Jb\nc\u{7f}"),
            "a\u{fffd}[2Jb\u{fffd}c\u{fffd}"
        );
        assert!(matches!(printable("Café — ok"), Cow::Borrowed(_)));
        assert_eq!(
            shown(std::path::Path::new("x\ty.mp3").display()),
            "x\u{fffd}y.mp3"
        );
        assert_eq!(count(1u64, "song", "songs"), "1 song");
        assert_eq!(count(0u64, "song", "songs"), "0 songs");
        assert_eq!(count(2u64, "file", "files"), "2 files");
    }
}
