//! Answers of NVIDIA's RIM service (`GET <base>/v1/rim/<id>`): a JSON object whose `rim` member is the
//! base64 RIM document. Only the framing is read here; the document is verified afterwards exactly like a
//! local file (signature, chain to the pinned RIM root, identity against the report), so nothing about the
//! transport or the service is trusted: a tampered document fails its signature, another id's document
//! fails the identity check, and this parser only refuses answers that are not even shaped right.
//!
//! Trusts: nothing. Bounded: the answer's size before parsing, the document's size after decoding.

use base64::Engine as _;
use serde::Deserialize;
use thiserror::Error;

use super::MAX_RIM_LEN;

/// Largest service answer read: the largest RIM accepted, base64-encoded, plus room for the other members.
pub const MAX_SERVICE_ANSWER: usize = MAX_RIM_LEN / 3 * 4 + 64 * 1024;

/// Why an answer of the RIM service is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RimServiceError {
    /// Over [`MAX_SERVICE_ANSWER`] bytes.
    #[error("the answer is {0} bytes, more than the {MAX_SERVICE_ANSWER}-byte limit")]
    TooLarge(usize),
    /// Not a JSON object with a string member `rim`.
    #[error("the answer is not the RIM service's JSON: {0}")]
    NotJson(String),
    /// `rim` is not base64.
    #[error("the answer's `rim` is not base64: {0}")]
    NotBase64(String),
    /// The decoded document is over the RIM size limit or empty.
    #[error("the answer's RIM document is {0} bytes (accepted: 1 to {MAX_RIM_LEN})")]
    BadLength(usize),
    /// The answer names another id than the one asked for.
    #[error("asked for RIM {asked}, the answer is for {answered}")]
    OtherId {
        /// The id requested.
        asked: String,
        /// The id the answer names.
        answered: String,
    },
}

#[derive(Deserialize)]
struct Answer {
    /// The id, when the service states it.
    id: Option<String>,
    /// The document, base64.
    rim: String,
}

/// The RIM document in an answer of the RIM service to a request for `id`.
pub fn rim_from_service_answer(id: &str, answer: &[u8]) -> Result<Vec<u8>, RimServiceError> {
    if answer.len() > MAX_SERVICE_ANSWER {
        return Err(RimServiceError::TooLarge(answer.len()));
    }
    let parsed: Answer = serde_json::from_slice(answer).map_err(|e| RimServiceError::NotJson(e.to_string()))?;
    if let Some(answered) = parsed.id
        && answered != id
    {
        return Err(RimServiceError::OtherId { asked: id.to_owned(), answered });
    }
    let text: String = parsed.rim.split_ascii_whitespace().collect();
    let document = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| RimServiceError::NotBase64(e.to_string()))?;
    if document.is_empty() || document.len() > MAX_RIM_LEN {
        return Err(RimServiceError::BadLength(document.len()));
    }
    Ok(document)
}

/// True when `id` is safe to put in a URL path segment and a file name: 1 to 128 characters of
/// `A-Z a-z 0-9 _ . -`, not starting with a dot. Ids come from the (unverified) report, so every caller
/// that fetches or caches by id checks this first.
pub fn is_safe_rim_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, doc: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": id,
            "rim": base64::engine::general_purpose::STANDARD.encode(doc),
            "sha256": "ignored",
            "last_updated": "2025-01-01T00:00:00Z",
        }))
        .expect("json")
    }

    #[test]
    fn the_document_is_decoded_and_every_malformed_answer_named() {
        let id = "NV_GPU_DRIVER_GH100_550.90.07";
        assert_eq!(rim_from_service_answer(id, &answer(id, b"<x/>")), Ok(b"<x/>".to_vec()));
        // Without an id member the document's own identity is what counts.
        assert_eq!(rim_from_service_answer(id, br#"{"rim":"PHgvPg=="}"#), Ok(b"<x/>".to_vec()));
        assert!(matches!(
            rim_from_service_answer(id, &answer("NV_OTHER", b"<x/>")),
            Err(RimServiceError::OtherId { .. })
        ));
        assert!(matches!(rim_from_service_answer(id, b"<html>"), Err(RimServiceError::NotJson(_))));
        assert!(matches!(rim_from_service_answer(id, br#"{"id":1}"#), Err(RimServiceError::NotJson(_))));
        assert!(matches!(rim_from_service_answer(id, br#"{"rim":"%%%"}"#), Err(RimServiceError::NotBase64(_))));
        assert_eq!(rim_from_service_answer(id, br#"{"rim":""}"#), Err(RimServiceError::BadLength(0)));
        let huge = vec![b' '; MAX_SERVICE_ANSWER + 1];
        assert_eq!(rim_from_service_answer(id, &huge), Err(RimServiceError::TooLarge(MAX_SERVICE_ANSWER + 1)));
    }

    #[test]
    fn only_plain_ids_are_safe() {
        for ok in ["NV_GPU_DRIVER_GH100_550.90.07", "NV_GPU_VBIOS_1010_0200_882_96009F0001"] {
            assert!(is_safe_rim_id(ok), "{ok}");
        }
        for bad in ["", "../etc/passwd", ".hidden", "a/b", "a?b", "a b", "x".repeat(129).as_str()] {
            assert!(!is_safe_rim_id(bad), "{bad}");
        }
    }
}
