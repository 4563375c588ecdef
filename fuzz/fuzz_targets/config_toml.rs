//! Config parser: any UTF-8 text is a config or a typed error; errors and warnings render without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match control::config::parse(text) {
        Ok(config) => {
            let _ = config.warnings();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
