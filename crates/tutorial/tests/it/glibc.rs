//! The Lambda `bootstrap` must load on Amazon Linux 2023 (`provided.al2023`), whose glibc is 2.34:
//! no symbol may require a newer GLIBC version.

use std::path::Path;

use portcullis_deploy::package::{AL2023_GLIBC, required_glibc};

#[test]
fn bootstrap_needs_no_glibc_newer_than_amazon_linux_2023_has() {
    let versions =
        required_glibc(Path::new(env!("CARGO_BIN_EXE_bootstrap"))).expect("an ELF binary");
    let newest = versions
        .last()
        .copied()
        .expect("a dynamically linked binary names the glibc versions it needs");
    assert!(newest >= (2, 2, 0), "implausible version list {versions:?}");
    assert!(
        newest <= AL2023_GLIBC,
        "bootstrap needs GLIBC_{}.{}.{}, newer than Amazon Linux 2023's 2.34: {versions:?}",
        newest.0,
        newest.1,
        newest.2
    );
}

#[test]
fn glibc_reader_refuses_what_is_not_elf() {
    let scratch = std::env::temp_dir().join(format!("portcullis-not-elf-{}", std::process::id()));
    std::fs::write(&scratch, b"#!/bin/sh\necho not a binary\n").expect("write");
    let error = required_glibc(&scratch).expect_err("a script is not ELF");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    let _ = std::fs::remove_file(&scratch);
}
