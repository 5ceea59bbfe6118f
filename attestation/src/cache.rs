//! A cache of expensive, time-independent verification results, keyed by the exact input bytes.
//!
//! Two things are cached: certificate links (this certificate's signature verifies under that issuer
//! key) and RIM inspections (structure and XML signature of a document). Neither depends on the
//! verification time or on trust anchors, so a cached entry can never change a verdict: validity periods,
//! chain structure and anchors are re-checked on every verification. The keys are the complete inputs
//! themselves (a link: the issuer's SubjectPublicKeyInfo and the whole child certificate; a RIM: the whole
//! document), hashed with the process's randomly keyed SipHash and compared byte for byte on a hit, so a
//! hit means byte-identical inputs — without paying a cryptographic digest of every input on every
//! lookup. Both maps are bounded; when one fills up it is cleared (evidence from a fleet repeats a
//! handful of chains and RIMs, so this stays hot).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::rim::{self, RimInspection};

/// Most bytes of certificate links remembered (a link is ~1.5 KB: 16 MiB is ~10,000 links).
const MAX_LINK_BYTES: usize = 16 * 1024 * 1024;
/// Most bytes of RIM documents remembered (NVIDIA's are ~21 KB: 64 MiB is ~3,000 RIMs).
const MAX_RIM_BYTES: usize = 64 * 1024 * 1024;

/// Shared, thread-safe verification cache.
#[derive(Debug, Default)]
pub struct VerifierCache {
    links: Mutex<Bounded<HashSet<Vec<u8>>>>,
    rims: Mutex<Bounded<RimMap>>,
}

/// RIM inspections by the exact document bytes.
type RimMap = HashMap<Arc<[u8]>, Arc<RimInspection>>;

/// A map with the total size of its keys, cleared when a new entry would take it over a byte budget.
#[derive(Debug, Default)]
struct Bounded<T> {
    map: T,
    bytes: usize,
}

impl<T: Default> Bounded<T> {
    /// Makes room for `len` more bytes under `budget`; false when one entry alone exceeds it.
    fn make_room(&mut self, len: usize, budget: usize) -> bool {
        if len > budget {
            return false;
        }
        if self.bytes + len > budget {
            self.map = T::default();
            self.bytes = 0;
        }
        self.bytes += len;
        true
    }
}

impl VerifierCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Key of a certificate link: the issuer's SubjectPublicKeyInfo and the complete child certificate.
    pub(crate) fn link_key(issuer_spki: &[u8], child_der: &[u8]) -> Vec<u8> {
        let len = u32::try_from(issuer_spki.len()).unwrap_or(u32::MAX).to_be_bytes();
        let mut buf = Vec::with_capacity(4 + issuer_spki.len() + child_der.len());
        buf.extend_from_slice(&len);
        buf.extend_from_slice(issuer_spki);
        buf.extend_from_slice(child_der);
        buf
    }

    pub(crate) fn link_verified(&self, key: &[u8]) -> bool {
        self.links.lock().unwrap_or_else(PoisonError::into_inner).map.contains(key)
    }

    /// Remembers links that verified. Callers pass only links of a path that validated to its anchor, so
    /// crafted chains cannot fill the cache.
    pub(crate) fn remember_links(&self, keys: impl IntoIterator<Item = Vec<u8>>) {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if !links.map.contains(&key) && links.make_room(key.len(), MAX_LINK_BYTES) {
                links.map.insert(key);
            }
        }
    }

    /// The inspection of a RIM document, from the cache when the same bytes were inspected before.
    pub fn inspect_rim(&self, xml: &[u8]) -> Arc<RimInspection> {
        if let Some(hit) = self.rims.lock().unwrap_or_else(PoisonError::into_inner).map.get(xml) {
            return Arc::clone(hit);
        }
        let inspection = Arc::new(rim::inspect(xml));
        let mut rims = self.rims.lock().unwrap_or_else(PoisonError::into_inner);
        if rims.make_room(xml.len(), MAX_RIM_BYTES) {
            rims.map.insert(Arc::from(xml), Arc::clone(&inspection));
        }
        inspection
    }

    /// Numbers of cached links and RIM inspections.
    pub fn len(&self) -> (usize, usize) {
        (
            self.links.lock().unwrap_or_else(PoisonError::into_inner).map.len(),
            self.rims.lock().unwrap_or_else(PoisonError::into_inner).map.len(),
        )
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}
