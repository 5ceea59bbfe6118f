//! Printing an error with its causes on one line: the one formatter the CLI, the kubelet plugin and the
//! guest agent use, in pod events, logs, API errors and a binary's last word.

use std::error::Error;

/// `outer: cause: root cause`. The workspace's errors leave their source out of their own message, so
/// each cause prints once; a cause whose text the line already ends with (an error that does quote its
/// source, such as a context on a foreign error) is not repeated.
pub fn error_chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("reading x: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn every_cause_once_in_order() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
        let quoting = Quoting(std::io::Error::other("denied"));
        assert_eq!(error_chain(&quoting), "reading x: denied");
        // A cause that merely appears inside the message (not at its end) is still printed.
        let e = Outer(std::io::Error::other("out"));
        assert_eq!(error_chain(&e), "outer: out");
    }
}
