//! The GLIBC symbol versions an ELF binary needs (its `.gnu.version_r` section), so a test and the
//! build can refuse a Lambda `bootstrap` that would not load on Amazon Linux 2023 (glibc 2.34).

use std::io;
use std::path::Path;

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
