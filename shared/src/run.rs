//! Everything run-specific the compiler takes as data, never reading it from the world itself:
//! who runs what (owner, project, run uuid and name), when (timestamps, as text) and where (the
//! agent: namespace, artifacts store, connections catalog).

use serde::Deserialize;
use serde_json::Value as Json;

/// The identity of one run and the agent that runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunContext {
    /// The owner (organisation), `default` in a single-team installation.
    pub owner: String,
    /// The project's name.
    pub project: String,
    /// The project's uuid, 32 hex digits.
    pub project_uuid: String,
    /// The run's uuid, 32 hex digits; also the run's path in the artifacts store.
    pub run_uuid: String,
    /// The run's name when its operation has none.
    pub default_run_name: String,
    /// Where the run's processes reach Myelin's API (`POLYAXON_HOST`).
    pub api_host: String,
    /// When the run was created, as ISO 8601 (`2024-01-02T03:04:05Z`).
    pub created_at: String,
    /// When the run was compiled, as ISO 8601.
    pub compiled_at: String,
    /// The agent that runs it.
    pub agent: Agent,
}

/// The agent's configuration, in the camelCase shape of Polyaxon's agent settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// The namespace runs go to.
    #[serde(default)]
    pub namespace: String,
    /// Other namespaces the agent may run in.
    #[serde(default)]
    pub additional_namespaces: Vec<String>,
    /// Where run artifacts are kept.
    pub artifacts_store: Option<Connection>,
    /// The connections runs may request by name.
    #[serde(default)]
    pub connections: Vec<Connection>,
}

/// A named connection of the catalog: a bucket, a volume, a git repository, a registry, ….
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Json")]
pub struct Connection {
    /// The name runs use to request it.
    pub name: String,
    /// What it connects to (`s3`, `volume_claim`, `git`, …).
    pub kind: String,
    /// The connection as the agent describes it (`schema`, `secret`, `configMap`, …), which is
    /// also what the connections catalog gives a run's processes.
    pub raw: Json,
}

impl TryFrom<Json> for Connection {
    type Error = String;

    fn try_from(raw: Json) -> Result<Self, String> {
        let text = |key: &str| {
            raw.get(key)
                .and_then(Json::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("a connection needs a `{key}`"))
        };
        Ok(Self {
            name: text("name")?,
            kind: text("kind")?,
            raw: raw.clone(),
        })
    }
}

impl Connection {
    /// Where the store is mounted in a run: its `mountPath`, or the bucket's URL.
    pub fn store_path(&self) -> Option<String> {
        let schema = self.raw.get("schema")?;
        schema
            .get("mountPath")
            .or_else(|| schema.get("bucket"))
            .and_then(Json::as_str)
            .map(str::to_owned)
    }
}

impl Agent {
    /// Reads an agent configuration written as YAML (or JSON).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let (root, diagnostics) = crate::yaml::parse(text);
        if let Some(error) = diagnostics.iter().find(|diagnostic| diagnostic.is_error()) {
            return Err(error.to_string());
        }
        let root = root.ok_or("the agent configuration is empty")?;
        serde_json::from_value(root.to_json()).map_err(|error| error.to_string())
    }
}

impl RunContext {
    /// `owner.project`.
    pub fn project_unique_name(&self) -> String {
        format!("{}.{}", self.owner, self.project)
    }

    /// The connection of the catalog with this name.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.agent
            .connections
            .iter()
            .find(|connection| connection.name == name)
    }
}
