use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How a server is set up: where it listens and where it keeps and finds its files.
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
}

impl Config {
    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }
}
