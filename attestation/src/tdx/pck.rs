//! The PCK certificate's SGX extension (OID 1.2.840.113741.1.13.1): what Intel certifies about the
//! platform the PCK key belongs to — its FMSPC (family, model, stepping, platform type), PCE id, and the
//! TCB the key was issued for (16 CPUSVN components and PCESVN).
//!
//! Trusts: nothing by itself; the values mean something only once the PCK chain validated to Intel's
//! root. Strict: each value has its fixed length, entries appear once, and every loop is bounded.

use thiserror::Error;
use x509_parser::certificate::X509Certificate;

use crate::der::{DerError, DerReader, tag};

/// 1.2.840.113741.1.13.1 (SGX extensions).
const SGX_EXTENSIONS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];
/// Entries read from any one SEQUENCE (Intel's has ≤ 8 at the top and 18 in the TCB).
const MAX_ENTRIES: usize = 32;

/// Why the SGX extension is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PckExtensionError {
    /// The certificate has no SGX extension.
    #[error("the PCK certificate has no SGX extension (1.2.840.113741.1.13.1)")]
    Missing,
    /// Bad DER.
    #[error("the PCK certificate's SGX extension: {0}")]
    Der(#[from] DerError),
    /// A value of the wrong shape or a missing or repeated entry.
    #[error("the PCK certificate's SGX extension: {0}")]
    Field(String),
}

/// What the PCK certificate certifies about its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PckExtension {
    /// FMSPC (6 bytes).
    pub fmspc: [u8; 6],
    /// PCE id (2 bytes).
    pub pce_id: [u8; 2],
    /// The 16 CPUSVN components (`sgxTcbCompNNSvn`).
    pub cpu_svn_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// PPID (16 bytes).
    pub ppid: Vec<u8>,
}

impl PckExtension {
    /// Reads the SGX extension of `cert`.
    pub fn read(cert: &X509Certificate<'_>) -> Result<Self, PckExtensionError> {
        let ext =
            cert.extensions().iter().find(|e| e.oid.as_bytes() == SGX_EXTENSIONS).ok_or(PckExtensionError::Missing)?;
        Self::parse(ext.value)
    }

    /// Parses the extension's value (a SEQUENCE of SEQUENCE { OID, value }).
    pub fn parse(value: &[u8]) -> Result<Self, PckExtensionError> {
        let mut outer = DerReader::new(value);
        let seq = outer.expect(tag::SEQUENCE)?;
        outer.finish()?;
        let (mut fmspc, mut pce_id, mut tcb, mut ppid) = (None, None, None, None);
        for (arc, v) in entries(seq.value)? {
            match arc {
                1 => set(&mut ppid, octets(v, "PPID", 16)?, "PPID")?,
                2 => set(&mut tcb, parse_tcb(v)?, "TCB")?,
                3 => set(&mut pce_id, fixed::<2>(octets(v, "PCE-ID", 2)?), "PCE-ID")?,
                4 => set(&mut fmspc, fixed::<6>(octets(v, "FMSPC", 6)?), "FMSPC")?,
                _ => {} // SGX type, platform instance, configuration: not used for TDX.
            }
        }
        let (cpu_svn_components, pce_svn) = tcb.ok_or_else(|| missing("TCB"))?;
        Ok(Self {
            fmspc: fmspc.ok_or_else(|| missing("FMSPC"))?,
            pce_id: pce_id.ok_or_else(|| missing("PCE-ID"))?,
            cpu_svn_components,
            pce_svn,
            ppid: ppid.ok_or_else(|| missing("PPID"))?.to_vec(),
        })
    }
}

/// The entries of a SEQUENCE OF SEQUENCE { OID (under the SGX arc), value }: (last arc, value TLV bytes).
fn entries(seq: &[u8]) -> Result<Vec<(u32, crate::der::Tlv<'_>)>, PckExtensionError> {
    let mut r = DerReader::new(seq);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() == MAX_ENTRIES {
            return Err(PckExtensionError::Field(format!("more than {MAX_ENTRIES} entries")));
        }
        let item = r.expect(tag::SEQUENCE)?;
        let mut ir = DerReader::new(item.value);
        let oid = ir.expect(tag::OID)?.value;
        let value = ir.read()?;
        ir.finish()?;
        let arc = last_arc(oid)?;
        out.push((arc, value));
    }
    Ok(out)
}

/// The last arc of an OID under the SGX extension arc (one or two levels below it).
fn last_arc(oid: &[u8]) -> Result<u32, PckExtensionError> {
    if !oid.starts_with(SGX_EXTENSIONS) || oid.len() == SGX_EXTENSIONS.len() {
        return Err(PckExtensionError::Field(format!("an entry with OID {} outside the SGX arc", hex::encode(oid))));
    }
    let last = oid[oid.len() - 1];
    if last & 0x80 != 0 || oid[SGX_EXTENSIONS.len()..].len() > 2 {
        return Err(PckExtensionError::Field(format!("an entry with unexpected OID {}", hex::encode(oid))));
    }
    Ok(u32::from(last))
}

fn parse_tcb(v: crate::der::Tlv<'_>) -> Result<([u8; 16], u16), PckExtensionError> {
    if v.tag != tag::SEQUENCE {
        return Err(PckExtensionError::Field("TCB is not a SEQUENCE".into()));
    }
    let mut comps: [Option<u8>; 16] = [None; 16];
    let mut pce_svn = None;
    let mut cpu_svn: Option<[u8; 16]> = None;
    for (arc, item) in entries(v.value)? {
        match arc {
            1..=16 => {
                let n = small_int(item, "sgxTcbCompSvn", 255)?;
                set(&mut comps[usize::try_from(arc - 1).unwrap_or(0)], u8::try_from(n).unwrap_or(0), "sgxTcbCompSvn")?;
            }
            17 => set(&mut pce_svn, u16::try_from(small_int(item, "PCESVN", 65535)?).unwrap_or(0), "PCESVN")?,
            18 => set(&mut cpu_svn, fixed::<16>(octets(item, "CPUSVN", 16)?), "CPUSVN")?,
            other => return Err(PckExtensionError::Field(format!("unknown TCB entry {other}"))),
        }
    }
    let mut out = [0u8; 16];
    for (i, c) in comps.iter().enumerate() {
        out[i] = c.ok_or_else(|| missing("sgxTcbCompSvn"))?;
    }
    if let Some(cpu) = cpu_svn
        && cpu != out
    {
        return Err(PckExtensionError::Field(format!(
            "CPUSVN {} differs from its components {}",
            hex::encode(cpu),
            hex::encode(out)
        )));
    }
    Ok((out, pce_svn.ok_or_else(|| missing("PCESVN"))?))
}

fn octets<'a>(v: crate::der::Tlv<'a>, what: &str, len: usize) -> Result<&'a [u8], PckExtensionError> {
    if v.tag != tag::OCTET_STRING || v.value.len() != len {
        return Err(PckExtensionError::Field(format!("{what} is not a {len}-byte OCTET STRING")));
    }
    Ok(v.value)
}

fn small_int(v: crate::der::Tlv<'_>, what: &str, max: u32) -> Result<u32, PckExtensionError> {
    let bad = || PckExtensionError::Field(format!("{what} is not an INTEGER in 0..={max}"));
    if v.tag != tag::INTEGER || v.value.is_empty() || v.value.len() > 3 || v.value[0] & 0x80 != 0 {
        return Err(bad());
    }
    if v.value.len() > 1 && v.value[0] == 0 && v.value[1] & 0x80 == 0 {
        return Err(bad()); // not minimal
    }
    let n = v.value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    if n > max { Err(bad()) } else { Ok(n) }
}

fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(b);
    out
}

fn set<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), PckExtensionError> {
    if slot.is_some() {
        return Err(PckExtensionError::Field(format!("{what} appears twice")));
    }
    *slot = Some(value);
    Ok(())
}

fn missing(what: &str) -> PckExtensionError {
    PckExtensionError::Field(format!("{what} is missing"))
}
