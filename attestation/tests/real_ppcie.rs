//! NVSwitch (LS10) appraisal and the PPCIe topology on every real set in the shared data:
//! - `multi-gpu/test_ppcie_data.json` (go-nvattest-tools): 8× H100 + 4 switches of one HGX board;
//! - `multi-gpu/gpu_evidence.json` + `switch_evidence.json` (nvtrust ppcie-verifier tests): 8× H100 driver
//!   590.12 + 4 switches, another board;
//! - `attestation-sdk/.../switchAttestationReport.txt` + `switchCertChain.txt` + the LS10 VBIOS RIM
//!   `switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml` (and its `_measurement_mismatch` and
//!   `_invalid_signature` variants): one switch with its RIM.
//!
//! The board sets come without RIMs, so their devices fail only the RIM checks; every other device check
//! passes and the topology is affirming. The SDK switch with its RIM is affirming. Negatives: a switch
//! missing, a PDI swapped, a GPU from another board, a switch counted twice, a tampered switch report.

use base64::Engine as _;
use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, DeviceLinks, GpuAppraise, GpuEvidence, Outcome, Pdi, Policy, Revocation,
    SwitchCheck, SwitchEvidence, TopologyCheck, Verdict, appraise_ppcie, appraise_switch, appraise_topology,
    device_pdi,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

const SDK: &str = "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata";

struct Device {
    report: Vec<u8>,
    chain: CertChain,
}

struct Board {
    gpus: Vec<Device>,
    switches: Vec<Device>,
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64 string")).expect("base64")
}

fn json(rel: &str) -> Option<serde_json::Value> {
    Some(serde_json::from_slice(&ccgpu_test_support::read_testdata(rel)?).expect("JSON"))
}

/// go-nvattest-tools' board: `gpus[]` and `nvswitches[]`, each report base64 under `py/b64`, each chain a
/// list of base64 PEMs.
fn go_nvattest_board() -> Option<Board> {
    let v = json("nvidia/multi-gpu/test_ppcie_data.json")?;
    let chain = |list: &serde_json::Value| {
        let pems: Vec<u8> = list.as_array().expect("chain").iter().flat_map(|c| b64(&c["pem"])).collect();
        CertChain::from_pem(&pems).expect("chain")
    };
    Some(Board {
        gpus: v["gpus"]
            .as_array()
            .expect("gpus")
            .iter()
            .map(|g| Device {
                report: b64(&g["AttestationReport"]["py/b64"]),
                chain: chain(&g["CertificateChains"]["GpuAttestationCertificateChain"]),
            })
            .collect(),
        switches: v["nvswitches"]
            .as_array()
            .expect("switches")
            .iter()
            .map(|s| Device {
                report: b64(&s["attestation_report"]["py/b64"]),
                chain: chain(&s["attestation_cert_chain"]),
            })
            .collect(),
    })
}

/// nvtrust's board: two lists of `{evidence, certificate}` (base64 report, base64 PEM chain).
fn nvtrust_board() -> Option<Board> {
    let list = |rel: &str| -> Option<Vec<Device>> {
        Some(
            json(rel)?
                .as_array()
                .expect("list")
                .iter()
                .map(|d| Device {
                    report: b64(&d["evidence"]),
                    chain: CertChain::from_pem(&b64(&d["certificate"])).expect("chain"),
                })
                .collect(),
        )
    };
    Some(Board {
        gpus: list("nvidia/multi-gpu/gpu_evidence.json")?,
        switches: list("nvidia/multi-gpu/switch_evidence.json")?,
    })
}

/// An hour after the latest notBefore of every chain given.
fn inside_validity<'a>(chains: impl IntoIterator<Item = &'a CertChain>) -> OffsetDateTime {
    chains
        .into_iter()
        .flat_map(|c| c.ders().iter())
        .map(|d| X509Certificate::from_der(d).expect("certificate").1.validity().not_before.to_datetime())
        .max()
        .expect("a certificate")
        + Duration::hours(1)
}

fn nonce_of(report: &[u8]) -> [u8; 32] {
    AttestationReport::parse_as(report, ccgpu_attestation::ReportLayout::Switch)
        .or_else(|_| AttestationReport::parse(report))
        .expect("report")
        .request()
        .nonce
}

/// Only the RIM checks (and what needs a verified RIM) may fail.
fn only_rims_fail<C: std::fmt::Debug + Copy>(what: &str, failed: &[C], name: impl Fn(C) -> &'static str) {
    assert!(
        failed.iter().all(|&c| {
            let n = name(c);
            n.contains("rim") || n == "measurements" || n == "index-conflict"
        }),
        "{what}: only what needs the RIMs may fail: {failed:?}"
    );
}

fn appraise_board(set: &str, board: &Board) -> ccgpu_attestation::PpcieAppraisal {
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let nonce = nonce_of(&board.gpus[0].report);
    let at = inside_validity(board.gpus.iter().chain(&board.switches).map(|d| &d.chain));
    let gpus: Vec<GpuEvidence<'_>> = board
        .gpus
        .iter()
        .map(|g| GpuEvidence { report: &g.report, chain: &g.chain, driver_rim: None, vbios_rim: None })
        .collect();
    let switches: Vec<SwitchEvidence<'_>> =
        board.switches.iter().map(|s| SwitchEvidence { report: &s.report, chain: &s.chain, vbios_rim: None }).collect();
    let ctx = GpuAppraise {
        nonce: &nonce,
        at,
        anchors: &anchors,
        policy: &policy,
        revocation: Revocation::NotChecked,
        cache: None,
    };
    let a = appraise_ppcie(&gpus, &switches, &ctx);
    let _ = set;
    a
}

fn every_real_board_verifies(set: &str, board: &Board) {
    assert_eq!((board.gpus.len(), board.switches.len()), (8, 4), "{set}");
    let a = appraise_board(set, board);
    for (i, s) in a.switches.iter().enumerate() {
        for c in [
            SwitchCheck::ReportParsed,
            SwitchCheck::Arch,
            SwitchCheck::DeviceChain,
            SwitchCheck::Pdi,
            SwitchCheck::Fwid,
            SwitchCheck::ReportSignature,
            SwitchCheck::Nonce,
        ] {
            assert!(s.checks.passed(c), "{set} switch {i}: {c} {:?}", s.checks.get(c));
        }
        assert!(matches!(s.checks.get(SwitchCheck::VbiosRimPresent), Some(Outcome::Failed { .. })));
        only_rims_fail(&format!("{set} switch {i}"), &s.checks.failures(), SwitchCheck::name);
        assert_eq!(s.identity.chip.as_deref(), Some("LS10"));
    }
    for (i, g) in a.gpus.iter().enumerate() {
        only_rims_fail(&format!("{set} GPU {i}"), &g.checks.failures(), |c| c.name());
    }
    assert_eq!(a.topology.verdict, Verdict::Affirming, "{set}: {:?}", a.topology.checks);
    assert_eq!(a.verdict, Verdict::Contraindicated, "{set}: no RIMs come with the set");
    let positions: std::collections::BTreeSet<Option<u32>> = a.switches.iter().map(|s| s.identity.position).collect();
    assert_eq!(positions.len(), 4, "{set}: four switch positions");
}

#[test]
fn go_nvattest_hgx_board_eight_gpus_four_switches_topology_affirming() {
    let Some(board) = go_nvattest_board() else { return };
    every_real_board_verifies("go-nvattest test_ppcie_data.json", &board);
}

#[test]
fn nvtrust_ppcie_board_eight_gpus_four_switches_topology_affirming() {
    let Some(board) = nvtrust_board() else { return };
    every_real_board_verifies("nvtrust gpu_evidence.json + switch_evidence.json", &board);
}

/// The links of a board's devices, as appraise_ppcie establishes them (here straight from the evidence,
/// whose chains the test above validates).
fn links(board: &Board) -> (Vec<DeviceLinks>, Vec<DeviceLinks>) {
    let gpus = board
        .gpus
        .iter()
        .map(|g| DeviceLinks {
            pdi: device_pdi(&g.chain),
            peers: AttestationReport::parse(&g.report).expect("gpu").opaque().connected_switch_pdis(),
        })
        .collect();
    let switches = board
        .switches
        .iter()
        .map(|s| {
            let r = AttestationReport::parse_switch(&s.report).expect("switch");
            DeviceLinks {
                pdi: device_pdi(&s.chain),
                peers: r.opaque().switch.as_ref().and_then(|o| o.gpu_pdis.clone()),
            }
        })
        .collect();
    (gpus, switches)
}

fn failed(t: &ccgpu_attestation::TopologyAppraisal, check: TopologyCheck) -> String {
    match t.checks.get(check) {
        Some(Outcome::Failed { reason }) => reason.clone(),
        other => panic!("{check} should fail: {other:?}"),
    }
}

#[test]
fn topology_negatives_a_switch_missing_a_pdi_swapped_a_foreign_gpu_a_switch_twice() {
    let (Some(a), Some(b)) = (go_nvattest_board(), nvtrust_board()) else { return };
    let (gpus, switches) = links(&a);
    assert_eq!(appraise_topology(&gpus, &switches).verdict, Verdict::Affirming);

    // A switch missing.
    let t = appraise_topology(&gpus, &switches[..3]);
    assert!(failed(&t, TopologyCheck::SwitchSet).contains("3 NVSwitch(s)"));
    assert_ne!(t.verdict, Verdict::Affirming);

    // A switch counted twice (four entries, one of them twice).
    let twice = vec![switches[0].clone(), switches[1].clone(), switches[2].clone(), switches[0].clone()];
    let t = appraise_topology(&gpus, &twice);
    assert!(failed(&t, TopologyCheck::SwitchSet).contains("appears twice"));

    // A PDI swapped: one switch lists a GPU of the other board in place of one of ours.
    let foreign_gpu = links(&b).0[0].pdi.expect("pdi");
    let mut swapped = switches.clone();
    swapped[2].peers.as_mut().expect("peers")[5] = foreign_gpu;
    let t = appraise_topology(&gpus, &swapped);
    let reason = failed(&t, TopologyCheck::SwitchLinks);
    assert!(reason.contains("NVSwitch 2") && reason.contains(&foreign_gpu.hex()), "{reason}");
    assert!(t.checks.passed(TopologyCheck::GpuLinks));

    // A GPU's switch list with one switch replaced by an unknown one.
    let mut swapped = gpus.clone();
    let list = swapped[4].peers.as_mut().expect("peers");
    let old = list[0];
    for p in list.iter_mut().filter(|p| **p == old) {
        *p = Pdi([0xab; 8]);
    }
    let t = appraise_topology(&swapped, &switches);
    assert!(failed(&t, TopologyCheck::GpuLinks).contains("abababababababab"));

    // A GPU from another board: in the VM, but no switch of this board connects it.
    let mut mixed = gpus.clone();
    mixed[7] = links(&b).0[7].clone();
    let t = appraise_topology(&mixed, &switches);
    assert!(!failed(&t, TopologyCheck::GpuLinks).is_empty(), "its switches are not ours");
    assert!(!failed(&t, TopologyCheck::SwitchLinks).is_empty(), "our switches do not connect it");

    // The whole other board's switches with our GPUs.
    let (_, other_switches) = links(&b);
    let t = appraise_topology(&gpus, &other_switches);
    assert!(t.checks.passed(TopologyCheck::SwitchSet));
    assert!(!failed(&t, TopologyCheck::GpuLinks).is_empty());

    // A device whose PDI is not established (its chain did not validate) fails the set.
    let mut unproven = gpus.clone();
    unproven[3].pdi = None;
    assert!(failed(&appraise_topology(&unproven, &switches), TopologyCheck::GpuSet).contains("GPU 3"));
}

#[test]
fn tampered_switch_report_fails_its_signature_and_the_board() {
    let Some(mut board) = go_nvattest_board() else { return };
    // One byte of switch 1's measurement record (block 3's value).
    let r = &mut board.switches[1].report;
    let at = 37 + 8 + 2 * 55 + 10;
    r[at] ^= 1;
    let a = appraise_board("tampered", &board);
    let s = &a.switches[1];
    assert!(matches!(s.checks.get(SwitchCheck::ReportSignature), Some(Outcome::Failed { .. })), "{:?}", s.checks);
    assert!(a.switches.iter().enumerate().all(|(i, s)| i == 1 || s.checks.passed(SwitchCheck::ReportSignature)));
    assert_eq!(a.topology.verdict, Verdict::Affirming, "the topology itself is intact");
    assert_eq!(a.verdict, Verdict::Contraindicated);
}

fn sdk_switch(rim: &str) -> Option<ccgpu_attestation::SwitchAppraisal> {
    sdk_switch_under(rim, &Policy::default())
}

fn sdk_switch_under(rim: &str, policy: &Policy) -> Option<ccgpu_attestation::SwitchAppraisal> {
    let read = |rel: &str| ccgpu_test_support::read_testdata(&format!("{SDK}/{rel}"));
    let text = read("switchAttestationReport.txt")?;
    let report = hex::decode(String::from_utf8_lossy(&text).split_whitespace().collect::<String>()).expect("hex");
    let chain = CertChain::from_pem(&read("switchCertChain.txt")?).expect("chain");
    let rim = read(rim)?;
    let anchors = Anchors::nvidia();
    let nonce = nonce_of(&report);
    Some(appraise_switch(
        &SwitchEvidence { report: &report, chain: &chain, vbios_rim: Some(&rim) },
        &GpuAppraise {
            nonce: &nonce,
            // Inside the RIM signing certificate's validity (from 2026-05-20) and the device chain's.
            at: time::macros::datetime!(2026-06-01 0:00 UTC),
            anchors: &anchors,
            policy,
            revocation: Revocation::NotChecked,
            cache: None,
        },
    ))
}

#[test]
fn a_switch_rim_outside_gpu_accepted_rims_is_refused_by_policy() {
    const RIM: &str = "switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml";
    let Some(a) = sdk_switch(RIM) else { return };
    let digest = a.rim_digest.clone().expect("the RIM's digest");
    let mut pinned = Policy::default();
    pinned.gpu.accepted_rims = vec![format!("sha384:{}", "0".repeat(96))];
    let Some(refused) = sdk_switch_under(RIM, &pinned) else { return };
    assert!(
        matches!(refused.checks.get(SwitchCheck::VbiosRimPolicy), Some(Outcome::Failed { .. })),
        "{:#?}",
        refused.checks
    );
    assert_eq!(refused.verdict, Verdict::Contraindicated);
    pinned.gpu.accepted_rims = vec![format!("sha384:{digest}")];
    let Some(accepted) = sdk_switch_under(RIM, &pinned) else { return };
    assert_eq!(accepted.verdict, Verdict::Affirming, "{:#?}", accepted.checks);
}

#[test]
fn sdk_ls10_switch_with_its_vbios_rim_is_affirming() {
    let Some(a) = sdk_switch("switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml") else { return };
    assert_eq!(a.verdict, Verdict::Affirming, "{:#?}", a.checks);
    let m = a.measurements.as_ref().expect("compared");
    assert!(m.active.1 > 0 && m.matched.1 == m.active.1);
    assert_eq!(a.identity.vbios_version.as_deref(), Some("96.10.55.00.01"));
    assert_eq!(a.identity.pdi.map(|p| p.hex()).as_deref(), Some("203eb31ad9ed0008"));
}

#[test]
fn sdk_ls10_switch_rim_negatives() {
    let Some(a) = sdk_switch("sample_rims/NV_SWITCH_BIOS_5612_0002_890_9610550001_measurement_mismatch.xml") else {
        return;
    };
    // NVIDIA's "measurement_mismatch" sample changed the golden values without re-signing: the RIM's
    // signature fails, so its golden values are never read (a mismatch against a valid RIM is not what
    // this file can show).
    assert!(matches!(a.checks.get(SwitchCheck::VbiosRimSignature), Some(Outcome::Failed { .. })), "{:#?}", a.checks);
    assert!(matches!(a.checks.get(SwitchCheck::Measurements), Some(Outcome::NotRun { .. })), "{:#?}", a.checks);
    assert_eq!(a.verdict, Verdict::Contraindicated);
    let Some(a) = sdk_switch("sample_rims/NV_SWITCH_BIOS_5612_0002_890_9610550001_invalid_signature.xml") else {
        return;
    };
    assert!(matches!(a.checks.get(SwitchCheck::VbiosRimSignature), Some(Outcome::Failed { .. })), "{:#?}", a.checks);
    assert!(matches!(a.checks.get(SwitchCheck::Measurements), Some(Outcome::NotRun { .. })));
    // A GPU's RIM is not a switch's.
    let Some(a) = sdk_switch("NV_GPU_DRIVER_GH100_550.144.03.xml") else { return };
    assert!(matches!(a.checks.get(SwitchCheck::VbiosRimIdentity), Some(Outcome::Failed { .. })), "{:#?}", a.checks);
}

#[test]
fn a_gpu_report_is_not_a_switch_report() {
    let Some(board) = go_nvattest_board() else { return };
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let g = &board.gpus[0];
    let nonce = nonce_of(&g.report);
    let a = appraise_switch(
        &SwitchEvidence { report: &g.report, chain: &g.chain, vbios_rim: None },
        &GpuAppraise {
            nonce: &nonce,
            at: inside_validity([&g.chain]),
            anchors: &anchors,
            policy: &policy,
            revocation: Revocation::NotChecked,
            cache: None,
        },
    );
    assert!(matches!(a.checks.get(SwitchCheck::Arch), Some(Outcome::Failed { .. })), "{:?}", a.checks);
    assert!(matches!(
        a.checks.get(SwitchCheck::DeviceChain),
        Some(Outcome::Failed { .. }) | Some(Outcome::Passed { .. })
    ));
    assert_eq!(a.verdict, Verdict::Contraindicated);
}

/// NVIDIA's SDK serialized test evidence: `switch_evidence_ls10.json` (one LS10) and `multi_switch_ls10.json`
/// (the same LS10 four times). Each switch verifies on its own; as a board's switch set the four are one
/// switch counted four times, and the SDK switch's own GPU list names one GPU twice.
#[test]
fn sdk_serialized_ls10_evidence_verifies_and_four_copies_are_not_a_board() {
    const DIR: &str = "nvidia/attestation-sdk/common-test-data/serialized_test_evidence";
    let list = |f: &str| -> Option<Vec<Device>> {
        Some(
            json(&format!("{DIR}/{f}"))?
                .as_array()
                .expect("list")
                .iter()
                .map(|d| Device {
                    report: b64(&d["evidence"]),
                    chain: CertChain::from_pem(&b64(&d["certificate"])).expect("chain"),
                })
                .collect(),
        )
    };
    let (Some(one), Some(four)) = (list("switch_evidence_ls10.json"), list("multi_switch_ls10.json")) else { return };
    assert_eq!((one.len(), four.len()), (1, 4));
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let mut links = Vec::new();
    for (i, s) in one.iter().chain(&four).enumerate() {
        let nonce = nonce_of(&s.report);
        let a = appraise_switch(
            &SwitchEvidence { report: &s.report, chain: &s.chain, vbios_rim: None },
            &GpuAppraise {
                nonce: &nonce,
                at: inside_validity([&s.chain]),
                anchors: &anchors,
                policy: &policy,
                revocation: Revocation::NotChecked,
                cache: None,
            },
        );
        for c in [SwitchCheck::DeviceChain, SwitchCheck::Pdi, SwitchCheck::ReportSignature, SwitchCheck::Nonce] {
            assert!(a.checks.passed(c), "switch {i}: {c} {:?}", a.checks.get(c));
        }
        only_rims_fail(&format!("SDK switch {i}"), &a.checks.failures(), SwitchCheck::name);
        if i > 0 {
            links.push(DeviceLinks { pdi: a.established_pdi(), peers: a.identity.gpu_pdis.clone() });
        }
    }
    let t = appraise_topology(&[], &links);
    assert!(failed(&t, TopologyCheck::SwitchSet).contains("appears twice"));
    let gpus = links[0].peers.clone().expect("listed");
    let distinct: std::collections::BTreeSet<Pdi> = gpus.iter().copied().collect();
    assert_eq!((gpus.len(), distinct.len()), (8, 7), "the SDK switch lists one GPU twice");
}
