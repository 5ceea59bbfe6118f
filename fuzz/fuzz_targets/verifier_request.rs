//! What `ccgpu-verifier` reads from a client before any appraisal: the JSON nesting scan run on every
//! body, and the appraisal id of `GET /v1/appraisals/{id}`. Neither may panic; the scan must agree with
//! a real JSON parser on every input that parses (accepted at depth d exactly when the document nests at
//! most d levels); an id that parses must print back to text that parses to the same id.
#![no_main]

use ccgpu_verifier::{AppraisalId, check_depth};
use libfuzzer_sys::fuzz_target;

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let (limit, body) = data.split_first().map_or((0, data), |(l, rest)| (usize::from(*l % 24), rest));
    let scanned = check_depth(body, limit);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        assert_eq!(scanned.is_ok(), depth(&value) <= limit, "limit {limit}");
    }
    if let Err(e) = scanned {
        assert!(e.offset < body.len());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(id) = text.parse::<AppraisalId>()
    {
        assert_eq!(id.to_string().parse::<AppraisalId>(), Ok(id));
    }
});
