//! `ccgpu`: the operator and security-team command line.
//!
//! Exit codes are stable: 0 = the evidence is affirming; 1 = the evidence was read but the verdict is
//! not affirming; 2 = unusable input (a missing file, unparsable data, a bad flag). The error chain is
//! printed once, on stderr.

mod cli;
#[cfg(feature = "demo")]
mod demo;
mod input;
mod log_cmd;
mod ocsp_plan;
mod render;
mod revocation;
mod verify_bundle;
mod verify_gpu;
mod verify_snp;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, VerifyCommand};

/// Exit status for an affirming verdict.
pub const EXIT_AFFIRMING: u8 = 0;
/// Exit status when the evidence was read but is not affirming.
pub const EXIT_NOT_AFFIRMING: u8 = 1;
/// Exit status for unusable input.
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_AFFIRMING };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Verify { what: VerifyCommand::Gpu(args) } => verify_gpu::run(&args),
        Command::Verify { what: VerifyCommand::Snp(args) } => verify_snp::run(&args),
        Command::Verify { what: VerifyCommand::Bundle(args) } => verify_bundle::run(&args),
        Command::Log { what } => log_cmd::run(&what),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", ccgpu_attestation::error_chain(e.as_ref()));
            ExitCode::from(EXIT_USAGE)
        }
    }
}
