//! Any bytes given to the PATCH path parser: it must return, never panic, and whatever it accepts
//! must display as text that parses back to an equal path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd_filter::{Limits, parse_path_with};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(path) = parse_path_with(input, &limits) else {
        return;
    };
    let text = path.to_string();
    let roomy = Limits { max_len: usize::MAX, ..limits };
    match parse_path_with(&text, &roomy) {
        Ok(again) => assert_eq!(again, path, "{input:?} displayed as {text:?}"),
        Err(e) => panic!("{input:?} displayed as {text:?}, which does not parse: {e}"),
    }
});
