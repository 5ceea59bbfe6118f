//! Printing an error with its causes: the one formatter the agent uses, in its status, its logs, its
//! API's errors and the binary's last word. Each error's message leaves its source out (the crate's
//! errors are built that way), so joining the chain prints every cause once.

use std::error::Error;

/// `e` and its sources, `: `-separated.
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_once_in_order() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
        let wrapped = anyhow::Error::new(e).context("top");
        assert_eq!(chain(wrapped.as_ref()), "top: outer: inner");
    }
}
