//! The SEV-SNP certificate table (GHCB `SNP_GET_EXT_REPORT` format, also configfs TSM's `auxblob`):
//! 24-byte entries of GUID, offset and length (little-endian `u32`s, offsets from the table's start),
//! ended by an all-zero GUID, then the certificates.
//!
//! Trusts nothing: the table is written by the host (the hypervisor fills the guest's certificate
//! buffer). This is the agent's only parser of it — the `sev` crate's parser reads the table through raw
//! pointers, trusting every offset, length and the terminator, and is never given these bytes. Every
//! entry is bounds-checked; data that runs past the table, overlaps the entry headers or another
//! entry, a missing terminator, too many entries, an empty certificate and a repeated certificate type
//! are refused with the entry's index. Unknown GUIDs are skipped (after their bounds are checked).

use ::sev::firmware::host::{CertTableEntry, CertType};

use super::TeeError;

/// Entries read from a certificate table (AMD defines four; hosts add a few).
pub const MAX_CERT_ENTRIES: usize = 64;
/// One entry header: GUID (16), offset (4), length (4).
const ENTRY: usize = 24;

fn kind_of(guid: &[u8]) -> Option<CertType> {
    match hex::encode(guid).as_str() {
        "63da758de6644564adc5f4b93be8accd" => Some(CertType::VCEK),
        "a8074bc2a25a483eaae639c045a0b8a1" => Some(CertType::VLEK),
        "4ab7b379bbac4fe4a02f05aef327c782" => Some(CertType::ASK),
        "c0b406a4a803495297433fb6014cd0ae" => Some(CertType::ARK),
        _ => None,
    }
}

fn le32(b: &[u8]) -> usize {
    usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(usize::MAX)
}

/// The known entries of the certificate table `table`, read from `origin` (named in errors).
pub fn parse_cert_table(origin: &str, table: &[u8]) -> Result<Vec<CertTableEntry>, TeeError> {
    let bad = |entry: usize, why: String| TeeError::CertTable { origin: origin.to_string(), entry, why };
    // The headers up to the terminator.
    let mut headers = Vec::new();
    let count = loop {
        let i = headers.len();
        let h = table.get(i * ENTRY..(i + 1) * ENTRY).ok_or_else(|| {
            bad(i, format!("cut off at byte {} of {} (no all-zero terminator)", i * ENTRY, table.len()))
        })?;
        let (guid, rest) = h.split_at(16);
        if guid.iter().all(|b| *b == 0) {
            break i;
        }
        if i == MAX_CERT_ENTRIES {
            return Err(bad(i, format!("more than {MAX_CERT_ENTRIES} entries")));
        }
        headers.push((guid, le32(&rest[..4]), le32(&rest[4..])));
    };
    let headers_end = (count + 1) * ENTRY;
    let mut ranges: Vec<(usize, usize, usize)> = Vec::with_capacity(count);
    let mut out = Vec::new();
    for (i, (guid, offset, len)) in headers.into_iter().enumerate() {
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= table.len())
            .ok_or_else(|| bad(i, format!("data {offset}+{len} runs past the table's {} bytes", table.len())))?;
        if len == 0 {
            return Err(bad(i, "empty certificate".into()));
        }
        if offset < headers_end {
            return Err(bad(i, format!("data at {offset} overlaps the entry headers (which end at {headers_end})")));
        }
        if let Some((j, o, e)) = ranges.iter().find(|(_, o, e)| offset < *e && *o < end) {
            return Err(bad(i, format!("data {offset}..{end} overlaps entry {j}'s {o}..{e}")));
        }
        ranges.push((i, offset, end));
        let Some(kind) = kind_of(guid) else { continue };
        if out.iter().any(|e: &CertTableEntry| e.cert_type == kind) {
            return Err(bad(i, format!("a second {kind:?} certificate")));
        }
        out.push(CertTableEntry::new(kind, table[offset..end].to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VCEK: &str = "63da758de6644564adc5f4b93be8accd";
    const ARK: &str = "c0b406a4a803495297433fb6014cd0ae";

    fn header(guid: &str, offset: u32, len: u32) -> Vec<u8> {
        let mut h = hex::decode(guid).expect("guid");
        h.extend_from_slice(&offset.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        h
    }

    fn table(entries: &[(&str, u32, u32)], data: &[u8]) -> Vec<u8> {
        let mut t: Vec<u8> = entries.iter().flat_map(|(g, o, l)| header(g, *o, *l)).collect();
        t.extend_from_slice(&[0; 24]);
        t.extend_from_slice(data);
        t
    }

    fn err(t: &[u8]) -> (usize, String) {
        match parse_cert_table("test", t) {
            Err(TeeError::CertTable { entry, why, .. }) => (entry, why),
            other => panic!("expected a certificate-table error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_table_gives_the_same_entries_as_the_sev_crates_writer() {
        let entries =
            [CertTableEntry::new(CertType::VCEK, vec![0x30, 1, 2]), CertTableEntry::new(CertType::ARK, vec![7; 9])];
        let bytes = CertTableEntry::cert_table_to_vec_bytes(&entries).expect("table");
        assert_eq!(parse_cert_table("test", &bytes).expect("parsed"), entries);
        // Trailing zeros (the kernel's page-sized buffer) change nothing.
        let mut padded = bytes.clone();
        padded.resize(16384, 0);
        assert_eq!(parse_cert_table("test", &padded).expect("parsed"), entries);
        assert!(parse_cert_table("test", &[0; 24]).expect("empty").is_empty());
    }

    #[test]
    fn malicious_tables_are_refused_naming_the_entry() {
        // Past the end (the previous helper's 5-byte table crashed the sev crate).
        assert_eq!(err(&[1, 2, 3, 4, 5]).0, 0);
        let (i, why) = err(&table(&[(ARK, 72, 4), (VCEK, 76, 1000)], &[9; 8]));
        assert_eq!(i, 1);
        assert!(why.contains("runs past"), "{why}");
        let (i, why) = err(&table(&[(VCEK, u32::MAX, u32::MAX)], &[]));
        assert_eq!(i, 0);
        assert!(why.contains("runs past"), "{why}");
        // Overlapping another entry, or the headers.
        let (i, why) = err(&table(&[(VCEK, 72, 8), (ARK, 76, 8)], &[1; 16]));
        assert_eq!(i, 1);
        assert!(why.contains("overlaps entry 0"), "{why}");
        let (i, why) = err(&table(&[(VCEK, 0, 24)], &[]));
        assert_eq!(i, 0);
        assert!(why.contains("headers"), "{why}");
        // No terminator.
        let (i, why) = err(&header(VCEK, 0, 1));
        assert_eq!(i, 1);
        assert!(why.contains("terminator"), "{why}");
        // Huge counts: many non-zero headers.
        let many: Vec<u8> = (0..100).flat_map(|_| header(ARK, 0, 1)).collect();
        let (i, why) = err(&many);
        assert_eq!(i, MAX_CERT_ENTRIES);
        assert!(why.contains("more than"), "{why}");
        // Empty data, and two VCEKs.
        assert!(err(&table(&[(VCEK, 48, 0)], &[1])).1.contains("empty"));
        let (i, why) = err(&table(&[(VCEK, 72, 2), (VCEK, 74, 2)], &[1; 4]));
        assert_eq!(i, 1);
        assert!(why.contains("second"), "{why}");
        let e = parse_cert_table("/dev/sev-guest", &[0; 5]).expect_err("cut");
        assert!(e.to_string().contains("/dev/sev-guest") && e.to_string().contains("entry 0"), "{e}");
    }
}
