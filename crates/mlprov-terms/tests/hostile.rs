//! Hostile text: any input to the terms reader and the licence resolver gives an answer or
//! an error with a line inside the text, never a panic.

use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../templates/example.toml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_read_or_refused_with_a_line(text in "\\PC{0,400}") {
        if let Err(e) = mlprov_terms::parse_terms(&text) {
            if let Some(line) = e.line {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1);
            }
        }
        let _ = mlprov_terms::resolve_licence(&text);
    }

    #[test]
    fn a_damaged_terms_file_is_refused_or_still_valid(pos in 0usize..EXAMPLE.len(), byte in any::<u8>()) {
        let mut b = EXAMPLE.as_bytes().to_vec();
        b[pos] = byte;
        if let Ok(text) = String::from_utf8(b) {
            match mlprov_terms::parse_terms(&text) {
                Ok(_) => {}
                Err(e) => {
                    prop_assert!(!e.message.is_empty());
                    if let Some(line) = e.line {
                        prop_assert!(line >= 1 && line <= text.lines().count() + 1);
                    }
                }
            }
        }
    }
}
