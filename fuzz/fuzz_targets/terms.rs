//! Fuzzes the terms-file reader and the licence-expression resolver: any text must give
//! terms or an error naming a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = mlprov_terms::parse_terms(text) {
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
            }
        }
        let _ = mlprov_terms::resolve_licence(text);
    }
});
