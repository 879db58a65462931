//! Which characters may appear in text people read: names of users,
//! devices and rooms, classification labels, reasons, and (in the client)
//! the names of received files. One rule for all of them, so a name cannot
//! pass in one place and fool a reader in another.

/// Characters that change how text looks, not what it says: controls (Cc),
/// format characters (Cf: bidi marks, embeddings, overrides and isolates,
/// zero-width characters, the byte order mark, tags) and the line and
/// paragraph separators (Zl, Zp). With U+202E (right-to-left override),
/// `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`, and a device named
/// `Alice\u{202E}potpal` reads as someone else's laptop.
///
/// Cf as of Unicode 15.1, written out so the rule does not depend on the
/// Unicode tables of the compiler that builds it.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            u32::from(c),
            0x00AD
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

#[cfg(test)]
mod tests {
    use super::is_invisible;

    #[test]
    fn bidi_zero_width_and_controls_are_invisible() {
        for c in [
            '\u{0}',
            '\n',
            '\u{7f}',
            '\u{85}',   // Cc
            '\u{00AD}', // soft hyphen
            '\u{061C}', // Arabic letter mark
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}', // zero-width, LRM, RLM
            '\u{2028}',
            '\u{2029}', // line and paragraph separators
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2060}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // word joiner, isolates
            '\u{FEFF}', // byte order mark
            '\u{E0001}',
            '\u{E0041}', // tags
        ] {
            assert!(is_invisible(c), "{:04X}", u32::from(c));
        }
    }

    #[test]
    fn ordinary_letters_and_spaces_are_visible() {
        for c in ['a', 'Z', '7', ' ', 'é', 'ß', 'Ж', 'ع', 'א', '中', '😀', '-', '.', '\u{00A0}'] {
            assert!(!is_invisible(c), "{:04X}", u32::from(c));
        }
    }
}
