//! The OAuth clients' tests, one binary: the sign-in pieces, and the endpoints on loopback.

mod endpoints;
mod sign_in;
