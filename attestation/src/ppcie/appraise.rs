//! [`appraise_topology`] over the devices' PDIs, and [`appraise_ppcie`]: every device, then the topology.

use std::collections::BTreeSet;

use serde::Serialize;

use super::TopologyCheck;
use crate::appraisal::{Checks, Verdict};
use crate::gpu::{GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, appraise_gpu};
use crate::nvidia::spdm::{AttestationReport, Pdi};
use crate::switch::{SwitchAppraisal, SwitchEvidence, appraise_switch, device_pdi};

/// GPUs on an HGX board in PPCIe mode.
pub const HGX_GPUS: usize = 8;
/// NVSwitches on an HGX board.
pub const HGX_SWITCHES: usize = 4;

/// One device's place in the topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceLinks {
    /// Its own PDI, from its validated device certificate; `None` when not established.
    pub pdi: Option<Pdi>,
    /// The PDIs its report lists (a GPU: its switches, zero entries removed; a switch: its GPUs);
    /// `None` when the report did not parse.
    pub peers: Option<Vec<Pdi>>,
}

/// The topology's checks and verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopologyAppraisal {
    /// Affirming only when every check passed.
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks<TopologyCheck>,
    /// The GPUs' PDIs, in input order (`null` where not established).
    pub gpus: Vec<Option<Pdi>>,
    /// The switches' PDIs, in input order.
    pub switches: Vec<Option<Pdi>>,
}

/// Checks the board's topology from each device's PDI and the PDIs its report lists.
pub fn appraise_topology(gpus: &[DeviceLinks], switches: &[DeviceLinks]) -> TopologyAppraisal {
    let mut checks = Checks::default();
    let gpu_set = device_set(&mut checks, TopologyCheck::GpuSet, "GPU", gpus, HGX_GPUS);
    let switch_set = device_set(&mut checks, TopologyCheck::SwitchSet, "NVSwitch", switches, HGX_SWITCHES);
    links(&mut checks, TopologyCheck::GpuLinks, ("GPU", "switch", "switches"), gpus, switch_set.as_ref(), false);
    links(&mut checks, TopologyCheck::SwitchLinks, ("NVSwitch", "GPU", "GPUs"), switches, gpu_set.as_ref(), true);
    TopologyAppraisal {
        verdict: checks.verdict(),
        checks,
        gpus: gpus.iter().map(|d| d.pdi).collect(),
        switches: switches.iter().map(|d| d.pdi).collect(),
    }
}

/// Exactly `want` devices, each with a PDI, no PDI twice; the set when so.
fn device_set(
    checks: &mut Checks<TopologyCheck>,
    check: TopologyCheck,
    kind: &str,
    devices: &[DeviceLinks],
    want: usize,
) -> Option<BTreeSet<Pdi>> {
    if devices.len() != want {
        checks.fail(check, format!("{} {kind}(s), a PPCIe board has {want}", devices.len()));
        return None;
    }
    let mut set = BTreeSet::new();
    for (i, d) in devices.iter().enumerate() {
        let Some(pdi) = d.pdi else {
            checks.fail(check, format!("{kind} {i}: its PDI is not established (its device chain did not validate)"));
            return None;
        };
        if !set.insert(pdi) {
            checks.fail(check, format!("{kind} {i}: PDI {pdi} appears twice (one device counted twice)"));
            return None;
        }
    }
    checks.pass(check, format!("{want} distinct {kind} PDIs"));
    Some(set)
}

/// Every device's peer list is exactly `expected` (as a set; with `distinct`, also no repeats).
fn links(
    checks: &mut Checks<TopologyCheck>,
    check: TopologyCheck,
    (kind, peer, peers): (&str, &str, &str),
    devices: &[DeviceLinks],
    expected: Option<&BTreeSet<Pdi>>,
    distinct: bool,
) {
    let Some(expected) = expected else {
        return checks.not_run(check, format!("the set of {peers} is not established"));
    };
    for (i, d) in devices.iter().enumerate() {
        let Some(list) = &d.peers else {
            return checks.fail(check, format!("{kind} {i}: its report lists no {peer} PDIs"));
        };
        let named: BTreeSet<Pdi> = list.iter().copied().collect();
        if distinct && named.len() != list.len() {
            return checks.fail(check, format!("{kind} {i} lists a {peer} PDI more than once"));
        }
        let unknown: Vec<String> = named.difference(expected).map(Pdi::hex).collect();
        let missing: Vec<String> = expected.difference(&named).map(Pdi::hex).collect();
        if !unknown.is_empty() || !missing.is_empty() {
            return checks.fail(
                check,
                format!(
                    "{kind} {i}: {peer} PDIs not in the VM [{}], missing [{}]",
                    unknown.join(", "),
                    missing.join(", ")
                ),
            );
        }
    }
    checks.pass(check, format!("every {kind} names exactly the {} {peers}", expected.len()))
}

/// A whole PPCIe board: each GPU and switch appraised, then the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PpcieAppraisal {
    /// Affirming only when every device and the topology are.
    pub verdict: Verdict,
    /// Each GPU's appraisal, in input order.
    pub gpus: Vec<GpuAppraisal>,
    /// Each switch's appraisal, in input order.
    pub switches: Vec<SwitchAppraisal>,
    /// The topology.
    pub topology: TopologyAppraisal,
}

/// Appraises a PPCIe board: every GPU, every switch (one context, so one nonce and one cache: the
/// shared upper chain and RIMs are verified once), then the topology from the established PDIs.
pub fn appraise_ppcie(
    gpus: &[GpuEvidence<'_>],
    switches: &[SwitchEvidence<'_>],
    ctx: &GpuAppraise<'_>,
) -> PpcieAppraisal {
    let gpu_appraisals: Vec<GpuAppraisal> = gpus.iter().map(|g| appraise_gpu(g, ctx)).collect();
    let switch_appraisals: Vec<SwitchAppraisal> = switches.iter().map(|s| appraise_switch(s, ctx)).collect();
    let gpu_links: Vec<DeviceLinks> = gpus
        .iter()
        .zip(&gpu_appraisals)
        .map(|(e, a)| DeviceLinks {
            pdi: a.checks.passed(GpuCheck::DeviceChain).then(|| device_pdi(e.chain)).flatten(),
            peers: AttestationReport::parse(e.report).ok().and_then(|r| r.opaque().connected_switch_pdis()),
        })
        .collect();
    let switch_links: Vec<DeviceLinks> = switch_appraisals
        .iter()
        .map(|a| DeviceLinks { pdi: a.established_pdi(), peers: a.identity.gpu_pdis.clone() })
        .collect();
    let topology = appraise_topology(&gpu_links, &switch_links);
    let verdict = Verdict::worst(
        gpu_appraisals
            .iter()
            .map(|a| a.verdict)
            .chain(switch_appraisals.iter().map(|a| a.verdict))
            .chain([topology.verdict]),
    );
    PpcieAppraisal { verdict, gpus: gpu_appraisals, switches: switch_appraisals, topology }
}
