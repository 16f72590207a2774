use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How a server is set up: where it listens, where it keeps and finds its files, and how it
/// executes runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on; loopback unless the user opens it up on purpose.
    pub bind: IpAddr,
    /// The port to listen on; 0 lets the system pick a free one.
    pub port: u16,
    /// Where the server keeps its database, logs and artifacts.
    pub data_dir: PathBuf,
    /// The built browser app (Trunk's `dist/`).
    pub web_dir: PathBuf,
    /// When set, every API request must carry `Authorization: Token <token>`.
    pub token: Option<String>,
    /// How many runs execute at once; the rest wait in the server's queue, in front of either
    /// runtime. `None`: as many as the machine has CPUs for local processes, and no limit on a
    /// cluster, whose scheduler places pods.
    pub max_concurrent_runs: Option<usize>,
    /// What executes runs.
    pub runtime: RuntimeChoice,
    /// Where runs reach the API (`POLYAXON_HOST`); by default the address the server binds.
    pub api_host: Option<String>,
    /// Names the server answers to besides IP literals, `localhost` and `api_host`'s host; a
    /// leading dot (`.example.com`) stands for a domain and every name under it.
    pub allowed_hosts: Vec<String>,
}

/// Which runtime executes runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Processes on this machine.
    #[default]
    Process,
    /// Native objects on the cluster the Kubernetes configuration (`KUBECONFIG`,
    /// `~/.kube/config`, or the pod's service account) points at.
    Kubernetes {
        /// The namespace runs go to; the configuration's by default.
        namespace: Option<String>,
    },
}

impl Config {
    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// A server on loopback with an OS-chosen port, keeping its files in `data_dir`: the set-up
    /// of tests and embedded uses.
    pub fn local(data_dir: impl Into<PathBuf>, web_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: 0,
            data_dir: data_dir.into(),
            web_dir: web_dir.into(),
            token: None,
            max_concurrent_runs: None,
            runtime: RuntimeChoice::Process,
            api_host: None,
            allowed_hosts: Vec::new(),
        }
    }
}
