//! Every manifest in deploy/ parses into typed `k8s-openapi` objects (and re-encodes to the same JSON, so
//! a misspelt field cannot hide), and the names, paths, flags and permissions agree with the binary's
//! defaults and with what the code calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ccgpu_host_shim::Budgets;
use ccgpu_host_shim::defaults;
use ccgpu_host_shim::parse_duration;
use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaimTemplate};
use serde::Deserialize;
use serde_json::Value;

#[derive(Default)]
struct Manifests {
    daemonsets: Vec<DaemonSet>,
    service_accounts: Vec<ServiceAccount>,
    roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    device_classes: Vec<DeviceClass>,
    runtime_classes: Vec<RuntimeClass>,
    templates: Vec<ResourceClaimTemplate>,
    pods: Vec<Pod>,
    namespaces: Vec<Namespace>,
    policies: Vec<ValidatingAdmissionPolicy>,
    policy_bindings: Vec<ValidatingAdmissionPolicyBinding>,
}

/// Parses `doc` as `T` and checks it re-encodes to the same JSON.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(file: &Path, doc: &Value) -> T {
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let back = serde_json::to_value(&t).unwrap();
    assert_eq!(&back, doc, "{}: fields lost in the typed round trip (a typo?)", file.display());
    t
}

fn load() -> Manifests {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let mut m = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc: Value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let api = doc["apiVersion"].as_str().unwrap_or_default().to_owned();
            match (api.as_str(), kind.as_str()) {
                ("apps/v1", "DaemonSet") => m.daemonsets.push(typed(&file, &doc)),
                ("v1", "ServiceAccount") => m.service_accounts.push(typed(&file, &doc)),
                ("v1", "Namespace") => m.namespaces.push(typed(&file, &doc)),
                ("v1", "Pod") => m.pods.push(typed(&file, &doc)),
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => m.roles.push(typed(&file, &doc)),
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => m.bindings.push(typed(&file, &doc)),
                ("resource.k8s.io/v1", "DeviceClass") => m.device_classes.push(typed(&file, &doc)),
                ("resource.k8s.io/v1", "ResourceClaimTemplate") => m.templates.push(typed(&file, &doc)),
                ("node.k8s.io/v1", "RuntimeClass") => m.runtime_classes.push(typed(&file, &doc)),
                ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => m.policies.push(typed(&file, &doc)),
                ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => {
                    m.policy_bindings.push(typed(&file, &doc));
                }
                other => panic!("{}: unexpected object {other:?}", file.display()),
            }
        }
    }
    m
}

#[test]
fn the_daemonset_agrees_with_the_binary() {
    let m = load();
    let [ds] = m.daemonsets.as_slice() else { panic!("one DaemonSet") };
    let ns = ds.metadata.namespace.as_deref().unwrap();
    assert_eq!(m.namespaces[0].metadata.name.as_deref(), Some(ns));
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let [c] = pod.containers.as_slice() else { panic!("one container") };

    // Every env var is one the binary reads, and its value is the binary's default.
    let help = Command::new(env!("CARGO_BIN_EXE_ccgpu-kubelet-plugin")).arg("--help").output().unwrap();
    // Help text is wrapped; compare with whitespace runs folded.
    let help = String::from_utf8(help.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    let env: BTreeMap<&str, Option<&str>> =
        c.env.iter().flatten().map(|e| (e.name.as_str(), e.value.as_deref())).collect();
    for name in env.keys() {
        assert!(help.contains(&format!("[env: {name}=")), "{name} is not a flag's env var:\n{help}");
    }
    let node_name = c.env.iter().flatten().find(|e| e.name == "NODE_NAME").unwrap();
    assert_eq!(
        node_name.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
        "spec.nodeName",
        "node name from the downward API"
    );
    for (name, default) in [
        ("CCGPU_DRIVER_NAME", defaults::DRIVER_NAME),
        ("CCGPU_KUBELET_ROOT", defaults::KUBELET_ROOT),
        ("CCGPU_CDI_DIR", defaults::CDI_DIR),
        ("CCGPU_CHECKPOINT_DIR", defaults::CHECKPOINT_DIR),
        ("CCGPU_SYSFS_ROOT", defaults::SYSFS_ROOT),
        ("CCGPU_MATCH", defaults::MATCH),
        ("CCGPU_METRICS_ADDRESS", defaults::METRICS_ADDRESS),
    ] {
        assert_eq!(env.get(name).copied().flatten(), Some(default), "{name}");
    }

    // Mounts: exactly the host paths the plugin uses, at the same paths inside.
    let volumes: BTreeMap<&str, &str> = pod
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v.host_path.as_ref().map(|h| h.path.as_str()).expect("hostPath volumes only")))
        .collect();
    let mounts: BTreeMap<&str, &str> =
        c.volume_mounts.iter().flatten().map(|m| (m.mount_path.as_str(), m.name.as_str())).collect();
    let root = Path::new(defaults::KUBELET_ROOT);
    let needed = [
        root.join("plugins_registry"),
        root.join("plugins"),
        PathBuf::from(defaults::SYSFS_ROOT),
        Path::new(defaults::DEV_ROOT).join("vfio"),
        PathBuf::from(defaults::CDI_DIR),
        PathBuf::from(defaults::CHECKPOINT_DIR),
    ];
    let needed: BTreeSet<String> = needed.iter().map(|p| p.to_str().unwrap().to_owned()).collect();
    let mounted: BTreeSet<String> = mounts.keys().map(|p| (*p).to_owned()).collect();
    assert_eq!(mounted, needed, "mounts");
    for (path, volume) in &mounts {
        assert_eq!(volumes[volume], *path, "{volume} is mounted where it is on the host");
    }
    assert_eq!(volumes.len(), mounts.len(), "no unused volumes");

    // Shutdown (one deadline for every phase) ends before the kubelet kills the pod, with time to exit;
    // a claim call in flight at SIGTERM (its own budget) can finish within it.
    let pod_grace = Duration::from_secs(u64::try_from(pod.termination_grace_period_seconds.unwrap()).unwrap());
    let shutdown = env.get("CCGPU_SHUTDOWN_GRACE").copied().flatten().unwrap_or(defaults::SHUTDOWN_GRACE);
    assert!(help.contains(&format!("[env: CCGPU_SHUTDOWN_GRACE=] [default: {}]", defaults::SHUTDOWN_GRACE)), "{help}");
    let shutdown = parse_duration(shutdown).unwrap();
    assert!(
        shutdown + Duration::from_secs(5) <= pod_grace,
        "shutdown grace {shutdown:?} must end well inside terminationGracePeriodSeconds {pod_grace:?}"
    );
    assert!(Budgets::default().total + Duration::from_secs(5) <= shutdown, "an in-flight claim finishes in time");
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.privileged, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(pod.host_pid, Some(true));
    assert_eq!(pod.host_network, None, "no host network");
    let probe = c.liveness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
    assert_eq!(probe.path.as_deref(), Some("/healthz"));
    let port = c.ports.iter().flatten().next().unwrap().container_port;
    assert!(defaults::METRICS_ADDRESS.ends_with(&format!(":{port}")));

    // Rolling updates: surge, the per-pod socket names from the pod's UID, and a hand-over wait longer than
    // the old pod's grace (deploy/README.md, "Rolling updates").
    let strategy = ds.spec.as_ref().unwrap().update_strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.as_ref().unwrap();
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    let pod_uid = c.env.iter().flatten().find(|e| e.name == "POD_UID").expect("POD_UID");
    assert_eq!(pod_uid.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path, "metadata.uid");
    assert!(help.contains(&format!("[env: CCGPU_HANDOVER_WAIT=] [default: {}]", defaults::HANDOVER_WAIT)), "{help}");
    let handover = env.get("CCGPU_HANDOVER_WAIT").copied().flatten().unwrap_or(defaults::HANDOVER_WAIT);
    let handover = parse_duration(handover).unwrap();
    assert!(handover > pod_grace, "the new pod waits {handover:?}, longer than the old one's grace {pod_grace:?}");

    // Its service account is the one the RBAC binds.
    let sa = pod.service_account_name.as_deref().unwrap();
    assert_eq!(m.service_accounts[0].metadata.name.as_deref(), Some(sa));
    let subject = &m.bindings[0].subjects.as_ref().unwrap()[0];
    assert_eq!((subject.name.as_str(), subject.namespace.as_deref()), (sa, Some(ns)));
    assert_eq!(m.bindings[0].role_ref.name, m.roles[0].metadata.name.clone().unwrap());
}

#[test]
fn rbac_allows_exactly_what_the_code_calls() {
    let m = load();
    let mut granted = BTreeSet::new();
    for rule in m.roles[0].rules.iter().flatten() {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    let wanted: BTreeSet<String> = [
        "resource.k8s.io/resourceclaims:get",
        "resource.k8s.io/resourceslices:get",
        "resource.k8s.io/resourceslices:create",
        "resource.k8s.io/resourceslices:update",
        "resource.k8s.io/resourceslices:delete",
        "/nodes:get",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(granted, wanted);
}

#[test]
fn device_class_runtime_class_and_example_fit_together() {
    let m = load();
    let class = &m.device_classes[0];
    let cel = &class.spec.selectors.as_ref().unwrap()[0].cel.as_ref().unwrap().expression;
    assert!(cel.contains(&format!("device.driver == '{}'", defaults::DRIVER_NAME)), "{cel}");
    assert!(cel.contains(&format!("device.attributes['{}'].type == 'gpu'", defaults::DRIVER_NAME)), "{cel}");
    // The class's opaque config is one the plugin accepts.
    let opaque = class.spec.config.as_ref().unwrap()[0].opaque.as_ref().unwrap();
    assert_eq!(opaque.driver, defaults::DRIVER_NAME);
    ccgpu_host_shim::GpuConfig::parse(&opaque.parameters.0).unwrap();

    let template = &m.templates[0];
    let request = &template.spec.spec.devices.as_ref().unwrap().requests.as_ref().unwrap()[0];
    assert_eq!(request.exactly.as_ref().unwrap().device_class_name, class.metadata.name.clone().unwrap());
    let pod = m.pods[0].spec.as_ref().unwrap();
    assert_eq!(pod.runtime_class_name, m.runtime_classes[0].metadata.name);
    assert!(m.runtime_classes.iter().any(|r| r.metadata.name == pod.runtime_class_name));
    let claim = &pod.resource_claims.as_ref().unwrap()[0];
    assert_eq!(claim.resource_claim_template_name, template.metadata.name);
    let used = &pod.containers[0].resources.as_ref().unwrap().claims.as_ref().unwrap()[0];
    assert_eq!(used.name, claim.name);
}

/// The PPCIe class selects exactly what the plugin publishes for a whole board in PPCIe mode (the
/// attributes its expression names, with those values), and no GPU or switch alone.
#[cfg(feature = "sim")]
#[test]
fn the_ppcie_class_selects_the_published_unit() {
    let m = load();
    let class = m
        .device_classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("cc-ppcie.ccgpu.dev"))
        .expect("a PPCIe DeviceClass");
    let cel = &class.spec.selectors.as_ref().unwrap()[0].cel.as_ref().unwrap().expression;
    assert!(cel.contains(&format!("device.driver == '{}'", defaults::DRIVER_NAME)), "{cel}");
    assert!(class.spec.config.is_none(), "no opaque config: the unit has no single CC mode to require");

    let bus = std::sync::Arc::new(ccgpu_pci::sim::SimBus::hgx_ppcie());
    let dir = tempfile::tempdir().unwrap();
    let paths = ccgpu_host_shim::NodePaths {
        cdi_dir: dir.path().join("cdi"),
        checkpoint_dir: dir.path().join("checkpoint"),
        ..ccgpu_host_shim::NodePaths::default()
    };
    let config = ccgpu_host_shim::NodeConfig { paths, ..ccgpu_host_shim::NodeConfig::default() };
    let ppcie = ccgpu_host_shim::sim::SimPpcieMode::all(Some(ccgpu_host_shim::PpcieMode::On));
    let backends = ccgpu_host_shim::Backends {
        ppcie: std::sync::Arc::new(ppcie),
        ..ccgpu_host_shim::Backends::simulated(bus, std::sync::Arc::default(), None)
    };
    let (node, _) = ccgpu_host_shim::Node::open(config, backends, "boot".into()).unwrap();
    let found = node.discover().unwrap();
    let built = ccgpu_host_shim::build_devices(defaults::DRIVER_NAME, &found, &BTreeMap::new(), &BTreeMap::new(), true);
    assert_eq!(built.devices.len(), 1);
    let attrs = built.devices[0].attributes.as_ref().unwrap();
    // Every `attributes['<driver>'].<name> == '<value>'` of the expression holds on the unit.
    let prefix = format!("device.attributes['{}'].", defaults::DRIVER_NAME);
    let mut checked = 0;
    for part in cel.split("&&").map(str::trim).filter(|p| p.starts_with(&prefix)) {
        let (name, value) = part[prefix.len()..].split_once(" == ").unwrap();
        assert_eq!(attrs[name].string.as_deref(), Some(value.trim_matches('\'')), "{name} in {cel}");
        checked += 1;
    }
    assert_eq!(checked, 2, "{cel}");
}

/// Megabytes in a memory quantity as RuntimeClass overheads write it (`10240Mi`, `10Gi`).
fn mebibytes(q: &str) -> u64 {
    let (n, factor) = if let Some(n) = q.strip_suffix("Gi") { (n, 1024) } else { (q.strip_suffix("Mi").unwrap(), 1) };
    n.parse::<u64>().unwrap() * factor
}

#[test]
fn runtime_classes_carry_katas_overhead_under_names_of_their_own() {
    let m = load();
    let handlers: BTreeSet<&str> = m.runtime_classes.iter().map(|r| r.handler.as_str()).collect();
    assert_eq!(handlers, BTreeSet::from(["kata-qemu-nvidia-gpu-snp", "kata-qemu-nvidia-gpu-tdx"]));
    let ds = &m.daemonsets[0];
    let plugin_nodes = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap().node_selector.clone().unwrap();
    for rc in &m.runtime_classes {
        let name = rc.metadata.name.as_deref().unwrap();
        // kata-deploy names its RuntimeClass after the handler: the same name would replace its object.
        assert_ne!(name, rc.handler, "{name} collides with kata-deploy's RuntimeClass");
        assert!(name.starts_with("ccgpu-"), "{name}");
        // The VM's cost is accounted for: kata-deploy's figures for the GPU TEE shims (10240Mi, 1 CPU).
        let fixed =
            rc.overhead.as_ref().and_then(|o| o.pod_fixed.as_ref()).unwrap_or_else(|| panic!("{name}: no overhead"));
        assert!(mebibytes(&fixed["memory"].0) >= 10240, "{name}: memory overhead {}", fixed["memory"].0);
        assert_eq!(fixed["cpu"].0, "1", "{name}");
        // Pods land where the plugin runs and Kata is installed.
        let nodes = rc.scheduling.as_ref().unwrap().node_selector.as_ref().unwrap();
        for (label, value) in &plugin_nodes {
            assert_eq!(nodes.get(label), Some(value), "{name}: the plugin's node selector");
        }
        assert_eq!(nodes.get("katacontainers.io/kata-runtime").map(String::as_str), Some("true"), "{name}");
    }
}

#[test]
fn the_admission_policy_lets_a_plugin_write_only_its_own_nodes_slices() {
    let m = load();
    let [policy] = m.policies.as_slice() else { panic!("one ValidatingAdmissionPolicy") };
    let [binding] = m.policy_bindings.as_slice() else { panic!("one binding") };
    let spec = policy.spec.as_ref().unwrap();
    let bound = binding.spec.as_ref().unwrap();
    assert_eq!(bound.policy_name, policy.metadata.name);
    assert_eq!(bound.validation_actions.as_deref(), Some(&["Deny".to_owned()][..]));
    assert!(bound.match_resources.is_none(), "every ResourceSlice");
    assert_eq!(spec.failure_policy.as_deref(), Some("Fail"), "no write when the policy cannot be evaluated");

    // Every write of a ResourceSlice, in any version.
    let rules = spec.match_constraints.as_ref().unwrap().resource_rules.as_ref().unwrap();
    let [rule] = rules.as_slice() else { panic!("one rule") };
    assert_eq!(rule.api_groups.as_deref(), Some(&["resource.k8s.io".to_owned()][..]));
    assert_eq!(rule.api_versions.as_deref(), Some(&["*".to_owned()][..]));
    assert_eq!(rule.resources.as_deref(), Some(&["resourceslices".to_owned()][..]));
    let ops: BTreeSet<&str> = rule.operations.iter().flatten().map(String::as_str).collect();
    assert_eq!(ops, BTreeSet::from(["CREATE", "UPDATE", "DELETE"]));

    // Only the plugin's service account, the one the DaemonSet runs as.
    let ds = &m.daemonsets[0];
    let sa = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap().service_account_name.clone().unwrap();
    let ns = ds.metadata.namespace.clone().unwrap();
    let [condition] = spec.match_conditions.as_deref().unwrap() else { panic!("one match condition") };
    assert_eq!(condition.expression, format!("request.userInfo.username == \"system:serviceaccount:{ns}:{sa}\""));

    // The node claim of the plugin's token against the slice's spec.nodeName (the old object's on delete).
    let variables: BTreeMap<&str, &str> =
        spec.variables.iter().flatten().map(|v| (v.name.as_str(), v.expression.as_str())).collect();
    assert_eq!(
        variables["userNodeName"],
        "request.userInfo.extra[?'authentication.kubernetes.io/node-name'][0].orValue('')"
    );
    assert_eq!(
        variables["objectNodeName"],
        "(request.operation == 'DELETE' ? oldObject : object).spec.?nodeName.orValue('')"
    );
    let validations: Vec<&str> = spec.validations.iter().flatten().map(|v| v.expression.as_str()).collect();
    assert_eq!(
        validations,
        vec!["variables.userNodeName != ''", "variables.objectNodeName == variables.userNodeName"],
        "a token without a node is refused; otherwise the node must be the slice's"
    );
}

/// One instruction of the Containerfile: keyword and arguments, continuation lines joined.
struct Instruction {
    keyword: String,
    args: String,
}

/// The Containerfile's stages, in order: (base image, stage name, instructions).
fn containerfile_stages() -> Vec<(String, Option<String>, Vec<Instruction>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Containerfile");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(&format!("{} ", part.trim())),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "the Containerfile ends in a continuation");
    let mut stages: Vec<(String, Option<String>, Vec<Instruction>)> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let (keyword, args) = (keyword.to_ascii_uppercase(), args.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            match words.as_slice() {
                [image] => stages.push(((*image).to_owned(), None, Vec::new())),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    stages.push(((*image).to_owned(), Some((*name).to_owned()), Vec::new()));
                }
                other => panic!("FROM {other:?}"),
            }
        } else {
            stages.last_mut().expect("an instruction before the first FROM").2.push(Instruction { keyword, args });
        }
    }
    stages
}

#[test]
fn the_containerfile_builds_the_production_plugin_the_daemonset_runs() {
    let stages = containerfile_stages();
    let [(builder_image, builder_name, builder), (runtime_image, _, runtime)] = stages.as_slice() else {
        panic!("two stages: builder and runtime")
    };
    // Builder: Rust on Debian 12; runtime: distroless (glibc, for dlopen of NVML) on the same Debian.
    assert_eq!(builder_image, "docker.io/library/rust:1.95-bookworm");
    assert_eq!(builder_name.as_deref(), Some("builder"));
    assert_eq!(runtime_image, "gcr.io/distroless/cc-debian12");

    // Every workspace member is copied (Cargo reads all their manifests), and nothing at the root but
    // the workspace manifest and lock file (no target/, no test data).
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).unwrap();
    let members_line = manifest.lines().find(|l| l.starts_with("members = ")).unwrap();
    let members: BTreeSet<String> = members_line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|m| if m == "." { "src".to_owned() } else { m.to_owned() })
        .collect();
    let copied: BTreeSet<String> = builder
        .iter()
        .filter(|i| i.keyword == "COPY")
        .flat_map(|i| {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            words[..words.len() - 1].iter().map(|w| (*w).to_owned()).collect::<Vec<_>>()
        })
        .collect();
    let mut wanted = members.clone();
    wanted.extend(["Cargo.toml".to_owned(), "Cargo.lock".to_owned()]);
    assert_eq!(copied, wanted, "the builder copies the workspace members and manifests");

    // The build: ci/production.sh's configuration of ccgpu-host-shim (its flags, i.e. none: default
    // features, no `sim`), locked, release, the plugin binary only.
    let production =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/production.sh")).unwrap();
    let config = production.lines().find_map(|l| l.trim().strip_prefix("\"ccgpu-host-shim|")).unwrap();
    let (flags, bins) = config.trim_end_matches('"').split_once('|').unwrap();
    assert!(bins.split_whitespace().any(|b| b == "ccgpu-kubelet-plugin"), "{config}");
    let runs: Vec<&str> = builder.iter().filter(|i| i.keyword == "RUN").map(|i| i.args.as_str()).collect();
    let [run] = runs.as_slice() else { panic!("one RUN in the builder: {runs:?}") };
    let build = run.split("&&").next().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    let expected = ["cargo build --locked --release -p ccgpu-host-shim", flags.trim(), "--bin ccgpu-kubelet-plugin"]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(build, expected);
    for forbidden in ["--features", "--all-features", "--workspace", "sim"] {
        assert!(!build.contains(forbidden), "{forbidden} in {build}");
    }
    assert!(run.contains("--help") && run.contains("--simulate"), "the build checks for simulation flags: {run}");

    // The runtime stage holds that binary and runs it; the DaemonSet runs the same path.
    let copies: Vec<&str> = runtime.iter().filter(|i| i.keyword == "COPY").map(|i| i.args.as_str()).collect();
    assert_eq!(
        copies,
        vec!["--from=builder /src/target/release/ccgpu-kubelet-plugin /usr/local/bin/ccgpu-kubelet-plugin"]
    );
    let entrypoint: Vec<&str> = runtime.iter().filter(|i| i.keyword == "ENTRYPOINT").map(|i| i.args.as_str()).collect();
    assert_eq!(entrypoint, vec![r#"["/usr/local/bin/ccgpu-kubelet-plugin"]"#]);
    let m = load();
    let pod = m.daemonsets[0].spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.command.as_deref(), Some(&["/usr/local/bin/ccgpu-kubelet-plugin".to_owned()][..]));
    let image = format!("ghcr.io/ccgpu/ccgpu-kubelet-plugin:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(c.image.as_deref(), Some(image.as_str()), "the DaemonSet runs this version's image");

    // The user is explicit, and root only because the plugin must be privileged (sysfs driver switches,
    // VFIO nodes): the Containerfile explains why next to the USER line.
    let users: Vec<&str> = runtime.iter().filter(|i| i.keyword == "USER").map(|i| i.args.as_str()).collect();
    let [user] = users.as_slice() else { panic!("one USER in the runtime stage: {users:?}") };
    let privileged = c.security_context.as_ref().and_then(|s| s.privileged) == Some(true);
    assert_eq!(*user == "0:0", privileged, "root exactly when the DaemonSet must be privileged (USER {user})");
}
