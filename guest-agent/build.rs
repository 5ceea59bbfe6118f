//! Generates the ttrpc service and its messages from `proto/guest_agent.proto` with the pure-Rust
//! protobuf parser (no `protoc`), then strips the generated files' inner attributes and inner doc
//! comments so they can be `include!`d inside a module (the crate puts its lint allowances there).
//!
//! Also records the build time (`$OUT_DIR/build_time_unix`, seconds since the epoch): the floor below
//! which the agent never judges certificate validity (`verify::clock`). `SOURCE_DATE_EPOCH`, when set,
//! is used instead, so a reproducible build embeds its source date. The script reruns when a source file,
//! the manifest or that variable changes, so the value is the time of the last build that compiled
//! changed code — never later than the build, which is all a floor needs.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

fn build_time() -> io::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|e| io::Error::other(format!("SOURCE_DATE_EPOCH={v:?}: {e}"))),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).map_err(io::Error::other),
    }
}

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=proto/guest_agent.proto");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("no OUT_DIR"))?);
    fs::write(out.join("build_time_unix"), build_time()?.to_string())?;
    let generated = out.join("generated");
    fs::create_dir_all(&generated)?;
    ttrpc_codegen::Codegen::new()
        .out_dir(&generated)
        .input("proto/guest_agent.proto")
        .include("proto")
        .rust_protobuf()
        .customize(ttrpc_codegen::Customize { async_all: false, gen_mod: false, ..Default::default() })
        .rust_protobuf_customize(ttrpc_codegen::ProtobufCustomize::default().gen_mod_rs(false))
        .run()?;
    for name in ["guest_agent.rs", "guest_agent_ttrpc.rs"] {
        let text = fs::read_to_string(generated.join(name))?;
        let kept: Vec<&str> =
            text.lines().filter(|l| !l.trim_start().starts_with("#![") && !l.trim_start().starts_with("//!")).collect();
        fs::write(out.join(name), kept.join("\n"))?;
    }
    Ok(())
}
