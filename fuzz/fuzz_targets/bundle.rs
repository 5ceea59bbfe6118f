//! `bundle::EvidenceBundle::parse` on arbitrary bytes, and the appraisal of whatever parses (composite
//! bundles come from the guest, through the host, to a relying party). Nothing may panic; an accepted
//! bundle round-trips through its wire form.
#![no_main]

use ccgpu_attestation::{AmdRoots, Anchors, BundleAppraise, BundleRevocation, EvidenceBundle, Policy, appraise_bundle};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = EvidenceBundle::parse(data) else { return };
    assert_eq!(EvidenceBundle::parse(&bundle.to_json()).as_ref(), Ok(&bundle), "round trip");
    let anchors = Anchors::nvidia();
    let roots = AmdRoots::amd();
    let policy = Policy::default();
    let a = appraise_bundle(
        &bundle,
        &BundleAppraise {
            expected_nonce: Some(&bundle.nonce),
            at: datetime!(2025-09-01 0:00 UTC),
            anchors: &anchors,
            amd_roots: &roots,
            policy: &policy,
            revocation: BundleRevocation::NotChecked,
            cache: None,
        },
    );
    let _ = a.failures();
});
