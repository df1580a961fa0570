//! Any bytes given to the filter parser: it must return, never panic, and whatever it accepts must
//! display as text that parses back to an equal tree (the round trip scimd-filter promises).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd_filter::{Limits, parse_filter_with};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(filter) = parse_filter_with(input, &limits) else {
        return;
    };
    let text = filter.to_string();
    // Display may be longer than the input (quotes around bare words, escapes), so do not let the
    // length limit turn a good round trip into a failure.
    let roomy = Limits { max_len: usize::MAX, ..limits };
    match parse_filter_with(&text, &roomy) {
        Ok(again) => assert_eq!(again, filter, "{input:?} displayed as {text:?}"),
        Err(e) => panic!("{input:?} displayed as {text:?}, which does not parse: {e}"),
    }
    assert_eq!(again_text(&text, &roomy), text, "display is not canonical for {input:?}");
});

/// Displaying the re-parsed tree gives the same text: the canonical form is a fixpoint.
fn again_text(text: &str, limits: &Limits) -> String {
    parse_filter_with(text, limits).map(|f| f.to_string()).unwrap_or_default()
}
