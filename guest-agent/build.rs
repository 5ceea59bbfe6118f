//! Generates the ttrpc service and its messages from `proto/guest_agent.proto` with the pure-Rust
//! protobuf parser (no `protoc`), then strips the generated files' inner attributes and inner doc
//! comments so they can be `include!`d inside a module (the crate puts its lint allowances there).

use std::fs;
use std::io;
use std::path::PathBuf;

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=proto/guest_agent.proto");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("no OUT_DIR"))?);
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
