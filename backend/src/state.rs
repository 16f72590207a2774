use std::sync::Arc;

use crate::Config;

/// Everything a handler may need, cloned cheaply into each request.
#[derive(Debug, Clone)]
pub struct AppState {
    /// How the server was started.
    pub config: Arc<Config>,
}

impl AppState {
    /// The state of a server started with `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}
