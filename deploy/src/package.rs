//! The Lambda deployment package, checked once on the build path: the glibc versions a `bootstrap`
//! needs (its ELF `.gnu.version_r` section, so a binary that would not load on Amazon Linux 2023 is
//! refused before upload), its architecture, the zip `deploy` uploads, and the zip `build` writes
//! (byte-identical for identical input).

use std::io::{self, Read, Write};
use std::path::Path;

use crate::Arch;

/// glibc of Amazon Linux 2023, the `provided.al2023` runtime: no symbol may need a newer version.
pub const AL2023_GLIBC: (u32, u32, u32) = (2, 34, u32::MAX);
/// Lambda quotas: a deployment package unzipped is at most 250 MB.
pub const LAMBDA_UNZIPPED_LIMIT: usize = 250 * 1024 * 1024;
/// Lambda quotas: a zip uploaded directly (not through S3) is at most 50 MB.
pub const LAMBDA_DIRECT_UPLOAD_LIMIT: usize = 50 * 1024 * 1024;

/// Why a package cannot be deployed; each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file cannot be read.
    #[error("{path}: cannot open it ({source})")]
    Unreadable {
        /// The package.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Over Lambda's direct-upload limit.
    #[error(
        "{path}: {size} bytes, over Lambda's 50 MB direct-upload limit: build it with --release"
    )]
    TooLarge {
        /// The package.
        path: String,
        size: u64,
    },
    #[error("{path}: not a zip file ({reason})")]
    NotZip {
        /// The package.
        path: String,
        /// What the zip reader said.
        reason: String,
    },
    /// No `bootstrap` at the top of the zip.
    #[error(
        "{path}: no `bootstrap` entry at the top of the zip (build one with `portcullis build --runtime lambda`)"
    )]
    NoBootstrap {
        /// The package.
        path: String,
    },
    /// `bootstrap` lacks execute permission.
    #[error("{path}: `bootstrap` is not executable")]
    NotExecutable {
        /// The package.
        path: String,
    },
    /// `bootstrap` is not an ELF file.
    #[error("{path}: `bootstrap` is not an ELF executable")]
    NotElf {
        /// The package.
        path: String,
    },
    /// Built for another architecture than the function's.
    #[error("{path}: `bootstrap` is built for {found}, but the function is {expected} (--arch)")]
    WrongArch {
        /// The package.
        path: String,
        /// What the ELF header says.
        found: &'static str,
        /// The function's architecture.
        expected: &'static str,
    },
}

/// The architecture an ELF header names (`e_machine`), if it is one Lambda runs.
pub fn elf_arch(header: &[u8]) -> Option<Arch> {
    if header.get(..4) != Some(b"\x7fELF") {
        return None;
    }
    match header.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]])) {
        Some(0x3e) => Some(Arch::X86_64),
        Some(0xb7) => Some(Arch::Arm64),
        _ => None,
    }
}

/// A deployable package: a zip of at most 50 MB whose top-level `bootstrap` is an executable ELF
/// for `arch`.
pub fn check_package(path: &Path, arch: Arch) -> Result<(), PackageError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| PackageError::Unreadable {
        path: name.clone(),
        source,
    })?;
    let size = file
        .metadata()
        .map_err(|source| PackageError::Unreadable {
            path: name.clone(),
            source,
        })?
        .len();
    if size > LAMBDA_DIRECT_UPLOAD_LIMIT as u64 {
        return Err(PackageError::TooLarge { path: name, size });
    }
    let mut archive = zip::ZipArchive::new(file).map_err(|e| PackageError::NotZip {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| PackageError::NoBootstrap { path: name.clone() })?;
    if entry.unix_mode().is_some_and(|mode| mode & 0o111 == 0) {
        return Err(PackageError::NotExecutable { path: name });
    }
    let mut header = [0u8; 20];
    entry
        .read_exact(&mut header)
        .map_err(|_| PackageError::NotElf { path: name.clone() })?;
    if header[..4] != *b"\x7fELF" {
        return Err(PackageError::NotElf { path: name });
    }
    match elf_arch(&header) {
        Some(found) if found == arch => Ok(()),
        found => Err(PackageError::WrongArch {
            path: name,
            found: found.map_or("another architecture", Arch::lambda_name),
            expected: arch.lambda_name(),
        }),
    }
}

/// A zip of `(name, bytes, mode)` entries in the order given, byte-identical for identical input:
/// DOS-epoch timestamps, deflate, no extra fields.
pub fn reproducible_zip(entries: &[(&str, &[u8], u32)]) -> io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    for (name, bytes, mode) in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(*mode);
        writer
            .start_file(*name, options)
            .map_err(io::Error::other)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish().map_err(io::Error::other)?.into_inner())
}

const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a readable 64-bit little-endian ELF: {what}"),
    )
}

fn u16_at(b: &[u8], at: usize) -> io::Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("truncated"))
}
fn u32_at(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| bad("truncated"))
}
fn u64_at(b: &[u8], at: usize) -> io::Result<u64> {
    let s = b.get(at..at + 8).ok_or_else(|| bad("truncated"))?;
    Ok(u64::from_le_bytes([
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
    ]))
}
fn c_str(b: &[u8], at: usize) -> io::Result<&str> {
    let rest = b.get(at..).ok_or_else(|| bad("string offset"))?;
    let end = rest
        .iter()
        .position(|c| *c == 0)
        .ok_or_else(|| bad("unterminated string"))?;
    std::str::from_utf8(&rest[..end]).map_err(|_| bad("string encoding"))
}

/// Every `GLIBC_x.y[.z]` version the binary at `path` requires, as `(major, minor, patch)`, sorted.
pub fn required_glibc(path: &Path) -> io::Result<Vec<(u32, u32, u32)>> {
    let b = std::fs::read(path)?;
    if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err(bad("header"));
    }
    let shoff = u64_at(&b, 0x28)? as usize;
    let shentsize = u16_at(&b, 0x3a)? as usize;
    let shnum = u16_at(&b, 0x3c)? as usize;
    let section = |i: usize| -> io::Result<(u32, usize, usize, u32)> {
        let at = shoff + i * shentsize;
        Ok((
            u32_at(&b, at + 4)?,
            u64_at(&b, at + 0x18)? as usize,
            u64_at(&b, at + 0x20)? as usize,
            u32_at(&b, at + 0x28)?,
        ))
    };
    let mut versions = Vec::new();
    for i in 0..shnum {
        let (kind, offset, _size, link) = section(i)?;
        if kind != SHT_GNU_VERNEED {
            continue;
        }
        let (_, strings, _, _) = section(link as usize)?;
        let mut need = offset;
        loop {
            let count = u16_at(&b, need + 2)? as usize;
            let mut aux = need + u32_at(&b, need + 8)? as usize;
            for _ in 0..count {
                let name = c_str(&b, strings + u32_at(&b, aux + 8)? as usize)?;
                if let Some(version) = name.strip_prefix("GLIBC_") {
                    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                    versions.push((
                        parts.next().unwrap_or(0),
                        parts.next().unwrap_or(0),
                        parts.next().unwrap_or(0),
                    ));
                }
                aux += u32_at(&b, aux + 12)? as usize;
            }
            let next = u32_at(&b, need + 12)? as usize;
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    versions.sort_unstable();
    versions.dedup();
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_elf_header_names_the_architecture() {
        let header = |machine: u16| {
            let mut h = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\0\0".to_vec();
            h[18..20].copy_from_slice(&machine.to_le_bytes());
            h
        };
        assert_eq!(elf_arch(&header(0x3e)), Some(Arch::X86_64));
        assert_eq!(elf_arch(&header(0xb7)), Some(Arch::Arm64));
        assert_eq!(
            elf_arch(&header(0x28)),
            None,
            "32-bit ARM is no Lambda architecture"
        );
        assert_eq!(elf_arch(b"MZ\x90\0"), None);
        assert_eq!(elf_arch(b"\x7fELF"), None, "truncated");
    }

    #[test]
    fn packages_are_byte_identical_and_executable() {
        let entries: [(&str, &[u8], u32); 2] = [
            ("bootstrap", b"\x7fELF pretend binary", 0o755),
            ("jwks.json", b"{}", 0o644),
        ];
        let first = reproducible_zip(&entries).unwrap();
        let second = reproducible_zip(&entries).unwrap();
        assert_eq!(first, second, "a rebuilt package must not differ");
        // Two builds seconds apart differ only if a clock reaches the bytes, and zip's times have
        // a 2 s resolution: instead of sleeping, read what each entry records. Every entry is
        // stamped with the DOS epoch (a zip built with its `time` feature stamps the build time
        // by default) and carries no extra field (where extended timestamps and owners would go).
        let epoch = zip::DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first.clone())).unwrap();
        for (i, (name, bytes, mode)) in entries.iter().enumerate() {
            let mut entry = archive.by_index(i).unwrap();
            assert_eq!(entry.name().unwrap(), *name, "entries in the order given");
            assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(*mode), "{name}");
            assert_eq!(entry.last_modified(), Some(epoch), "{name}");
            assert_eq!(entry.extra_data().map_or(0, |d| d.len()), 0, "{name}");
            assert_eq!(
                entry.compression(),
                zip::CompressionMethod::Deflated,
                "{name}"
            );
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut read).unwrap();
            assert_eq!(read, *bytes, "{name}");
        }
        // The same fields in the raw local header of the first entry: time 0, date 1980-01-01
        // (year 0 << 9 | month 1 << 5 | day 1), extra field length 0.
        assert_eq!(&first[..4], b"PK\x03\x04");
        assert_eq!(u16::from_le_bytes([first[10], first[11]]), 0, "DOS time");
        assert_eq!(
            u16::from_le_bytes([first[12], first[13]]),
            0x0021,
            "DOS date"
        );
        assert_eq!(
            u16::from_le_bytes([first[28], first[29]]),
            0,
            "extra field length"
        );
    }
}
