//! Profiles read from the file, remembered while the file is unchanged.
//!
//! A read of the file costs a read transaction: SQLite locks a slot of the WAL index (a mutex every
//! connection of the process shares, and often an `fcntl`), reads, and unlocks. Under load that
//! was a fifth of the server's CPU on a repeated `GET /user/profile`, most of it the two workers
//! waiting on each other's lock. A profile read once need not be read again while nothing was
//! committed since, by any connection of any process.
//!
//! Whether anything was committed is the WAL index's header, which SQLite keeps in the `-shm` file
//! beside the database and rewrites at every commit (its format is SQLite's documented file format,
//! <https://www.sqlite.org/walformat.html> §2.2.1, stable because processes of different SQLite
//! versions share it). The header is read with `pread` (the file's pages are the ones SQLite maps,
//! so the read sees every process's commit) and taken only as SQLite's own readers take it: both
//! copies equal, initialised, of the version this format describes, and its checksum right. Any
//! other header (a torn read beside a writer, a recovery under way, a missing `-shm`) is no mark,
//! and the read goes to the file. A commit changes the header (its change counter, frame count and
//! checksum), so a remembered read is served only under the very header it was read under. SQLite's
//! own page cache trusts the same test to keep its pages across transactions (the one repeat it
//! admits, an empty WAL's header after two crash recoveries in a row, fools both alike).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::store::{ProfileKey, StoredProfile};

/// One copy of the WAL-index header: 48 bytes.
const HEADER: usize = 48;
/// `iVersion` of the WAL-index format (SQLite 3.7.0 and every release since).
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// Reads remembered at most; the next one past it starts the memory again.
pub const CACHED_READS: usize = 1024;
/// Bytes of stored profile text remembered at most (a profile larger than this is never kept; the
/// parsed profiles take a few times their text).
pub const CACHED_BYTES: usize = 4 * 1024 * 1024;

/// The WAL index's header as SQLite's readers accept it: the state of the database file. Two
/// equal marks, the same committed data.
pub(crate) type Mark = [u8; HEADER];

/// The header of a WAL index's first 96 bytes (its two copies), if SQLite's own checks pass.
pub(crate) fn mark_of(index: &[u8; 2 * HEADER]) -> Option<Mark> {
    let (first, second) = index.split_at(HEADER);
    if first != second {
        return None;
    }
    let is_init = first[12] == 1;
    if word(first, 0) != WAL_INDEX_VERSION || !is_init {
        return None;
    }
    if checksum(first) != (word(first, 40), word(first, 44)) {
        return None;
    }
    first.try_into().ok()
}

/// The native-order 32-bit word at `at`.
fn word(header: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
}

/// SQLite's checksum of a header's first 40 bytes, in native byte order (`walChecksumBytes`).
fn checksum(header: &[u8]) -> (u32, u32) {
    let (mut s1, mut s2) = (0u32, 0u32);
    for pair in (0..40).step_by(8) {
        s1 = s1.wrapping_add(word(header, pair)).wrapping_add(s2);
        s2 = s2.wrapping_add(word(header, pair + 4)).wrapping_add(s1);
    }
    (s1, s2)
}

/// Reads remembered under the mark they were read under.
#[derive(Debug)]
pub(crate) struct ReadCache {
    /// The database's `-shm` file, read only; `None` when it could not be opened (no cache).
    index: Option<File>,
    remembered: Mutex<Remembered>,
    /// Reads that went to the file (for tests).
    file_reads: AtomicU64,
}

#[derive(Debug, Default)]
struct Remembered {
    mark: Option<Mark>,
    /// Shared, so that a hit holds the lock only to count a reference; the copy the caller gets is
    /// made after it.
    reads: HashMap<ProfileKey, Option<Arc<StoredProfile>>>,
    /// The stored text's bytes of the reads remembered.
    bytes: usize,
}

impl ReadCache {
    /// The cache of the database at `database`, over its `-shm` file (present once the file is in
    /// WAL mode and open). `database` is the path SQLite resolved (symbolic links followed), as it
    /// names the `-shm` file from it.
    pub(crate) fn new(database: &Path) -> ReadCache {
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        let index = match File::open(&shm) {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(
                    path = %Path::new(&shm).display(),
                    %error,
                    "the WAL index cannot be read: every profile read goes to the database file"
                );
                None
            }
        };
        ReadCache {
            index,
            remembered: Mutex::default(),
            file_reads: AtomicU64::new(0),
        }
    }

    /// The database file's state now, if the WAL index says it plainly.
    pub(crate) fn mark(&self) -> Option<Mark> {
        let mut index = [0u8; 2 * HEADER];
        self.index.as_ref()?.read_exact_at(&mut index, 0).ok()?;
        mark_of(&index)
    }

    /// What a read of `key` found under `mark`, if one was remembered.
    pub(crate) fn get(&self, mark: &Mark, key: &ProfileKey) -> Option<Option<StoredProfile>> {
        let found = {
            let remembered = super::lock(&self.remembered);
            if remembered.mark.as_ref() != Some(mark) {
                return None;
            }
            remembered.reads.get(key).cloned()?
        };
        Some(found.map(|profile| StoredProfile::clone(&profile)))
    }

    /// Counts a read of the file.
    pub(crate) fn read_the_file(&self) {
        self.file_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers what a read of `key` found (`bytes` of stored text) under `mark`, the header read
    /// both before and after that read (so the read saw exactly `mark`'s data). It is served only
    /// while the header still reads `mark`.
    pub(crate) fn remember(
        &self,
        mark: Mark,
        key: ProfileKey,
        found: Option<StoredProfile>,
        bytes: usize,
    ) {
        let bytes = bytes + key.issuer.len() + key.subject.len();
        if bytes > CACHED_BYTES {
            return;
        }
        let mut remembered = super::lock(&self.remembered);
        if remembered.mark != Some(mark)
            || remembered.reads.len() >= CACHED_READS
            || remembered.bytes + bytes > CACHED_BYTES
        {
            remembered.reads.clear();
            remembered.bytes = 0;
            remembered.mark = Some(mark);
        }
        // Two reads of one key under one mark found the same text: counted once.
        if remembered.reads.insert(key, found.map(Arc::new)).is_none() {
            remembered.bytes += bytes;
        }
    }

    pub(crate) fn file_reads(&self) -> u64 {
        self.file_reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as SQLite writes it: version, change counter, initialised, page size, frames,
    /// pages, salts, and the checksum over the first 40 bytes; both copies.
    fn index(change: u32, frames: u32) -> [u8; 2 * HEADER] {
        let mut words = [0u32; 12];
        words[0] = WAL_INDEX_VERSION;
        words[2] = change;
        words[4] = frames;
        words[5] = 3;
        words[8] = 0x1234_5678;
        words[9] = 0x9abc_def0;
        let mut header = [0u8; HEADER];
        for (at, word) in words.iter().enumerate() {
            header[at * 4..at * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        header[12] = 1; // isInit
        header[14..16].copy_from_slice(&4096u16.to_ne_bytes());
        let (s1, s2) = checksum(&header);
        header[40..44].copy_from_slice(&s1.to_ne_bytes());
        header[44..48].copy_from_slice(&s2.to_ne_bytes());
        let mut both = [0u8; 2 * HEADER];
        both[..HEADER].copy_from_slice(&header);
        both[HEADER..].copy_from_slice(&header);
        both
    }

    #[test]
    fn a_header_as_sqlite_writes_it_is_a_mark_and_a_commit_is_another() {
        let before = mark_of(&index(7, 10)).expect("a mark");
        let after = mark_of(&index(8, 12)).expect("a mark");
        assert_ne!(before, after);
    }

    #[test]
    fn a_header_sqlite_would_not_trust_is_no_mark() {
        let good = index(7, 10);
        let mut torn = good;
        torn[HEADER + 8] ^= 1; // the second copy's change counter, mid-write
        let mut uninitialised = good;
        uninitialised[12] = 0;
        uninitialised[HEADER + 12] = 0;
        let mut other_version = good;
        other_version[0] ^= 1;
        other_version[HEADER] ^= 1;
        let mut bad_checksum = good;
        bad_checksum[40] ^= 1;
        bad_checksum[HEADER + 40] ^= 1;
        let mut changed_not_summed = good;
        changed_not_summed[16] ^= 1;
        changed_not_summed[HEADER + 16] ^= 1;
        for (what, index) in [
            ("torn", torn),
            ("uninitialised", uninitialised),
            ("another version", other_version),
            ("a wrong checksum", bad_checksum),
            ("a frame count not summed", changed_not_summed),
            ("zeroes", [0u8; 2 * HEADER]),
        ] {
            assert_eq!(mark_of(&index), None, "{what}");
        }
    }

    #[test]
    fn a_read_is_served_only_under_its_own_mark() {
        let cache = ReadCache {
            index: None,
            remembered: Mutex::default(),
            file_reads: AtomicU64::new(0),
        };
        let (one, two) = (
            mark_of(&index(1, 1)).expect("mark"),
            mark_of(&index(2, 2)).expect("mark"),
        );
        let key = ProfileKey::new("https://issuer", "alice");
        assert_eq!(cache.get(&one, &key), None, "nothing remembered yet");
        cache.remember(one, key.clone(), None, 0);
        assert_eq!(cache.get(&one, &key), Some(None), "no profile, remembered");
        assert_eq!(cache.get(&two, &key), None, "not under another mark");
        let profile = StoredProfile {
            body: serde_json::Map::new(),
            version: 3,
        };
        cache.remember(two, key.clone(), Some(profile.clone()), 2);
        assert_eq!(cache.get(&two, &key), Some(Some(profile)));
        assert_eq!(
            cache.get(&one, &key),
            None,
            "the older mark's reads are gone"
        );
        for n in 0..CACHED_READS {
            cache.remember(
                two,
                ProfileKey::new("https://issuer", n.to_string()),
                None,
                0,
            );
        }
        assert!(super::super::lock(&cache.remembered).reads.len() <= CACHED_READS);
        let big = ProfileKey::new("https://issuer", "big");
        cache.remember(two, big.clone(), None, CACHED_BYTES);
        assert_eq!(
            cache.get(&two, &big),
            None,
            "larger than the byte budget: not kept"
        );
        for n in 0..4 {
            cache.remember(
                two,
                ProfileKey::new("i", n.to_string()),
                None,
                CACHED_BYTES / 3,
            );
            let bytes = super::super::lock(&cache.remembered).bytes;
            assert!(bytes <= CACHED_BYTES, "{bytes} bytes after {n}");
        }
        assert_eq!(cache.mark(), None, "no -shm, no mark");
    }
}
