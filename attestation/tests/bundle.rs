//! Composite evidence: the real H100 evidence bound into a simulated SEV-SNP report of the project's own
//! test PKI verifies; every swap, replay, drop, add or reorder breaks the REPORT_DATA binding; malformed
//! bundles are refused precisely; the result renders as an EAR, signed or not.

mod common;

use ccgpu_attestation::{
    AmdRoots, Anchors, AttestationReport, BundleAppraise, BundleCheck, BundleError, BundleRevocation,
    CompositeAppraisal, CpuEvidence, EvidenceBundle, GpuBundleEvidence, GpuCheck, Policy, Product, SnpCheck, Tcb,
    Verdict, appraise_bundle,
    sim::{DevicePki, ReportBuilder, SnpPki, SnpReportBuilder, VekSpec},
};

struct World {
    base: ccgpu_attestation::sim::RealEvidence,
    snp: SnpPki,
    roots: AmdRoots,
}

const CHIP_ID: [u8; 64] = [0x5a; 64];
const TCB: Tcb = Tcb { bootloader: 10, tee: 0, snp: 23, microcode: 72, fmc: None };

/// One simulated AMD PKI for the whole test binary (RSA-4096 key generation takes seconds).
fn world() -> Option<&'static World> {
    static WORLD: std::sync::OnceLock<Option<World>> = std::sync::OnceLock::new();
    WORLD
        .get_or_init(|| {
            let base = common::h100()?;
            let snp = SnpPki::generate(Product::Genoa).expect("snp pki");
            let roots = snp.roots().expect("roots");
            Some(World { base, snp, roots })
        })
        .as_ref()
}

fn gpu(report: Vec<u8>, w: &World) -> GpuBundleEvidence {
    GpuBundleEvidence {
        uuid: Some("GPU-11111111-2222-3333-4444-555555555555".into()),
        bdf: Some("0000:01:00.0".into()),
        report,
        chain: w.base.chain.clone(),
        driver_rim: Some(w.base.driver.clone()),
        vbios_rim: Some(w.base.vbios.clone()),
        ocsp: Vec::new(),
    }
}

/// A CPU report of the simulated PKI carrying `report_data`.
fn cpu(w: &World, report_data: &[u8; 64]) -> CpuEvidence {
    let vek = w.snp.issue_vek(&VekSpec::vcek(Product::Genoa, TCB, &CHIP_ID)).expect("vcek");
    let mut b = SnpReportBuilder::new(Product::Genoa, 3, &TCB, &CHIP_ID);
    b.set_report_data(report_data);
    CpuEvidence { report: b.sign(&vek).expect("sign"), vek: vek.der.clone(), ask_ark: None }
}

/// A bundle whose CPU report binds exactly its GPUs and nonce.
fn bound(w: &World, nonce: [u8; 32], gpus: Vec<GpuBundleEvidence>) -> EvidenceBundle {
    let mut b = EvidenceBundle { nonce, cpu: None, gpus };
    let rd = b.expected_report_data();
    b.cpu = Some(cpu(w, &rd));
    b
}

fn appraise(w: &World, b: &EvidenceBundle) -> CompositeAppraisal {
    appraise_with(w, b, &Policy::default())
}

fn appraise_with(w: &World, b: &EvidenceBundle, policy: &Policy) -> CompositeAppraisal {
    let anchors = Anchors::nvidia();
    appraise_bundle(
        b,
        &BundleAppraise {
            expected_nonce: Some(&w.base.nonce),
            at: w.base.at,
            anchors: &anchors,
            amd_roots: &w.roots,
            policy,
            revocation: BundleRevocation::NotChecked,
            cache: None,
        },
    )
}

fn binding_failed(a: &CompositeAppraisal) -> bool {
    a.cpu.as_ref().is_some_and(|c| c.checks.failures().contains(&SnpCheck::ReportData))
}

#[test]
fn real_gpu_evidence_bound_into_a_simulated_snp_report_is_affirming() {
    let Some(w) = world() else { return };
    let b = bound(w, w.base.nonce, vec![gpu(w.base.report.clone(), w)]);
    // Through the wire format and back.
    let b = EvidenceBundle::parse(&b.to_json()).expect("round trip");
    // The default policy pins no launch measurement: every check passes, the CPU part is a warning, and
    // so is the bundle (its worst part), never affirming.
    let a = appraise(w, &b);
    assert_eq!(a.failures(), Vec::<String>::new());
    let cpu = a.cpu.as_ref().expect("cpu");
    assert!(cpu.checks.passed(SnpCheck::ReportData));
    assert_eq!((cpu.verdict, a.verdict), (Verdict::Warning, Verdict::Warning));
    assert!(cpu.warnings[0].contains("pins no launch measurement"), "{:?}", cpu.warnings);
    let ear = serde_json::to_value(a.to_ear(1, "test")).expect("ear");
    assert_eq!(
        (ear["ear_status"].as_str(), ear["submods"]["cpu"]["ear_status"].as_str()),
        (Some("warning"), Some("warning"))
    );
    // Pinned, it is affirming.
    let mut pinned = Policy::default();
    let m: [u8; 48] =
        hex::decode(cpu.identity.measurement.as_deref().expect("measurement")).expect("hex").try_into().expect("48");
    pinned.snp.measurements = Some(vec![ccgpu_attestation::Measurement(m)]);
    let a = appraise_with(w, &b, &pinned);
    assert_eq!(a.verdict, Verdict::Affirming, "{:?}", a.failures());
    // The same evidence under AMD's real roots: the simulated chain is refused.
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let amd = AmdRoots::amd();
    let real_roots = appraise_bundle(
        &b,
        &BundleAppraise {
            expected_nonce: Some(&w.base.nonce),
            at: w.base.at,
            anchors: &anchors,
            amd_roots: &amd,
            policy: &policy,
            revocation: BundleRevocation::NotChecked,
            cache: None,
        },
    );
    assert_eq!(real_roots.verdict, Verdict::Contraindicated);
}

#[test]
fn every_swap_and_replay_breaks_the_binding() {
    let Some(w) = world() else { return };
    let parsed = AttestationReport::parse(&w.base.report).expect("report");
    // A second GPU: the same content re-signed by a simulated device (its own chain; it fails the GPU
    // verifier under NVIDIA's roots, but what matters here is the CPU binding).
    let fwid = parsed.opaque().fwid.expect("fwid");
    let other_pki = DevicePki::generate("GH100", &fwid).expect("pki");
    let mut other = gpu(ReportBuilder::from_report(&parsed).sign(&other_pki).expect("sign"), w);
    other.chain = other_pki.chain.clone();
    let real = gpu(w.base.report.clone(), w);

    let two = bound(w, w.base.nonce, vec![real.clone(), other.clone()]);
    assert!(!binding_failed(&appraise(w, &two)), "the untouched two-GPU bundle binds");

    let mut reordered = two.clone();
    reordered.gpus.reverse();
    assert!(binding_failed(&appraise(w, &reordered)), "reordered GPUs");

    let mut dropped = two.clone();
    dropped.gpus.pop();
    assert!(binding_failed(&appraise(w, &dropped)), "a GPU dropped");

    let mut added = bound(w, w.base.nonce, vec![real.clone()]);
    added.gpus.push(other.clone());
    assert!(binding_failed(&appraise(w, &added)), "a GPU added");

    // A GPU report taken from another VM's bundle (here: the other GPU's) in place of this VM's.
    let mut swapped = bound(w, w.base.nonce, vec![real.clone()]);
    swapped.gpus[0] = other.clone();
    assert!(binding_failed(&appraise(w, &swapped)), "GPU evidence swapped between VMs");

    // The CPU report of another VM (bound to other GPU evidence) with this VM's GPU.
    let mut foreign_cpu = bound(w, w.base.nonce, vec![real.clone()]);
    foreign_cpu.cpu = bound(w, w.base.nonce, vec![other.clone()]).cpu;
    assert!(binding_failed(&appraise(w, &foreign_cpu)), "CPU report from another VM");

    // Replay under a fresh nonce: the GPU report carries the old nonce and the CPU report the old binding.
    let mut replay = bound(w, w.base.nonce, vec![real.clone()]);
    replay.nonce[0] ^= 1;
    let a = appraise(w, &replay);
    assert!(binding_failed(&a), "replayed with a new nonce");
    assert!(a.gpus[0].appraisal.checks.failures().contains(&GpuCheck::Nonce));

    // A verbatim old bundle under a new challenge: refused as stale, and without any expected nonce the
    // default policy refuses to call it fresh.
    let old = bound(w, w.base.nonce, vec![real.clone()]);
    let anchors = Anchors::nvidia();
    let policy = Policy::default();
    let ctx = |expected| BundleAppraise {
        expected_nonce: expected,
        at: w.base.at,
        anchors: &anchors,
        amd_roots: &w.roots,
        policy: &policy,
        revocation: BundleRevocation::NotChecked,
        cache: None,
    };
    let fresh = [0x77; 32];
    assert_eq!(appraise_bundle(&old, &ctx(Some(&fresh))).checks.failures(), vec![BundleCheck::Nonce]);
    assert_eq!(appraise_bundle(&old, &ctx(None)).checks.failures(), vec![BundleCheck::Nonce]);

    // The same GPU twice.
    let twice = bound(w, w.base.nonce, vec![real.clone(), real.clone()]);
    let a = appraise(w, &twice);
    assert!(a.checks.failures().contains(&BundleCheck::Gpus), "{:?}", a.failures());

    // The same GPU twice with different reports (re-signed by its own key: every signed byte differs).
    let mut again = real.clone();
    again.report = ReportBuilder::from_report(&parsed).sign(&other_pki).expect("sign");
    again.chain = other_pki.chain.clone();
    let a = appraise(w, &bound(w, w.base.nonce, vec![other.clone(), again]));
    assert!(a.checks.failures().contains(&BundleCheck::Gpus), "{:?}", a.failures());

    // The same GPU twice, its device certificate re-encoded with the other valid ECDSA signature
    // (s → n − s): different bytes, the same statement by NVIDIA, still verifying.
    let mut malleated = real.clone();
    let mut ders = real.chain.ders().to_vec();
    ders[1] = malleate_ecdsa_p384(&ders[1]);
    assert_ne!(ders[1], real.chain.ders()[1]);
    malleated.chain = ccgpu_attestation::CertChain::from_der_list(ders).expect("still a certificate");
    let alone = appraise(w, &bound(w, w.base.nonce, vec![malleated.clone()]));
    assert!(alone.gpus[0].appraisal.checks.passed(GpuCheck::DeviceChain), "the malleated certificate still verifies");
    let a = appraise(w, &bound(w, w.base.nonce, vec![real.clone(), malleated]));
    let gpus = a.checks.get(BundleCheck::Gpus).expect("recorded");
    assert!(gpus.blocks() && gpus.text().contains("same device identity key as GPU 0"), "{gpus:?}");
    assert_eq!(a.verdict, Verdict::Contraindicated);

    // Mixed topology modes in one VM.
    let mut mpt = ReportBuilder::from_report(&parsed);
    mpt.opaque.push(ccgpu_attestation::OpaqueType::FeatureFlag, vec![1]);
    let mut spt = ReportBuilder::from_report(&parsed);
    spt.opaque.push(ccgpu_attestation::OpaqueType::FeatureFlag, vec![0]);
    let second = DevicePki::generate("GH100", &fwid).expect("pki");
    let mut g1 = gpu(mpt.sign(&other_pki).expect("sign"), w);
    g1.chain = other_pki.chain.clone();
    let mut g2 = gpu(spt.sign(&second).expect("sign"), w);
    g2.chain = second.chain.clone();
    let a = appraise(w, &bound(w, w.base.nonce, vec![g1, g2]));
    let bundle_check = a.checks.get(BundleCheck::Gpus).expect("recorded");
    assert!(bundle_check.text().contains("one VM, one mode"), "{bundle_check:?}");

    // Protected PCIe without NVSwitch evidence: refused by the verifier itself, one GPU or several (PPCIe
    // requires a full, consistent switch set: bundle_ppcie.rs).
    let mut ppcie = ReportBuilder::from_report(&parsed);
    ppcie.opaque.push(ccgpu_attestation::OpaqueType::FeatureFlag, vec![2]);
    let mut p1 = gpu(ppcie.sign(&other_pki).expect("sign"), w);
    p1.chain = other_pki.chain.clone();
    let mut p2 = gpu(ppcie.sign(&second).expect("sign"), w);
    p2.chain = second.chain.clone();
    for gpus in [vec![p1.clone()], vec![p1, p2]] {
        let a = appraise(w, &bound(w, w.base.nonce, gpus));
        let check = a.checks.get(BundleCheck::Topology).expect("recorded");
        assert!(check.blocks() && check.text().contains("no NVSwitch evidence"), "{check:?}");
        assert_eq!(a.verdict, Verdict::Contraindicated);
    }

    // No CPU evidence at all: nothing binds the GPUs to a VM.
    let mut no_cpu = bound(w, w.base.nonce, vec![real]);
    no_cpu.cpu = None;
    let a = appraise(w, &no_cpu);
    assert_eq!(a.verdict, Verdict::Contraindicated);
    assert_eq!(a.failures(), vec!["bundle:bundle-cpu".to_owned()]);
}

#[test]
fn malformed_bundles_are_refused_precisely() {
    let Some(w) = world() else { return };
    let good = bound(w, w.base.nonce, vec![gpu(w.base.report.clone(), w)]).to_json();
    let text = String::from_utf8(good.clone()).expect("utf8");
    for len in [0, 1, good.len() / 2, good.len() - 1] {
        assert!(matches!(EvidenceBundle::parse(&good[..len]), Err(BundleError::Json(_))), "prefix {len}");
    }
    let unknown = text.replacen("\"nonce\"", "\"extra\": 1, \"nonce\"", 1);
    assert!(
        matches!(EvidenceBundle::parse(unknown.as_bytes()), Err(BundleError::Json(e)) if e.contains("unknown field"))
    );
    let v2 = text.replacen("\"version\": 1", "\"version\": 2", 1);
    assert_eq!(
        EvidenceBundle::parse(v2.as_bytes()),
        Err(BundleError::Version { format: "ccgpu-evidence-bundle".into(), version: 2 })
    );
    let bad_b64 = text.replacen("\"report\": \"", "\"report\": \"!!", 1);
    assert!(
        matches!(EvidenceBundle::parse(bad_b64.as_bytes()), Err(BundleError::Field { field, .. }) if field == "cpu.report")
    );
    let short_nonce = text.replacen(&format!("\"nonce\": \"{}", hex::encode(w.base.nonce)), "\"nonce\": \"abcd", 1);
    assert!(
        matches!(EvidenceBundle::parse(short_nonce.as_bytes()), Err(BundleError::Field { field, .. }) if field == "nonce")
    );
}

#[test]
fn composite_appraisal_renders_as_an_ear_and_signs_as_a_jwt() {
    let Some(w) = world() else { return };
    let b = bound(w, w.base.nonce, vec![gpu(w.base.report.clone(), w)]);
    let a = appraise(w, &b);
    let ear = a.to_ear(1_756_684_800, "ccgpu test");
    let json = serde_json::to_value(&ear).expect("json");
    // The CPU part is affirming but at most "warning" overall: the default policy pins no launch measurement.
    assert_eq!(json["ear_status"], "warning");
    let submods = json["submods"].as_object().expect("submods");
    assert_eq!(submods.keys().collect::<Vec<_>>(), vec!["bundle", "cpu", "gpu-0"]);
    assert_eq!(submods["gpu-0"]["ear_status"], "affirming");
    assert_eq!(submods["cpu"]["ear_status"], "warning");
    assert!(
        submods["cpu"]["ear_verifier_claims"]["warnings"][0].as_str().expect("warning").contains("snp.measurements")
    );
    assert_eq!(submods["gpu-0"]["ear_trustworthiness_vector"]["hardware"], 2);
    assert_eq!(submods["gpu-0"]["ear_verifier_claims"]["measres"], "success");
    // eat_nonce carries the nonce's bytes (base64url), not its hex text.
    use base64::Engine as _;
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(json["eat_nonce"].as_str().expect("nonce"))
        .expect("b64url");
    assert_eq!(nonce, w.base.nonce);

    // A contraindicated GPU drags the whole result down.
    let mut bad = b.clone();
    bad.gpus[0].driver_rim = None;
    let ear = appraise(w, &bad).to_ear(1_756_684_800, "ccgpu test");
    let json = serde_json::to_value(&ear).expect("json");
    assert_eq!(json["ear_status"], "contraindicated");

    // Signed as a JWT (ES384) and verified back with the public key.
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .expect("key");
    let key_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
    let jwt =
        a.to_ear(1_756_684_800, "ccgpu test").sign_jwt_pem(ear::Algorithm::ES384, key_pem.as_bytes()).expect("sign");
    assert_eq!(jwt.split('.').count(), 3);
}

/// One DER TLV at the start of `b`: (tag, content, total length).
fn tlv(b: &[u8]) -> (u8, &[u8], usize) {
    let (len, hdr) = match b[1] {
        l if l < 0x80 => (usize::from(l), 2),
        0x81 => (usize::from(b[2]), 3),
        0x82 => (usize::from(b[2]) << 8 | usize::from(b[3]), 4),
        l => panic!("length form {l:#x}"),
    };
    (b[0], &b[hdr..hdr + len], hdr + len)
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = u16::try_from(content.len()).expect("short").to_be_bytes();
    match content.len() {
        l if l < 0x80 => out.push(len[1]),
        l if l < 0x100 => out.extend([0x81, len[1]]),
        _ => out.extend([0x82, len[0], len[1]]),
    }
    out.extend_from_slice(content);
    out
}

/// `cert` with its ECDSA P-384 signature (r, s) replaced by (r, n − s), the other signature that verifies.
fn malleate_ecdsa_p384(cert: &[u8]) -> Vec<u8> {
    const N: [u8; 48] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
        0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
    ];
    let (_, body, _) = tlv(cert);
    let (_, _, tbs_len) = tlv(body);
    let (_, _, alg_len) = tlv(&body[tbs_len..]);
    let (tag, bits, _) = tlv(&body[tbs_len + alg_len..]);
    assert_eq!((tag, bits[0]), (0x03, 0), "a BIT STRING without unused bits");
    let (_, sig, _) = tlv(&bits[1..]);
    let (_, r, r_len) = tlv(sig);
    let (_, s, _) = tlv(&sig[r_len..]);
    let s = s.strip_prefix(&[0]).unwrap_or(s);
    let mut padded = [0u8; 48];
    padded[48 - s.len()..].copy_from_slice(s);
    let (mut out, mut borrow) = ([0u8; 48], 0u16);
    for i in (0..48).rev() {
        // 256 + n_i - s_i - borrow, in 0..=511; its low byte is the digit, a carry below 256 the borrow.
        let d = 256 + u16::from(N[i]) - u16::from(padded[i]) - borrow;
        borrow = u16::from(d < 256);
        out[i] = d.to_be_bytes()[1];
    }
    let mut n_minus_s: Vec<u8> = out.iter().copied().skip_while(|b| *b == 0).collect();
    if n_minus_s[0] & 0x80 != 0 {
        n_minus_s.insert(0, 0);
    }
    let sig = encode(0x30, &[encode(0x02, r), encode(0x02, &n_minus_s)].concat());
    let bits = encode(0x03, &[&[0][..], &sig].concat());
    encode(0x30, &[&body[..tbs_len + alg_len], &bits[..]].concat())
}
