//! AWS Signature Version 4 for the few requests the DynamoDB store sends, on aws-lc-rs (the
//! workspace's one crypto backend): canonical request → string to sign → HMAC-SHA256 chain
//! ("Create a signed AWS API request", IAM User Guide). Checked against AWS's published test suite.

use aws_lc_rs::{digest, hmac};

/// Access key, secret and (for temporary credentials such as a Lambda function's) session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA…` or `ASIA…`.
    pub access_key_id: String,
    /// Never printed.
    pub secret_access_key: String,
    /// Sent as `x-amz-security-token` and signed.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// What one signature covers. No `Debug`: its headers hold the session token.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The canonical URI: the path, already URI-encoded (`/` for DynamoDB).
    pub(crate) path: &'a str,
    /// Headers to sign, lower-case names, including `host` and `x-amz-date`.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

/// The `Authorization` header value for `request`, sent at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub(crate) fn authorization(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let canonical = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed}\n{}",
        request.method,
        request.path,
        hex(digest::digest(&digest::SHA256, request.body).as_ref())
    );
    let day = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", credentials.secret_access_key).into_bytes();
    for part in [day, region, service, "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    let signature = hex(&mac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        credentials.access_key_id
    )
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch (UTC).
pub(crate) fn amz_date(epoch_seconds: u64) -> String {
    let t = portcullis_claims::UtcTime::from_epoch(epoch_seconds);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials and time of AWS's Signature Version 4 test suite.
    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    #[test]
    fn signatures_match_aws_s_signature_version_4_test_suite() {
        let host = ("host", "example.amazonaws.com");
        let date = ("x-amz-date", "20150830T123600Z");
        // (test-suite case, method, headers, expected tail of the Authorization header)
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
        let cases: [Case<'_>; 3] = [
            (
                "get-vanilla",
                "GET",
                vec![host, date],
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                vec![host, date],
                "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "post-header-key-sort",
                "POST",
                vec![host, ("My-Header1", "value1"), date],
                "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            ),
        ];
        for (name, method, headers, expected) in cases {
            let request = Request {
                method,
                path: "/",
                headers: &headers,
                body: b"",
            };
            assert_eq!(
                authorization(
                    &request,
                    &example(),
                    "us-east-1",
                    "service",
                    "20150830T123600Z"
                ),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, {expected}"
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn request_dates_are_iso_8601_basic_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn debug_output_never_shows_the_secret_or_the_session_token() {
        let mut credentials = example();
        credentials.session_token = Some("IQoJb3JpZ2luX2VjEXAMPLE".into());
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(!printed.contains("IQoJb3JpZ2lu"), "{printed}");
        assert!(printed.contains("AKIDEXAMPLE"));
    }
}
