//! The token path before any key: the `Authorization` value, the compact JWS decoder, the
//! strict JSON parser of its header and payload, the inspector's keyless reading, and each gate's
//! claim rules and identity-source expressions. Nothing panics, and the strict parser agrees with
//! serde_json on every object without a repeated member.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_claims::fuzzing::{decode, describe, gate_rules, identity_source, parse_object};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // The strict parser: what it accepts is what serde_json reads, and an object serde_json
    // reads, once written without repeats, the strict parser reads the same.
    let strict = parse_object(data);
    if let Some(map) = &strict {
        assert_eq!(
            serde_json::from_slice::<Value>(data).ok(),
            Some(Value::Object(map.clone())),
            "the strict parser read what serde_json does not"
        );
    }
    if let Ok(Value::Object(lenient)) = serde_json::from_slice::<Value>(data) {
        // Written out, it has no repeated member: the strict parser must read it, and read what
        // serde_json reads of those bytes (not necessarily `lenient` itself: serde_json's shortest
        // form of a float need not read back to the same float).
        let written = serde_json::to_vec(&lenient).expect("a Value serializes");
        let strict = parse_object(&written).map(Value::Object);
        assert!(
            strict.is_some(),
            "an object without repeated members was refused"
        );
        assert_eq!(strict, serde_json::from_slice::<Value>(&written).ok());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(token) = identity_source(text) {
        assert!(token.len() <= text.len());
        let _ = decode(token);
    }
    // The inspector's keyless reading (lenient decode, time claims, rule, kid) never panics.
    let _ = describe(text);
    if let Some((alg, kid, _payload)) = decode(text) {
        assert!(!kid.is_empty(), "{alg}: a token without a kid was decoded");
        assert_ne!(alg, "none");
    }
    // Each gate's claim rules on any object, and any text as each gate's identity source.
    if let Some(map) = &strict {
        let _ = gate_rules(map, text);
    }
});
