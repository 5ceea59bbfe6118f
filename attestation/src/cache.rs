//! A cache of expensive, time-independent verification results, keyed by the exact input bytes.
//!
//! Two things are cached: certificate links (this certificate's signature verifies under that issuer
//! key, for [`crate::x509`]) and document inspections (any result computed from a whole document alone,
//! such as a RIM's structure and XML signature, for `crate::nvidia::rim`). Neither depends on the
//! verification time or on trust anchors, so a cached entry can never change a verdict: validity periods,
//! chain structure and anchors are re-checked on every verification. The keys are the complete inputs
//! themselves (a link: the issuer's SubjectPublicKeyInfo and the whole child certificate; a document: its
//! bytes and the type of the result), hashed with the process's randomly keyed SipHash and compared byte
//! for byte on a hit, so a hit means byte-identical inputs — without paying a cryptographic digest of
//! every input on every lookup. Both maps are bounded; when one fills up it is cleared (evidence from a
//! fleet repeats a handful of chains and RIMs, so this stays hot).
//!
//! The cache knows no document format: whoever inspects a document passes the function that does.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Most bytes of certificate links remembered (a link is ~1.5 KB: 16 MiB is ~10,000 links).
const MAX_LINK_BYTES: usize = 16 * 1024 * 1024;
/// Most bytes of documents remembered (NVIDIA's RIMs are ~21 KB: 64 MiB is ~3,000 RIMs).
const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

/// Shared, thread-safe verification cache.
#[derive(Debug, Default)]
pub struct VerifierCache {
    links: Mutex<Bounded<HashSet<Vec<u8>>>>,
    documents: Mutex<Bounded<DocumentMap>>,
}

/// Inspections by the type of the result, then by the exact document bytes.
type DocumentMap = HashMap<TypeId, HashMap<Arc<[u8]>, Arc<dyn Any + Send + Sync>>>;

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

    /// `inspect(document)`, from the cache when the same bytes were inspected into a `T` before.
    /// `inspect` must depend on nothing but the bytes (not the time, not an anchor).
    pub(crate) fn inspection<T: Send + Sync + 'static>(&self, document: &[u8], inspect: fn(&[u8]) -> T) -> Arc<T> {
        let hit = self
            .documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&TypeId::of::<T>())
            .and_then(|by_bytes| by_bytes.get(document))
            .cloned();
        if let Some(hit) = hit.and_then(|h| h.downcast::<T>().ok()) {
            return hit;
        }
        let inspection = Arc::new(inspect(document));
        let mut documents = self.documents.lock().unwrap_or_else(PoisonError::into_inner);
        if documents.make_room(document.len(), MAX_DOCUMENT_BYTES) {
            let by_bytes = documents.map.entry(TypeId::of::<T>()).or_default();
            by_bytes.insert(Arc::from(document), Arc::clone(&inspection) as Arc<dyn Any + Send + Sync>);
        }
        inspection
    }

    /// Numbers of cached links and document inspections.
    pub fn len(&self) -> (usize, usize) {
        (
            self.links.lock().unwrap_or_else(PoisonError::into_inner).map.len(),
            self.documents.lock().unwrap_or_else(PoisonError::into_inner).map.values().map(HashMap::len).sum(),
        )
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}
