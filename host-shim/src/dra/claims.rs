//! Reading ResourceClaims from the API server (`resource.k8s.io/v1`), bounded in time.
//!
//! There is no trait in front of this: the tests run the real `kube` client against an in-process fake
//! API server over HTTP, which exercises the request paths, JSON decoding and error statuses a trait
//! fake would skip.

use std::time::Duration;

use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::Api;

use crate::deadline::Deadline;

/// Reads claims, each read bounded by a timeout.
#[derive(Clone)]
pub struct ClaimReader {
    client: kube::Client,
    timeout: Duration,
}

impl std::fmt::Debug for ClaimReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimReader").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// Reading a claim failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The API server did not answer in time.
    #[error("reading claim {namespace}/{name}: no answer from the API server within {} ms", timeout.as_millis())]
    Timeout {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The bound: the read timeout, or less when the claim's budget had less left.
        timeout: Duration,
    },
    /// The claim does not exist (any more).
    #[error("claim {namespace}/{name} does not exist")]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Any other failure (connection refused, forbidden, a bad answer).
    #[error("reading claim {namespace}/{name}")]
    Api {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
}

impl ClaimReader {
    /// Claims through `client`, each read bounded by `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    /// The claim `namespace/name`, waiting for the API server at most the read timeout and never past
    /// `deadline` (what the claim's budget leaves for it).
    pub async fn read(&self, namespace: &str, name: &str, deadline: Deadline) -> Result<ResourceClaim, ReadError> {
        let api: Api<ResourceClaim> = Api::namespaced(self.client.clone(), namespace);
        let owned = || (namespace.to_owned(), name.to_owned());
        let bound = self.timeout.min(deadline.remaining());
        match tokio::time::timeout(bound, api.get(name)).await {
            Err(_) => {
                let (namespace, name) = owned();
                Err(ReadError::Timeout { namespace, name, timeout: bound })
            }
            Ok(Err(kube::Error::Api(status))) if status.is_not_found() => {
                let (namespace, name) = owned();
                Err(ReadError::NotFound { namespace, name })
            }
            Ok(Err(source)) => {
                let (namespace, name) = owned();
                Err(ReadError::Api { namespace, name, source })
            }
            Ok(Ok(claim)) => Ok(claim),
        }
    }
}
