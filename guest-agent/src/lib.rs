//! The guest side of ccgpu: runs inside the Kata confidential VM, next to the Kata agent.
//!
//! Filled by a later issue: GPU driver bring-up, evidence collection with a fresh nonce, verification with
//! `ccgpu-attestation`, and setting the GPU's confidential-computing *ready* state only on an affirming
//! verdict. It trusts only measured configuration (kernel command line, initdata), never the host.
