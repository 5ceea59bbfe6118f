//! `ccgpu`: the operator and security-team command line.
//!
//! Exit codes are stable ([`exit::Exit`]): 0 = the evidence is affirming; 1 = the evidence was read but
//! the verdict is not affirming; 2 = unusable input (a missing file, unparsable data, a bad flag). The
//! error chain is printed once, on stderr.

mod cli;
#[cfg(feature = "demo")]
mod demo;
mod exit;
mod input;
mod log_cmd;
mod ocsp_plan;
mod render;
mod revocation;
mod rim_source;
mod verify_bundle;
mod verify_gpu;
mod verify_snp;
mod verify_switch;
mod verify_tdx;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, VerifyCommand};
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are printed on stdout and succeed; anything else is a bad flag.
            let exit = if e.use_stderr() { Exit::UnusableInput } else { Exit::Affirming };
            let _ = e.print();
            return exit.into();
        }
    };
    let result = match cli.command {
        Command::Verify { what: VerifyCommand::Gpu(args) } => verify_gpu::run(&args),
        Command::Verify { what: VerifyCommand::Snp(args) } => verify_snp::run(&args),
        Command::Verify { what: VerifyCommand::Tdx(args) } => verify_tdx::run(&args),
        Command::Verify { what: VerifyCommand::Switch(args) } => verify_switch::run(&args),
        Command::Verify { what: VerifyCommand::Bundle(args) } => verify_bundle::run(&args),
        Command::Log { what } => log_cmd::run(&what),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {}", ccgpu_attestation::error_chain(e.as_ref()));
            Exit::UnusableInput.into()
        }
    }
}
