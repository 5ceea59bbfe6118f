//! Writes the generated negative corpus (and the untouched real evidence as `baseline`) to a directory,
//! one sub-directory per case, so other verifiers — NVIDIA's reference verifier, the `ccgpu` CLI — can
//! judge the same bytes. Used by `bench/nvtrust-parity.sh`.
//!
//! Usage: cargo run -p ccgpu-attestation --features sim --example write_negative_corpus -- OUT_DIR

use std::path::Path;

use ccgpu_attestation::{
    CertChain,
    sim::{RealEvidence, negative_corpus},
};
use time::macros::datetime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: write_negative_corpus OUT_DIR")?;
    let dir = "nvidia/h100-550.90.07";
    let read =
        |rel: &str| ccgpu_test_support::read_testdata(&format!("{dir}/{rel}")).ok_or("shared test data not found");
    let hex_text = |b: Vec<u8>| hex::decode(String::from_utf8_lossy(&b).split_whitespace().collect::<String>());
    let base = RealEvidence {
        report: hex_text(read("attestation-report.hex")?)?,
        chain: CertChain::from_pem(&read("cert-chain.pem")?)?,
        driver: read("rims/NV_GPU_DRIVER_GH100_550.90.07.xml")?,
        vbios: read("rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")?,
        nonce: hex_text(read("nonce.hex")?)?.try_into().map_err(|_| "nonce is not 32 bytes")?,
        at: datetime!(2025-09-01 0:00 UTC),
    };
    let write_case = |name: &str,
                      report: &[u8],
                      chain: &CertChain,
                      driver: &[u8],
                      vbios: &[u8],
                      nonce: &[u8; 32],
                      failing: &str,
                      nvidia: bool|
     -> std::io::Result<()> {
        let d = Path::new(&out).join(name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("report.hex"), hex::encode(report))?;
        std::fs::write(d.join("chain.pem"), chain.to_pem())?;
        std::fs::write(d.join("driver.xml"), driver)?;
        std::fs::write(d.join("vbios.xml"), vbios)?;
        std::fs::write(d.join("nonce.hex"), hex::encode(nonce))?;
        std::fs::write(d.join("failing"), format!("{failing}\n"))?;
        std::fs::write(d.join("anchors"), if nvidia { "nvidia\n" } else { "simulated\n" })
    };
    write_case("baseline", &base.report, &base.chain, &base.driver, &base.vbios, &base.nonce, "", true)?;
    let cases = negative_corpus(&base)?;
    for c in &cases {
        let failing: Vec<&str> = c.failing.iter().map(|f| f.name()).collect();
        write_case(
            &c.name,
            &c.report,
            &c.chain,
            &c.driver,
            &c.vbios,
            &c.nonce,
            &failing.join(","),
            c.nvidia_anchored(),
        )?;
    }
    println!("wrote {} cases and the baseline to {out}", cases.len());
    Ok(())
}
