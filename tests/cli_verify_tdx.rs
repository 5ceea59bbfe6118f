//! `ccgpu verify tdx` on real TDX quotes with real Intel collateral: exit codes, text and JSON, the policy
//! file's `[tdx]` table, a PCS-style directory as the collateral source, `--help` listing the checks.

use std::process::{Command, Output};

use ccgpu_test_support::testdata;

fn ccgpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccgpu")).args(args).output().expect("run ccgpu")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_real_quote_is_a_warning_until_its_mrtd_is_pinned_then_affirming() {
    let Some(dir) = testdata("tdx/dcap-qvl") else { return };
    let quote = dir.join("tdx_quote").display().to_string();
    let coll = dir.join("tdx_quote_collateral.json").display().to_string();
    let rd = hex::encode(
        &std::fs::read(&quote).expect("quote")[568..632], // REPORTDATA of the v4 body (48 + 520)
    );
    let args = [
        "verify",
        "tdx",
        "--quote",
        &quote,
        "--collateral",
        &coll,
        "--at",
        "2025-07-01T00:00:00Z",
        "--report-data",
        &rd,
    ];
    let o = ccgpu(&args);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(out(&o).contains("warning: the policy pins no MRTD"), "{}", out(&o));
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    let o = ccgpu(&json);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["identity"]["tcb"]["status"], "UpToDate", "{v}");
    let mrtd = v["identity"]["mrtd"].as_str().expect("mrtd").to_owned();

    let tmp = tempfile::tempdir().expect("tmp");
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, format!("[tdx]\nmrtd = [\"{mrtd}\"]\n")).expect("write");
    let mut pinned = args.to_vec();
    pinned.extend(["--policy", policy.to_str().expect("utf-8")]);
    let o = ccgpu(&pinned);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).trim_end().ends_with("verdict: affirming"), "{}", out(&o));

    // Another REPORTDATA: not affirming (exit 1), named.
    let other = "00".repeat(64);
    let mut wrong = pinned.clone();
    wrong[9] = &other;
    let o = ccgpu(&wrong);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("tdx-report-data"), "{}", out(&o));

    // The policy file is validated whole, as every command validates it: a `[tdx]` table that accepts a
    // revoked TCB is bad input (exit 2), not a policy to apply.
    std::fs::write(
        &policy,
        format!("[tdx]\nmrtd = [\"{mrtd}\"]\naccepted_tcb_statuses = [\"UpToDate\", \"Revoked\"]\n"),
    )
    .expect("write");
    let o = ccgpu(&pinned);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

#[test]
fn a_debug_td_is_refused_and_a_directory_serves_as_collateral() {
    let Some(g) = testdata("tdx/go-tdx-guest") else { return };
    let Some(quote) = testdata("tdx/trustee/tdx_quote_4.dat") else { return };
    // The raw PCS files, laid out as the PCCS cache.
    let tmp = tempfile::tempdir().expect("tmp");
    for (from, to) in [
        ("sample_tcbInfo_response", "tcbinfo-50806f000000.json"),
        ("tcbInfoIssuerChain.pem", "tcbinfo-50806f000000.issuer-chain.pem"),
        ("sample_qeIdentity_response", "qe-identity.json"),
        ("tcbInfoIssuerChain.pem", "qe-identity.issuer-chain.pem"),
        ("pckcrl", "pckcrl-platform.crl"),
        ("pckCrlIssuerChain.pem", "pckcrl-platform.issuer-chain.pem"),
        ("rootcrl.der", "rootcacrl.crl"),
    ] {
        std::fs::copy(g.join(from), tmp.path().join(to)).expect("copy");
    }
    let o = ccgpu(&[
        "verify",
        "tdx",
        "--quote",
        quote.to_str().expect("utf-8"),
        "--collateral",
        tmp.path().to_str().expect("utf-8"),
        "--at",
        "2023-07-01T01:00:00Z",
        "--no-report-data",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["failures"], serde_json::json!(["tdx-td-attributes"]), "{v}");
    assert_eq!(v["identity"]["debug"], true, "{v}");
}

#[test]
fn help_lists_the_numbered_checks_and_bad_input_is_exit_2() {
    let o = ccgpu(&["verify", "tdx", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = out(&o);
    for n in 1..=15 {
        assert!(help.contains(&format!("{n}. ")), "check {n} missing from --help");
    }
    let o = ccgpu(&["verify", "tdx", "--quote", "/nonexistent", "--collateral", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}
