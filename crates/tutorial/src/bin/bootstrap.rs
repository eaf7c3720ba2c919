//! The Lambda function (`provided.al2023` custom runtime): configuration → service → Lambda runtime.
//!
//! Configuration comes from `PORTCULLIS_…` environment variables and, when packaged beside the binary,
//! `portcullis.toml`. `[lambda] mode = "gateway"` (default) trusts the HTTP API JWT authorizer's claims;
//! `"verify"` checks the `Authorization` header here, with keys fetched during init. Logs follow the
//! function's logging configuration (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`).

use portcullis_config::{Sources, load};
use portcullis_tutorial::run::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    portcullis_lambda::init_logging();
    let settings = load(&Sources::default()).map_err(|e| format!("configuration: {e}"))?;
    // Embedded metric format lines (with `[metrics] emf`) go to stdout, which CloudWatch Logs reads.
    let stdout = portcullis_claims::metrics::EmfWriter::new(std::io::stdout());
    portcullis_tutorial::run::lambda(&settings, stdout).await
}
