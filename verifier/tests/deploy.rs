//! deploy/verifier/: every manifest parses into typed `k8s-openapi` objects (re-encoding to the same JSON,
//! so a misspelt field cannot hide); the Deployment runs 2 replicas with probes on the service's routes,
//! scrape annotations, and only flags the binary knows; the Secret carries the files the flags name; the
//! PDB and Service select the pods; and the guest configuration example loads in the guest agent's own
//! configuration reader, pointing at the Service.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::Deserialize;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/verifier")
}

fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(file: &Path, doc: &Value) -> T {
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let back = serde_json::to_value(&t).expect("json");
    assert_eq!(&back, doc, "{}: fields lost in the typed round trip (a typo?)", file.display());
    t
}

#[derive(Default)]
struct Manifests {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    pdbs: Vec<PodDisruptionBudget>,
    policies: Vec<NetworkPolicy>,
    secrets: Vec<Secret>,
    config_maps: Vec<ConfigMap>,
    claims: Vec<PersistentVolumeClaim>,
}

fn load() -> Manifests {
    let mut m = Manifests::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("deploy/verifier")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc: Value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            match (doc["apiVersion"].as_str().unwrap_or_default(), doc["kind"].as_str().unwrap_or_default()) {
                ("apps/v1", "Deployment") => m.deployments.push(typed(&file, &doc)),
                ("v1", "Service") => m.services.push(typed(&file, &doc)),
                ("v1", "Secret") => m.secrets.push(typed(&file, &doc)),
                ("v1", "ConfigMap") => m.config_maps.push(typed(&file, &doc)),
                ("v1", "PersistentVolumeClaim") => m.claims.push(typed(&file, &doc)),
                ("policy/v1", "PodDisruptionBudget") => m.pdbs.push(typed(&file, &doc)),
                ("networking.k8s.io/v1", "NetworkPolicy") => m.policies.push(typed(&file, &doc)),
                other => panic!("{}: unexpected object {other:?}", file.display()),
            }
        }
    }
    m
}

#[test]
fn the_manifests_parse_and_agree_with_the_binary() {
    let m = load();
    let [d] = m.deployments.as_slice() else { panic!("one Deployment") };
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let labels = spec.selector.match_labels.clone().expect("labels");
    let template = &spec.template;
    let annotations = template.metadata.as_ref().and_then(|m| m.annotations.clone()).expect("annotations");
    assert_eq!(annotations.get("prometheus.io/scrape").map(String::as_str), Some("true"));
    assert_eq!(annotations.get("prometheus.io/path").map(String::as_str), Some("/metrics"));
    let pod = template.spec.as_ref().expect("pod spec");
    let [c] = pod.containers.as_slice() else { panic!("one container") };
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone()).expect("http probe")
    };
    assert_eq!(probe_path(&c.readiness_probe), "/readyz");
    assert_eq!(probe_path(&c.liveness_probe), "/healthz");
    assert_eq!(annotations.get("prometheus.io/port").map(String::as_str), Some("8080"));

    // Every flag is one the binary offers.
    let help = Command::new(env!("CARGO_BIN_EXE_ccgpu-verifier")).arg("--help").output().expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let args = c.args.clone().expect("args");
    let mut flags = BTreeSet::new();
    for a in &args {
        let flag = a.split('=').next().expect("flag");
        assert!(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag} <")), "{flag} not in --help");
        flags.insert(flag.to_owned());
    }
    for required in ["--ear-key", "--log-key", "--policy", "--log-dir"] {
        assert!(flags.contains(required), "{required} missing");
    }
    // The relying party checks revocation, and its OCSP cache is a writable mount (the root filesystem is
    // read-only).
    assert!(args.iter().any(|a| a == "--ocsp=online"), "the shipped verifier must check OCSP online: {args:?}");
    let ocsp_cache = args.iter().find_map(|a| a.strip_prefix("--ocsp-cache=")).expect("--ocsp-cache");
    assert!(
        c.volume_mounts.iter().flatten().any(|m| ocsp_cache.starts_with(&m.mount_path) && m.read_only != Some(true)),
        "{ocsp_cache} is not on a writable mount"
    );
    // The keys the flags name are the Secret's keys, mounted where the flags look.
    let secret = &m.secrets[0];
    let keys: BTreeSet<String> = secret.string_data.clone().expect("data").into_keys().collect();
    assert_eq!(keys, BTreeSet::from(["ear-key.pem".to_owned(), "log-key.pem".to_owned()]));
    let mounts = c.volume_mounts.clone().expect("mounts");
    let mounted = |path: &str| mounts.iter().any(|m| path.starts_with(&m.mount_path));
    for a in &args {
        if let Some(path) =
            a.strip_prefix("--ear-key=").or(a.strip_prefix("--log-key=")).or(a.strip_prefix("--policy="))
        {
            assert!(mounted(path), "{path} is not on a mounted volume");
        }
    }
    let volumes = pod.volumes.clone().expect("volumes");
    let secret_name = secret.metadata.name.clone().expect("name");
    assert!(volumes.iter().any(|v| v.secret.as_ref().and_then(|s| s.secret_name.clone()) == Some(secret_name.clone())));
    let policy_file = m.config_maps[0].data.clone().expect("data")["policy.toml"].clone();
    ccgpu_attestation::Policy::parse(&policy_file).expect("the ConfigMap's policy parses");
    assert_eq!(m.claims.len(), 1);

    // Service, PDB and NetworkPolicy select the pods.
    let selects = |sel: &Option<std::collections::BTreeMap<String, String>>| sel.as_ref() == Some(&labels);
    assert!(selects(&m.services[0].spec.as_ref().expect("spec").selector));
    let pdb = m.pdbs[0].spec.as_ref().expect("spec");
    assert!(selects(&pdb.selector.as_ref().expect("selector").match_labels));
    assert!(selects(
        &m.policies[0]
            .spec
            .as_ref()
            .expect("spec")
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .map(Some)
            .unwrap_or(None)
    ));
    let port = m.services[0].spec.as_ref().and_then(|s| s.ports.clone()).expect("ports")[0].port;
    assert_eq!(port, 8080);

    // The image: built by deploy/verifier/Containerfile, as the user the pod runs as.
    let containerfile = std::fs::read_to_string(dir().join("Containerfile")).expect("Containerfile");
    assert!(containerfile.contains("cargo build --locked --release -p ccgpu-verifier --bin ccgpu-verifier"));
    let security = pod.security_context.as_ref().expect("pod security context");
    let user = security.run_as_user.expect("runAsUser");
    assert!(containerfile.contains(&format!("USER {user}:{user}")), "the image's user is the pod's ({user})");
    assert_eq!(c.image.as_deref(), Some("ghcr.io/ccgpu/ccgpu-verifier:0.1.0"));
    assert!(containerfile.contains("-t ghcr.io/ccgpu/ccgpu-verifier:0.1.0"));
}

#[test]
fn the_guest_configuration_example_loads_in_the_agent_and_points_at_the_service() {
    let text = std::fs::read_to_string(dir().join("guest-config.example.toml")).expect("read");
    // The example's key is a placeholder: put a real one in its place, as an operator would.
    let start = text.find("-----BEGIN PUBLIC KEY-----").expect("key block");
    let end = text.find("-----END PUBLIC KEY-----").expect("key block") + "-----END PUBLIC KEY-----\n".len();
    let public =
        ccgpu_verifier::EarSigningKey::from_pem(private_key().into_bytes()).expect("key").public_pem().to_owned();
    let text = format!("{}{}{}", &text[..start], public, &text[end..]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("agent.toml");
    std::fs::write(&path, &text).expect("write");
    let digest = hex::encode(ccgpu_attestation::sha384(text.as_bytes()));
    let cmdline = format!("ccgpu.config={} ccgpu.config_sha384={digest}", path.display());
    let config = ccgpu_guest_agent::Config::from_cmdline(&cmdline).expect("the agent loads it");
    assert_eq!(config.mode, ccgpu_guest_agent::Mode::Remote);
    let remote = config.remote.expect("[remote]");
    assert_eq!(remote.url, "http://ccgpu-verifier.ccgpu-system.svc:8080/v1/appraisals");

    let m = load();
    let svc = &m.services[0].metadata;
    let host = format!("{}.{}.svc", svc.name.clone().expect("name"), svc.namespace.clone().expect("namespace"));
    assert!(remote.url.starts_with(&format!("http://{host}:8080/")), "{}", remote.url);
}

fn private_key() -> String {
    use base64::Engine as _;
    let der = ccgpu_attestation::CheckpointSigner::generate_pkcs8().expect("key");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}
