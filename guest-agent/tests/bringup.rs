//! Full bring-up against the simulated GPU, system, SEV-SNP device and PCI bus: 1, 2 and 8 GPUs reach
//! ready; and every failure injected at every step — for 1, 2 and 8 GPUs, on one GPU or on all — ends with
//! no GPU ready, the right reason on the right GPU, the ready state never set, and a contraindicated
//! record in an intact attestation log.

mod common;

use ccgpu_attestation::{LogVerdict, Policy};
use ccgpu_guest_agent::sim::{GpuFault, NvmlCall, NvmlErrorKind, SnpFault, SysCall, SysFault};
use ccgpu_guest_agent::{FailureReason, GpuState, Outcome, Supervision};
use ccgpu_pci::PciAddress;
use ccgpu_pci::sim::SimFunction;

use common::{Guest, assert_failed, assert_ready, failure_of};

#[test]
fn one_two_and_eight_gpus_reach_ready() {
    for n in [1u8, 2, 8] {
        let guest = Guest::new(n);
        let agent = guest.agent();
        let outcome = agent.bring_up();
        assert_ready(&guest, &agent, &outcome);
        // Driver parameters per GPU count, and bounded waits scaled by it.
        let calls = guest.fleet.system.calls();
        let nvidia = calls.iter().find_map(|c| match c {
            SysCall::Modprobe { module, params, .. } if module == "nvidia" => Some(params.clone()),
            _ => None,
        });
        let expected: Vec<String> = if n == 1 { vec!["NVreg_NvLinkDisable=1".into()] } else { vec![] };
        assert_eq!(nvidia, Some(expected), "{n} GPUs");
        assert!(calls.iter().any(|c| matches!(c, SysCall::Modprobe { module, .. } if module == "nvidia-uvm")));
        assert!(calls.iter().any(|c| matches!(c, SysCall::Persistenced { uvm: true, .. })));
        // Evidence: one report per GPU for one fresh nonce, every GPU's UUID known.
        assert_eq!(guest.fleet.gpus.report_calls(), usize::from(n));
        let s = agent.status().snapshot();
        assert!(s.gpus.iter().all(|g| g.uuid.is_some() && g.verdict.as_deref() == Some("affirming")));
        assert_eq!(s.last_verdict.as_deref(), Some("affirming"));
    }
}

#[test]
fn waits_scale_with_the_gpu_count() {
    use std::time::Duration;
    for n in [1u8, 8] {
        let mut guest = Guest::new(n);
        guest.config.waits.base = Duration::from_secs(30);
        guest.config.waits.per_gpu = Duration::from_secs(30);
        let agent = guest.agent();
        assert_ready(&guest, &agent, &agent.bring_up());
        let bound = Duration::from_secs(30 + 30 * u64::from(n));
        for c in guest.fleet.system.calls() {
            let t = match c {
                SysCall::Modprobe { timeout, .. } | SysCall::Persistenced { timeout, .. } => timeout,
            };
            assert_eq!(t, bound, "{n} GPUs");
        }
    }
}

/// Where a fault is injected.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Every GPU (or the system: modules, daemon, NVML as a whole, the CPU TEE).
    All,
    /// The last GPU only.
    Last,
}

struct Case {
    name: &'static str,
    target: Target,
    inject: fn(&Guest, Option<PciAddress>),
    reason: FailureReason,
    /// A failing check the failed GPU must name.
    check: Option<&'static str>,
    /// Text the failure detail must contain.
    detail: Option<&'static str>,
}

fn nvml(call: NvmlCall, gpu: Option<PciAddress>) -> GpuFault {
    GpuFault::Nvml { call, gpu, error: NvmlErrorKind::GpuLost }
}

fn cases() -> Vec<Case> {
    use FailureReason as R;
    use Target::{All, Last};
    vec![
        Case {
            name: "modprobe nvidia fails",
            target: All,
            inject: |g, _| {
                g.fleet.system.inject(SysFault::ModprobeFails {
                    module: "nvidia".into(),
                    stderr: "modprobe: ERROR: could not insert 'nvidia': No such device".into(),
                })
            },
            reason: R::ModuleLoad,
            check: None,
            detail: Some("could not insert 'nvidia'"),
        },
        Case {
            name: "modprobe nvidia-uvm hangs",
            target: All,
            inject: |g, _| g.fleet.system.inject(SysFault::ModprobeHangs { module: "nvidia-uvm".into() }),
            reason: R::ModuleLoad,
            check: None,
            detail: Some("killed"),
        },
        Case {
            name: "the driver never binds",
            target: All,
            inject: |g, _| g.fleet.system.inject(SysFault::DriverNeverBinds),
            reason: R::DriverNotBound,
            check: None,
            detail: Some("not bound to the nvidia driver"),
        },
        Case {
            name: "persistenced fails",
            target: All,
            inject: |g, _| g.fleet.system.inject(SysFault::PersistencedFails("Failed to query NVIDIA devices".into())),
            reason: R::Persistenced,
            check: None,
            detail: Some("Failed to query NVIDIA devices"),
        },
        Case {
            name: "persistenced never ready",
            target: All,
            inject: |g, _| g.fleet.system.inject(SysFault::PersistencedNeverReady),
            reason: R::Persistenced,
            check: None,
            detail: Some("no result after"),
        },
        Case {
            name: "NVML cannot be initialised",
            target: All,
            inject: |g, _| g.fleet.gpus.inject(GpuFault::Init),
            reason: R::NvmlUnavailable,
            check: None,
            detail: Some("NVML could not be initialised"),
        },
        Case {
            name: "NVML cannot list GPUs",
            target: All,
            inject: |g, _| g.fleet.gpus.inject(nvml(NvmlCall::List, None)),
            reason: R::GpuQuery,
            check: None,
            detail: Some("fell off the bus"),
        },
        Case {
            name: "NVML does not list the GPU",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::Missing(gpu.expect("a GPU"))),
            reason: R::UnknownToNvml,
            check: None,
            detail: None,
        },
        Case {
            name: "NVML UUID query fails",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(nvml(NvmlCall::Info, gpu)),
            reason: R::GpuQuery,
            check: None,
            detail: Some("NVML UUID"),
        },
        Case {
            name: "NVML CC settings query fails",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(nvml(NvmlCall::CcSettings, gpu)),
            reason: R::GpuQuery,
            check: None,
            detail: Some("CC mode"),
        },
        Case {
            name: "CC mode off",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::CcOff(gpu)),
            reason: R::CcOff,
            check: None,
            detail: None,
        },
        Case {
            name: "dev-tools mode on",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::DevTools(gpu)),
            reason: R::DevTools,
            check: None,
            detail: Some("allow_cc_dev_tools"),
        },
        Case {
            name: "NVML attestation report fails",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(nvml(NvmlCall::Report, gpu)),
            reason: R::Evidence,
            check: None,
            detail: Some("attestation report"),
        },
        Case {
            name: "NVML certificate chain fails",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(nvml(NvmlCall::Certificate, gpu)),
            reason: R::Evidence,
            check: None,
            detail: Some("certificate chain"),
        },
        Case {
            name: "wrong nonce returned",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::WrongNonce(gpu)),
            reason: R::Verification,
            check: Some("nonce"),
            detail: None,
        },
        Case {
            name: "evidence signed by a foreign key",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::ForeignKey(gpu)),
            reason: R::Verification,
            check: Some("report-signature"),
            detail: None,
        },
        Case {
            name: "RIM mismatch",
            target: Last,
            inject: |g, gpu| g.fleet.gpus.inject(GpuFault::RimMismatch(gpu)),
            reason: R::Verification,
            check: Some("measurements"),
            detail: None,
        },
        Case {
            name: "no SEV-SNP device",
            target: All,
            inject: |g, _| g.fleet.snp.inject(SnpFault::Absent),
            reason: R::Verification,
            check: Some("bundle:bundle-cpu"),
            detail: None,
        },
        Case {
            name: "SEV-SNP firmware error",
            target: All,
            inject: |g, _| g.fleet.snp.inject(SnpFault::FirmwareError),
            reason: R::CpuEvidence,
            check: None,
            detail: Some("INVALID_PARAM"),
        },
        Case {
            name: "SEV-SNP report not bound to this evidence",
            target: All,
            inject: |g, _| g.fleet.snp.inject(SnpFault::WrongReportData),
            reason: R::Verification,
            check: Some("cpu:snp-report-data"),
            detail: None,
        },
        Case {
            name: "SEV-SNP guest policy allows debugging",
            target: All,
            inject: |g, _| g.fleet.snp.inject(SnpFault::DebugPolicy),
            reason: R::Verification,
            check: Some("cpu:snp-guest-policy"),
            detail: None,
        },
        Case {
            name: "setting the ready state fails",
            target: All,
            inject: |g, _| g.fleet.gpus.inject(nvml(NvmlCall::SetReady, None)),
            reason: R::ReadyState,
            check: None,
            detail: Some("setting the CC ready state"),
        },
    ]
}

#[test]
fn every_failure_at_every_step_leaves_every_gpu_locked() {
    let mut wrong = Vec::new();
    for n in [1u8, 2, 8] {
        for case in cases() {
            let guest = Guest::new(n);
            let last = guest.fleet.addresses.last().copied();
            let target = match case.target {
                Target::All => None,
                Target::Last => last,
            };
            (case.inject)(&guest, target);
            let agent = guest.agent();
            let outcome = agent.bring_up();
            if case.reason == FailureReason::ReadyState {
                // The ready state was asked for and refused: the only case where set_ready(true) is called.
                assert!(matches!(outcome, Outcome::Failed(_)), "{}: {outcome:?}", case.name);
                assert!(!guest.fleet.gpus.is_ready());
                continue;
            }
            let s = assert_failed(&guest, &agent, &outcome);
            let index = usize::from(n) - 1;
            let (reason, detail, checks) = failure_of(&s, index);
            let mut problems = Vec::new();
            if reason != case.reason {
                problems.push(format!("reason {reason}, expected {}", case.reason));
            }
            if let Some(c) = case.check
                && !checks.iter().any(|x| x == c)
            {
                problems.push(format!("failed checks {checks:?} do not name {c}"));
            }
            if let Some(d) = case.detail
                && !detail.contains(d)
            {
                problems.push(format!("detail {detail:?} does not mention {d:?}"));
            }
            for i in 0..index {
                let (other, _, _) = failure_of(&s, i);
                let expected = match case.target {
                    Target::All => case.reason,
                    Target::Last => FailureReason::OtherGpuFailed,
                };
                if other != expected {
                    problems.push(format!("GPU {i}: reason {other}, expected {expected}"));
                }
            }
            let reason_text = match &outcome {
                Outcome::Failed(r) => r.clone(),
                _ => String::new(),
            };
            if !reason_text.contains(case.reason.name()) {
                problems.push(format!("outcome {reason_text:?} does not name {}", case.reason));
            }
            if !problems.is_empty() {
                wrong.push(format!("{n} GPU(s), {}: {}", case.name, problems.join("; ")));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn a_ready_state_that_fails_leaves_nothing_ready() {
    for fault in [nvml(NvmlCall::SetReady, None), GpuFault::ReadyDoesNotStick, nvml(NvmlCall::Ready, None)] {
        let guest = Guest::new(2);
        guest.fleet.gpus.inject(fault.clone());
        let agent = guest.agent();
        let outcome = agent.bring_up();
        assert!(matches!(outcome, Outcome::Failed(_)), "{fault:?}");
        let s = agent.status().snapshot();
        assert!(!s.ready && !guest.fleet.gpus.is_ready(), "{fault:?}");
        if fault == nvml(NvmlCall::Ready, None) {
            // Set, but unreadable afterwards: cleared rather than left in doubt.
            assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true, false]);
        }
        for i in 0..2 {
            assert_eq!(failure_of(&s, i).0, FailureReason::ReadyState, "{fault:?}");
        }
        // The affirming appraisal was recorded before the ready state was asked for; the failure after it.
        let verdicts: Vec<LogVerdict> = guest.records().iter().map(|r| r.verdict).collect();
        assert_eq!(verdicts, vec![LogVerdict::Affirming, LogVerdict::Contraindicated], "{fault:?}");
    }
}

#[test]
fn a_ready_state_set_by_someone_else_is_cleared_after_a_failure() {
    let guest = Guest::new(1);
    guest.fleet.gpus.force_ready(true);
    guest.fleet.gpus.inject(GpuFault::WrongNonce(None));
    let agent = guest.agent();
    assert!(matches!(agent.bring_up(), Outcome::Failed(_)));
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![false], "cleared as soon as NVML was up");
    assert!(!guest.fleet.gpus.is_ready());
    assert!(!agent.status().snapshot().ready);
}

#[test]
fn a_ready_state_set_before_verification_is_cleared_first() {
    let guest = Guest::new(2);
    guest.fleet.gpus.force_ready(true);
    let agent = guest.agent();
    assert_eq!(agent.bring_up(), Outcome::Ready);
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![false, true], "cleared before verification, set after");
}

#[test]
fn a_persistenced_already_running_is_not_started_again() {
    let guest = Guest::new(1);
    // As if an init (NVRC) had started it: a second start would fail, and is not attempted.
    let agent = guest.agent();
    assert_eq!(agent.bring_up(), Outcome::Ready);
    guest.fleet.system.inject(SysFault::PersistencedFails("Failed to lock PID file".into()));
    let again = guest.agent();
    assert_eq!(again.bring_up(), Outcome::Ready, "{:#?}", again.status().snapshot());
    let starts = guest.fleet.system.calls().iter().filter(|c| matches!(c, SysCall::Persistenced { .. })).count();
    assert_eq!(starts, 1);
}

#[test]
fn dev_tools_mode_is_released_only_when_the_policy_allows_it() {
    let mut policy = Policy::default();
    policy.gpu.allow_cc_dev_tools = true;
    let guest = Guest::new(2).with_policy(policy);
    guest.fleet.gpus.inject(GpuFault::DevTools(None));
    let agent = guest.agent();
    let outcome = agent.bring_up();
    assert_ready(&guest, &agent, &outcome);
    assert!(agent.status().snapshot().gpus.iter().all(|g| g.cc.is_some_and(|c| c.dev_tools)));
}

#[test]
fn a_policy_on_versions_is_enforced() {
    let guest = Guest::new(2).with_policy(Policy::parse("[gpu]\nmin_driver_version = \"600\"\n").expect("policy"));
    let agent = guest.agent();
    let outcome = agent.bring_up();
    let s = assert_failed(&guest, &agent, &outcome);
    for i in 0..2 {
        let (reason, _, checks) = failure_of(&s, i);
        assert_eq!(reason, FailureReason::Verification);
        assert!(checks.contains(&"policy".to_owned()), "{checks:?}");
    }
}

#[test]
fn gpu_count_and_nvswitches_are_checked_before_anything_is_loaded() {
    let mut guest = Guest::new(2);
    guest.config.expect_gpus = Some(8);
    let agent = guest.agent();
    let s = assert_failed(&guest, &agent, &agent.bring_up());
    assert_eq!(failure_of(&s, 0).0, FailureReason::UnexpectedGpuCount);
    assert!(guest.fleet.system.calls().is_empty(), "no module was loaded");

    let guest = Guest::new(2);
    let switch = PciAddress::new(0, 0x20, 0, 0).expect("address");
    guest.fleet.bus.add_function(SimFunction::new(switch, 0x10de, 0x22a3, 0x068000));
    let agent = guest.agent();
    let s = assert_failed(&guest, &agent, &agent.bring_up());
    assert_eq!(failure_of(&s, 1).0, FailureReason::NvSwitchUnsupported);
    assert!(guest.fleet.system.calls().is_empty());
}

#[test]
fn no_gpu_is_not_an_error() {
    let guest = Guest::new(0);
    let agent = guest.agent();
    assert_eq!(agent.bring_up(), Outcome::NoGpus);
    assert!(guest.fleet.system.calls().is_empty());
    guest.assert_never_ready();
}

#[test]
fn an_unwritable_attestation_log_keeps_the_gpus_locked() {
    let mut guest = Guest::new(1);
    guest.config.log = "/dev/null/attestation.log".into();
    let agent = guest.agent();
    let outcome = agent.bring_up();
    assert!(matches!(outcome, Outcome::Failed(_)));
    assert_eq!(failure_of(&agent.status().snapshot(), 0).0, FailureReason::AttestationLog);
    guest.assert_never_ready();
}

#[test]
fn persistenced_is_supervised_and_restarted() {
    let guest = Guest::new(1);
    let agent = guest.agent();
    assert_eq!(agent.check_persistenced(), Supervision::NotStarted);
    assert_ready(&guest, &agent, &agent.bring_up());
    assert_eq!(agent.check_persistenced(), Supervision::Alive);
    guest.fleet.system.inject(SysFault::PersistencedDies);
    assert_eq!(agent.check_persistenced(), Supervision::Restarted);
    guest.fleet.system.inject(SysFault::PersistencedFails("cannot restart".into()));
    assert!(matches!(agent.check_persistenced(), Supervision::Down(e) if e.contains("cannot restart")));
    assert!(matches!(agent.check_persistenced(), Supervision::Down(_)));
    assert!(matches!(agent.check_persistenced(), Supervision::Down(e) if e.contains("gave up")));
    // Supervision never touches the ready state.
    assert_eq!(guest.fleet.gpus.set_ready_calls(), vec![true]);
}

#[test]
fn a_failed_gpu_state_is_final_and_timed() {
    let guest = Guest::new(8);
    let target = guest.fleet.addresses[3];
    guest.fleet.gpus.inject(GpuFault::CcOff(Some(target)));
    let agent = guest.agent();
    let s = assert_failed(&guest, &agent, &agent.bring_up());
    let g = &s.gpus[3];
    let f = g.failure.as_ref().expect("failure");
    assert_eq!((f.at, f.reason), (GpuState::PersistencedUp, FailureReason::CcOff));
    assert_eq!(g.timings.last().map(|t| t.0), Some(GpuState::Failed));
    // The others got as far as verification: the ready state is system-wide, so they are held back too.
    for (i, other) in s.gpus.iter().enumerate().filter(|(i, _)| *i != 3) {
        let f = other.failure.as_ref().expect("held back");
        assert_eq!((f.at, f.reason), (GpuState::Verified, FailureReason::OtherGpuFailed), "GPU {i}");
    }
    // One record names every GPU: the seven appraised and the one that never got that far.
    let records = guest.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.devices.iter().filter(|d| d.kind == ccgpu_attestation::DeviceKind::Gpu).count(), 8);
    assert!(r.failed_checks.iter().any(|c| c.ends_with("agent:cc-off")), "{:?}", r.failed_checks);
}

#[test]
fn a_guest_clock_rolled_back_before_the_build_is_raised_to_the_build_time() {
    use ccgpu_guest_agent::{LocalVerifier, build_time_floor};
    use time::format_description::well_known::Rfc3339;

    // The host sets the guest clock to 2000, before the simulated PKI's certificates were valid (2023): a
    // verifier judging at the guest clock would refuse them (or, with real certificates, accept ones that
    // expired since). Judged at the build time instead, they verify.
    let guest = Guest::new(1);
    let verifier = guest
        .fleet
        .local_verifier(guest.config.policy.clone())
        .expect("verifier")
        .with_clock(|| time::macros::datetime!(2000-01-01 0:00 UTC));
    assert_eq!(verifier.floor(), build_time_floor());
    let verifier: std::sync::Arc<LocalVerifier> = std::sync::Arc::new(verifier);
    let agent = guest.agent_with(verifier);
    let outcome = agent.bring_up();
    assert_ready(&guest, &agent, &outcome);
    let floor = build_time_floor().format(&Rfc3339).expect("format");
    let appraisal: serde_json::Value =
        serde_json::from_slice(&agent.appraisal().expect("appraisal").json).expect("JSON");
    assert_eq!(appraisal["verified_at"], floor.as_str(), "judged at the build time, not at the guest clock");
    let verified_at = guest.records()[0].verified_at.as_ref().map(ToString::to_string);
    assert_eq!(verified_at.as_deref(), Some(floor.as_str()));
}
