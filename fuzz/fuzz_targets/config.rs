//! The configuration loader: any text is settings or an error naming what to fix, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_config::{Sources, load};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load(&Sources::text(text)) {
        Ok(settings) => assert!(!settings.auth.configs.is_empty()),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
