//! The ALB's user-claims token (`x-amzn-oidc-data`) before any key, the key endpoint's PEM answer
//! and a configured signer ARN: nothing panics; a decoded `kid` is always a UUID (it goes into a
//! URL); a key read is always an uncompressed P-256 point; a signer's key URL is always https on
//! an AWS domain, with the `kid` as its last segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_claims::fuzzing::{alb_decode, alb_key, alb_signer};

fuzz_target!(|data: &[u8]| {
    if let Some(point) = alb_key(data) {
        assert_eq!((point.len(), point[0]), (65, 4), "not an uncompressed P-256 point");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((kid, _signer)) = alb_decode(text) {
        assert_eq!(kid.len(), 36, "a kid that is not a UUID was decoded: {kid:?}");
        assert!(kid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    }
    let kid = "0b1f2e3d-4c5b-6a79-8877-665544332211";
    if let Some(url) = alb_signer(text, kid) {
        let host = url
            .strip_prefix("https://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("not https: {url}"));
        assert!(
            host.ends_with(".amazonaws.com")
                || host.ends_with(".amazonaws.com.cn")
                || host.ends_with(".amazonaws.eu"),
            "{url}"
        );
        assert!(url.ends_with(&format!("/{kid}")), "{url}");
    }
});
