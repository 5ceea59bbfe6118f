//! [`InProcessPlugin`]: the real kubelet plugin ([`crate::plugin::run`]) on a task of this process, with a
//! stop handle — what the `ccgpu-kubelet-plugin` binary runs, minus the process and its signals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::{Health, Metrics};
use crate::plugin::{self, PluginConfig, PluginError, PluginOptions, PluginParts, SocketPaths};

/// A plugin running on a task of this process.
#[derive(Debug)]
pub struct InProcessPlugin {
    /// Its sockets.
    pub sockets: SocketPaths,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Its health flag.
    pub health: Arc<Health>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), PluginError>>>,
}

impl InProcessPlugin {
    /// Starts the plugin with `config` and `parts` on the current tokio runtime; [`InProcessPlugin::stop`]
    /// withdraws its slices, as an uninstall does (`--withdraw-on-exit`). [`InProcessPlugin::spawn_with`]
    /// chooses.
    pub fn spawn(config: PluginConfig, parts: PluginParts) -> Self {
        Self::spawn_with(config, PluginOptions { withdraw_on_exit: true, ..PluginOptions::default() }, parts)
    }

    /// Starts the plugin with `config`, `options` and `parts` on the current tokio runtime.
    pub fn spawn_with(config: PluginConfig, options: PluginOptions, parts: PluginParts) -> Self {
        let sockets = SocketPaths::for_instance(&config.kubelet_root, &config.driver, options.pod_uid.as_deref());
        let (metrics, health) = (parts.metrics.clone(), parts.health.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(plugin::run(config, options, parts, async move {
            let _ = stopped.await;
        }));
        Self { sockets, metrics, health, stop: Some(stop), task: Some(task) }
    }

    /// Waits (polling, at most `bound`) until the registration socket exists and the plugin says it is
    /// serving; `false` when it did not within `bound` or stopped.
    pub async fn wait_serving(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        loop {
            if self.sockets.registration.exists() && self.health.serving() {
                return true;
            }
            if Instant::now() >= deadline || self.task.as_ref().is_none_or(JoinHandle::is_finished) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Graceful shutdown (registration socket first, in-flight calls, slices withdrawn if its options say
    /// so, DRA socket removed); returns the plugin's result.
    pub async fn stop(mut self) -> Result<(), PluginError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or_else(|e| Err(PluginError::Task { which: "plugin", message: e.to_string() })),
            None => Ok(()),
        }
    }
}

impl Drop for InProcessPlugin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
