//! JWK set parsing: any document is a key set or a refusal, never a panic; a set never holds more
//! usable keys than the document names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_claims::{Algorithm, KeySet};

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::parse(data, &Algorithm::ALL) else {
        return;
    };
    let named = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|doc| doc.get("keys").and_then(|k| k.as_array()).map(Vec::len))
        .unwrap_or(0);
    assert!(set.len() <= named, "{} keys from {named}", set.len());
    // The same document with only API Gateway's algorithms never holds more.
    let narrow = KeySet::parse(
        data,
        &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
    )
    .expect("a document parsed once parses again");
    assert!(narrow.len() <= set.len());
});
