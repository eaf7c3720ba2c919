//! The issuers' keys at start-up: from the key sets built into the package beside the binary
//! (`cargo xtask build --embed-jwks`), so a cold start verifies its first token with no network
//! call, and refreshed from the issuers at once in the background; otherwise fetched during
//! start-up. Either way they are refreshed as usual at run time.

use std::path::{Path, PathBuf};

use portcullis_claims::Authorizer;

/// The file `cargo xtask build --embed-jwks` puts beside the binary.
pub const EMBEDDED_JWKS_FILE: &str = "jwks.json";

/// More than any real set of issuers' keys; a larger file is not read.
const MAX_EMBEDDED_BYTES: u64 = 1024 * 1024;

/// Where the embedded key sets are for the running binary.
pub fn embedded_jwks_path() -> Option<PathBuf> {
    Some(
        std::env::current_exe()
            .ok()?
            .with_file_name(EMBEDDED_JWKS_FILE),
    )
}

/// Seeds `authorizer` from `file` when it exists; fetches the keys of every issuer it did not
/// seed. A bad file is reported and ignored (the keys are fetched instead): it can only make the
/// start slower, never admit a token the issuer's published keys would refuse.
pub async fn load_keys(authorizer: &Authorizer, file: Option<&Path>) {
    let seeded = file.map_or(0, |file| seed_from(authorizer, file));
    if seeded == authorizer.verifiers().len() {
        tracing::info!(
            issuers = seeded,
            "issuer keys from the embedded key sets; refreshing in the background"
        );
        // The embedded sets are as old as the build: they serve the first requests, and the
        // issuers' current sets replace them as soon as they arrive (a key retired since the
        // build stops verifying then, not a cache age later).
        let authorizer = authorizer.clone();
        tokio::spawn(async move {
            match authorizer.hydrate().await {
                Ok(keys) => tracing::info!(keys, "issuer keys refreshed"),
                Err(error) => tracing::warn!(
                    %error,
                    "issuer keys not refreshed; the embedded sets stay in use until the next refresh"
                ),
            }
        });
        return;
    }
    // Keys are fetched now, not on the first request; a failure is not fatal (requests fail
    // closed until the issuer answers).
    match authorizer.hydrate().await {
        Ok(keys) => tracing::info!(keys, "issuer keys loaded"),
        Err(error) => {
            tracing::warn!(%error, "issuer keys not loaded yet; requests are refused until they are")
        }
    }
}

fn seed_from(authorizer: &Authorizer, file: &Path) -> usize {
    let Ok(metadata) = std::fs::metadata(file) else {
        return 0;
    };
    if metadata.len() > MAX_EMBEDDED_BYTES {
        tracing::warn!(file = %file.display(), bytes = metadata.len(), "embedded key sets too large; ignored");
        return 0;
    }
    let seeded = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| authorizer.seed(&bytes).map_err(|e| e.to_string()));
    match seeded {
        Ok(0) => {
            tracing::warn!(file = %file.display(), "embedded key sets name none of the configured issuers; ignored");
            0
        }
        Ok(count) => count,
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "embedded key sets unusable; ignored");
            0
        }
    }
}
