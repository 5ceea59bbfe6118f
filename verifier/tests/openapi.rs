//! `verifier/openapi.yaml` documents exactly the service's routes (method and path, both ways), and every
//! route is served (none answers 404 for its path or 405 for its method).

mod common;

use std::collections::BTreeSet;

use common::{Files, Guest, Knobs, start};

#[test]
fn the_openapi_file_names_exactly_the_routes_and_each_is_served() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).expect("openapi.yaml");
    let doc: serde_json::Value = serde_yaml::from_str(&text).expect("YAML");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let code: BTreeSet<(String, String)> =
        ccgpu_verifier::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, code);

    let guest = Guest::new(1);
    let files = Files::new(&guest);
    let server = start(&files, &Knobs::default());
    let agent = common::http();
    for (method, path) in ccgpu_verifier::ROUTES {
        let url = format!("{}{}", server.url, path.replace("{id}", "x"));
        let status = match *method {
            "get" => agent.get(&url).call().expect("GET").status().as_u16(),
            "post" => agent.post(&url).send(&b"{}"[..]).expect("POST").status().as_u16(),
            other => panic!("{other}"),
        };
        assert!(status != 405 && (status != 404 || path.contains("{id}")), "{method} {path}: {status}");
    }
}
