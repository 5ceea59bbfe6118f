//! PCI addresses and sysfs reading shared by the host shim and the guest agent.
//!
//! Filled by the host node-layer issue. Every path comes in as a parameter (the sysfs root), and every
//! device name that arrives from outside is parsed into a typed address before it touches a path.
