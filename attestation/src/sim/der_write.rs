//! The simulator's DER encoding is the crate's.

pub(crate) use crate::der_write::{seq, tlv};
