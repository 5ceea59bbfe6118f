//! A protected-PCIe bundle: the nvtrust board (8× H100 driver 590.12 + 4 NVSwitches) carried with its
//! switches, bound into a simulated SEV-SNP report of the project's test PKI. The bundle-level rule is
//! "PPCIe requires a full, consistent switch set"; REPORT_DATA binds every GPU's and switch's evidence;
//! the EAR has a submodule per switch and one for the topology. The set has no RIMs, so the devices fail
//! their RIM checks and the bundle is contraindicated; every other part is judged on its own.

use base64::Engine as _;
use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, BundleCheck, BundleRevocation, CertChain, CompositeAppraisal, CpuEvidence,
    EvidenceBundle, GpuBundleEvidence, Policy, Product, SnpCheck, SwitchBundleEvidence, Tcb, Verdict,
    appraise_bundle_with_switches, report_data, report_data_with_switches,
    sim::{SnpPki, SnpReportBuilder, VekSpec},
};
use time::macros::datetime;

const CHIP_ID: [u8; 64] = [0x5a; 64];
const TCB: Tcb = Tcb { bootloader: 10, tee: 0, snp: 23, microcode: 72, fmc: None };

struct World {
    gpus: Vec<GpuBundleEvidence>,
    switches: Vec<SwitchBundleEvidence>,
    nonce: [u8; 32],
    snp: SnpPki,
    roots: AmdRoots,
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64")).expect("base64")
}

fn world() -> Option<&'static World> {
    static WORLD: std::sync::OnceLock<Option<World>> = std::sync::OnceLock::new();
    WORLD
        .get_or_init(|| {
            let list = |rel: &str| -> Option<Vec<serde_json::Value>> {
                let bytes = ccgpu_test_support::read_testdata(rel)?;
                Some(
                    serde_json::from_slice::<serde_json::Value>(&bytes)
                        .expect("json")
                        .as_array()
                        .expect("list")
                        .clone(),
                )
            };
            let gpus_json = list("nvidia/multi-gpu/gpu_evidence.json")?;
            let switches_json = list("nvidia/multi-gpu/switch_evidence.json")?;
            let nonce: [u8; 32] =
                hex::decode(gpus_json[0]["nonce"].as_str().expect("nonce")).expect("hex").try_into().expect("32");
            let gpus = gpus_json
                .iter()
                .map(|g| GpuBundleEvidence {
                    uuid: None,
                    bdf: None,
                    report: b64(&g["evidence"]),
                    chain: CertChain::from_pem(&b64(&g["certificate"])).expect("chain"),
                    driver_rim: None,
                    vbios_rim: None,
                    ocsp: Vec::new(),
                })
                .collect();
            let switches = switches_json
                .iter()
                .map(|s| SwitchBundleEvidence {
                    uuid: None,
                    report: b64(&s["evidence"]),
                    chain: CertChain::from_pem(&b64(&s["certificate"])).expect("chain"),
                    vbios_rim: None,
                    ocsp: Vec::new(),
                })
                .collect();
            let snp = SnpPki::generate(Product::Genoa).expect("snp pki");
            let roots = snp.roots().expect("roots");
            Some(World { gpus, switches, nonce, snp, roots })
        })
        .as_ref()
}

fn cpu(w: &World, report_data: &[u8; 64]) -> CpuEvidence {
    let vek = w.snp.issue_vek(&VekSpec::vcek(Product::Genoa, TCB, &CHIP_ID)).expect("vcek");
    let mut b = SnpReportBuilder::new(Product::Genoa, 3, &TCB, &CHIP_ID);
    b.set_report_data(report_data);
    CpuEvidence { report: b.sign(&vek).expect("sign"), vek: vek.der.clone(), ask_ark: None }
}

/// The board's bundle with `switches`, its CPU report binding exactly them.
fn bound(w: &World, switches: &[SwitchBundleEvidence]) -> EvidenceBundle {
    let mut b = EvidenceBundle { nonce: w.nonce, cpu: None, gpus: w.gpus.clone() };
    let rd = b.expected_report_data_with(switches);
    b.cpu = Some(cpu(w, &rd));
    b
}

fn appraise(w: &World, b: &EvidenceBundle, switches: &[SwitchBundleEvidence]) -> CompositeAppraisal {
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    appraise_bundle_with_switches(
        b,
        switches,
        &BundleAppraise {
            expected_nonce: Some(&w.nonce),
            // Inside the simulated AMD PKI's validity and every NVIDIA chain's.
            at: datetime!(2026-06-01 0:00 UTC),
            anchors: &anchors,
            amd_roots: &w.roots,
            policy: &policy,
            revocation: BundleRevocation::NotChecked,
            cache: None,
        },
    )
}

/// Failures other than the RIM checks the set cannot pass.
fn non_rim_failures(a: &CompositeAppraisal) -> Vec<String> {
    a.failures()
        .into_iter()
        .filter(|f| !(f.contains("rim") || f.ends_with(":measurements") || f.ends_with(":index-conflict")))
        .collect()
}

#[test]
fn ppcie_board_with_its_switches_binds_and_its_topology_holds() {
    let Some(w) = world() else { return };
    let b = bound(w, &w.switches);
    let a = appraise(w, &b, &w.switches);
    assert!(a.checks.passed(BundleCheck::Topology), "{:?}", a.checks.get(BundleCheck::Topology));
    assert!(
        a.checks.passed(BundleCheck::Gpus) && a.checks.passed(BundleCheck::Nonce) && a.checks.passed(BundleCheck::Cpu)
    );
    assert!(a.cpu.as_ref().expect("cpu").checks.passed(SnpCheck::ReportData), "REPORT_DATA binds GPUs and switches");
    assert_eq!(a.switches.len(), 4);
    assert_eq!(a.topology.as_ref().expect("topology").verdict, Verdict::Affirming);
    assert_eq!(non_rim_failures(&a), Vec::<String>::new());
    assert_eq!(a.verdict, Verdict::Contraindicated, "no RIMs come with the set");

    // The EAR: one submodule per GPU, per switch, the topology, the CPU and the bundle.
    let ear = serde_json::to_value(a.to_ear(1_780_272_000, "test")).expect("ear json");
    let submods = ear["submods"].as_object().expect("submods");
    for name in ["switch-0", "switch-1", "switch-2", "switch-3", "topology", "gpu-7", "cpu", "bundle"] {
        assert!(submods.contains_key(name), "{name} in {:?}", submods.keys().collect::<Vec<_>>());
    }
    assert_eq!(submods["topology"]["ear_status"], "affirming");
    assert_eq!(submods["switch-0"]["ear_status"], "contraindicated", "no switch RIM");
    let claims = &submods["switch-2"]["ear_verifier_claims"];
    assert_eq!(claims["evidence_sha384"].as_str(), Some(a.switches[2].evidence_digest.as_str()));
    assert_eq!(claims["pdi"].as_str().map(str::len), Some(16), "the established PDI");
    let topo = &submods["topology"]["ear_verifier_claims"];
    assert_eq!(topo["switch_pdis"].as_array().map(Vec::len), Some(4));
    assert_eq!(topo["gpu_pdis"].as_array().map(Vec::len), Some(8));
}

#[test]
fn ppcie_requires_a_full_consistent_switch_set() {
    let Some(w) = world() else { return };
    // No switches at all: the GPUs say PPCIe.
    let b = bound(w, &[]);
    let a = appraise(w, &b, &[]);
    let t = a.checks.get(BundleCheck::Topology).expect("recorded");
    assert!(t.blocks() && t.text().contains("no NVSwitch evidence"), "{t:?}");

    // Three of the four.
    let three = &w.switches[..3];
    let b = bound(w, three);
    let a = appraise(w, &b, three);
    let t = a.checks.get(BundleCheck::Topology).expect("recorded");
    assert!(t.blocks() && t.text().contains("3 NVSwitch(s)"), "{t:?}");
    assert!(a.failures().iter().any(|f| f == "topology:switch-set"), "{:?}", a.failures());

    // One switch twice.
    let twice = vec![w.switches[0].clone(), w.switches[1].clone(), w.switches[2].clone(), w.switches[0].clone()];
    let b = bound(w, &twice);
    let a = appraise(w, &b, &twice);
    assert!(a.checks.get(BundleCheck::Topology).expect("recorded").text().contains("appears twice"));

    // A GPU from another board (the go-nvattest board's GPU 0) in place of GPU 0: its chain and signature
    // verify, but it answers another nonce and the switches do not connect it.
    let Some(other) = ccgpu_test_support::read_testdata("nvidia/multi-gpu/test_ppcie_data.json") else { return };
    let other: serde_json::Value = serde_json::from_slice(&other).expect("json");
    let g = &other["gpus"][0];
    let pems: Vec<u8> = g["CertificateChains"]["GpuAttestationCertificateChain"]
        .as_array()
        .expect("chain")
        .iter()
        .flat_map(|c| b64(&c["pem"]))
        .collect();
    let mut b = bound(w, &w.switches);
    b.gpus[0] = GpuBundleEvidence {
        report: b64(&g["AttestationReport"]["py/b64"]),
        chain: CertChain::from_pem(&pems).expect("chain"),
        ..b.gpus[0].clone()
    };
    let rd = b.expected_report_data_with(&w.switches);
    b.cpu = Some(cpu(w, &rd));
    let a = appraise(w, &b, &w.switches);
    let t = a.checks.get(BundleCheck::Topology).expect("recorded");
    assert!(t.blocks() && t.text().contains("gpu-links") && t.text().contains("switch-links"), "{t:?}");
}

#[test]
fn report_data_binds_every_switch_in_order() {
    let Some(w) = world() else { return };
    let gpus: Vec<[u8; 48]> = w.gpus.iter().map(GpuBundleEvidence::digest).collect();
    let switches: Vec<[u8; 48]> = w.switches.iter().map(SwitchBundleEvidence::digest).collect();
    let full = report_data_with_switches(&w.nonce, &gpus, &switches);
    assert_eq!(report_data_with_switches(&w.nonce, &gpus, &[]), report_data(&w.nonce, &gpus), "no switches: v1");
    assert_ne!(full, report_data(&w.nonce, &gpus));
    let mut reordered = switches.clone();
    reordered.swap(0, 3);
    assert_ne!(full, report_data_with_switches(&w.nonce, &gpus, &reordered));
    assert_ne!(full, report_data_with_switches(&w.nonce, &gpus, &switches[..3]));
    // Moving the last GPU digest to the switch list changes the binding (counts are bound).
    let mut more = switches.clone();
    more.insert(0, gpus[7]);
    assert_ne!(full, report_data_with_switches(&w.nonce, &gpus[..7], &more));

    // A CPU report binding the board without its switches does not bind the bundle that carries them.
    let mut b = bound(w, &[]);
    let a = appraise(w, &b, &w.switches);
    assert!(!a.cpu.as_ref().expect("cpu").checks.passed(SnpCheck::ReportData));
    // And the other way round.
    b = bound(w, &w.switches);
    let a = appraise(w, &b, &w.switches[1..]);
    assert!(!a.cpu.as_ref().expect("cpu").checks.passed(SnpCheck::ReportData));
}

#[test]
fn switches_round_trip_and_a_switchless_reader_refuses_them() {
    let Some(w) = world() else { return };
    let b = bound(w, &w.switches);
    let json = b.to_json_with(&w.switches);
    let (back, switches) = EvidenceBundle::parse_with_switches(&json).expect("parses");
    assert_eq!(back, b);
    assert_eq!(switches, w.switches);
    match EvidenceBundle::parse(&json) {
        Err(ccgpu_attestation::BundleError::Field { field, .. }) => assert_eq!(field, "switches"),
        other => panic!("{other:?}"),
    }
    // A bundle without switches writes no `switches` field and reads the same either way.
    let plain = bound(w, &[]);
    let text = String::from_utf8(plain.to_json()).expect("utf8");
    assert!(!text.contains("switches"));
    assert_eq!(EvidenceBundle::parse(text.as_bytes()).expect("parses"), plain);
    // A malformed switch is refused naming it.
    let mut doc = b.to_document_with(&w.switches);
    doc.switches[2].report = "not base64!".into();
    let bad = serde_json::to_vec(&doc).expect("json");
    match EvidenceBundle::parse_with_switches(&bad) {
        Err(ccgpu_attestation::BundleError::Field { field, .. }) => assert_eq!(field, "switches[2].report"),
        other => panic!("{other:?}"),
    }
}
