//! Where `verify gpu` gets its RIMs: files named on the command line, a directory of RIMs named by id,
//! or NVIDIA's RIM service (or a mirror) through an on-disk cache. This is the edge: whatever it finds is
//! appraised like a local file, so the source decides only *which* bytes are judged, never the verdict.
//!
//! A RIM that cannot be found is not an error here: it is a failed check (`*-rim-present`) of the
//! appraisal, which still runs every device check. Only a file named on the command line that cannot be
//! read is unusable input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ccgpu_attestation::{AttestationReport, CertChain, implied_rim_ids, rim_file_candidates};
use ccgpu_fetch::{RimCache, RimOrigin, RimService};

use crate::input;

/// The `--rims` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RimSource {
    /// NVIDIA's RIM service or the `--rim-service` mirror.
    Online,
    /// A directory of RIMs named by id.
    Dir(PathBuf),
}

impl FromStr for RimSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(Self::Online),
            "" => Err("expected online or a directory".into()),
            dir => Ok(Self::Dir(PathBuf::from(dir))),
        }
    }
}

/// Settings of the online source.
#[derive(Debug, Clone)]
pub struct Online {
    /// Base URL the id is appended to.
    pub service: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Cache directory; `None` for no cache.
    pub cache: Option<PathBuf>,
}

/// One RIM as located: its bytes (when found) and where they came from, or why there are none.
#[derive(Debug)]
pub struct LocatedRim {
    /// The document, when found.
    pub document: Option<Vec<u8>>,
    /// Where it came from, or `none: <why>`, for the text output.
    pub label: String,
}

impl LocatedRim {
    fn missing(why: impl fmt::Display) -> Self {
        Self { document: None, label: format!("none: {why}") }
    }
}

/// The driver and VBIOS RIMs for this report: from `files` when given, else from `source`.
pub fn locate(
    files: Option<(&Path, &Path)>,
    source: &RimSource,
    online: &Online,
    report: &AttestationReport,
    chain: &CertChain,
) -> anyhow::Result<(LocatedRim, LocatedRim)> {
    if let Some((driver, vbios)) = files {
        let read = |what: &'static str, path: &Path| -> anyhow::Result<LocatedRim> {
            Ok(LocatedRim { document: Some(input::read_file(what, path)?), label: path.display().to_string() })
        };
        return Ok((read("driver RIM", driver)?, read("VBIOS RIM", vbios)?));
    }
    let Some(ids) = implied_rim_ids(report, chain) else {
        let why = "cannot derive RIM ids: the chain names no known GPU chip, or the report lacks its driver/VBIOS \
                   fields; pass --driver-rim and --vbios-rim instead";
        return Ok((LocatedRim::missing(why), LocatedRim::missing(why)));
    };
    let service = match source {
        RimSource::Online => {
            Some(RimService::new(&online.service, online.timeout, online.cache.clone().map(RimCache::new)))
        }
        RimSource::Dir(_) => None,
    };
    let find = |kind: &str, id: Option<&String>| -> LocatedRim {
        let Some(id) = id else {
            return LocatedRim::missing(format!("the report does not carry what the {kind} RIM id needs"));
        };
        match (source, &service) {
            (RimSource::Dir(dir), _) => in_dir(kind, dir, id),
            (RimSource::Online, Some(service)) => match service.fetch(id) {
                Ok(f) => LocatedRim {
                    document: Some(f.document),
                    label: match f.origin {
                        RimOrigin::Cache => format!("{id} (RIM service, cached)"),
                        RimOrigin::Service(url) => format!("{id} ({url})"),
                    },
                },
                Err(e) => LocatedRim::missing(format!("no {kind} RIM: {e}")),
            },
            (RimSource::Online, None) => LocatedRim::missing("no RIM service"),
        }
    };
    Ok((find("driver", ids.driver.as_ref()), find("VBIOS", ids.vbios.as_ref())))
}

fn in_dir(kind: &str, dir: &Path, id: &str) -> LocatedRim {
    let names = rim_file_candidates(id);
    let Some(path) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
        return LocatedRim::missing(format!(
            "no {kind} RIM for this GPU in {}: looked for {}",
            dir.display(),
            names.join(", ")
        ));
    };
    match std::fs::read(&path) {
        Ok(document) => LocatedRim { document: Some(document), label: path.display().to_string() },
        Err(e) => LocatedRim::missing(format!("cannot read {kind} RIM {}: {e}", path.display())),
    }
}
