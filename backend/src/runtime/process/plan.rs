//! What the process runtime executes for a run, read from the Polyaxon resource the run
//! converts to: the main container's command, its environment resolved for this machine, and
//! the operation's termination settings.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use super::ProcessConfig;
use crate::runtime::Execution;

/// How a run executes, read from its resource.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The program to run: the first of the main container's `command` and `args`.
    pub program: String,
    /// The rest of them.
    pub args: Vec<String>,
    /// The container's environment, resolved for this machine, and the runtime's additions.
    pub env: Vec<(String, String)>,
    /// Where it runs.
    pub working_dir: PathBuf,
    /// Where its artifacts go.
    pub artifacts_dir: PathBuf,
    /// The pod Polyaxon would run it in: its log lines carry this name.
    pub pod: String,
    /// How many times a failed attempt is tried again.
    pub max_retries: u32,
    /// How long the run may take, all attempts together.
    pub timeout: Option<Duration>,
}

impl Plan {
    /// Reads the plan from the run's resource and compiled operation; the error says why it
    /// cannot run here.
    pub fn of(execution: &Execution, config: &ProcessConfig) -> Result<Plan, String> {
        let template = execution
            .resource
            .as_object()
            .into_iter()
            .flat_map(|resource| resource.values())
            .find_map(|spec| spec.get("template"))
            .ok_or("the run's resource has no pod template")?;
        let pod_spec = template.get("spec").unwrap_or(&Json::Null);
        let main = pod_spec
            .get("containers")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|container| {
                container.get("name").and_then(Json::as_str)
                    == Some(shared::convert::MAIN_CONTAINER)
            })
            .ok_or("the run has no main container")?;
        let context = config.context_root.to_string_lossy().into_owned();
        let relocate = |text: &str| text.replace("/plx-context", &context);
        let strings = |key: &str| -> Vec<String> {
            main.get(key)
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .map(relocate)
                .collect()
        };
        let mut command = strings("command");
        command.extend(strings("args"));
        if command.is_empty() {
            return Err(
                "the main container has no `command` or `args`: the process runtime runs \
                        them with this machine's programs (container images are not used)"
                    .to_owned(),
            );
        }
        let program = command.remove(0);
        let metadata = template.get("metadata").unwrap_or(&Json::Null);
        let text =
            |value: Option<&Json>| value.and_then(Json::as_str).unwrap_or_default().to_owned();
        let pod = text(metadata.get("name"));
        let namespace = text(metadata.get("namespace"));
        // Python buffers its output when it is not a terminal; live logs need every line as
        // it is printed. The container's own setting comes later and wins.
        let mut env = vec![("PYTHONUNBUFFERED".to_owned(), "1".to_owned())];
        for variable in main
            .get("env")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = variable.get("name").and_then(Json::as_str) else {
                continue;
            };
            let field = variable
                .pointer("/valueFrom/fieldRef/fieldPath")
                .and_then(Json::as_str);
            let value = match (variable.get("value").and_then(Json::as_str), field) {
                (Some(value), _) => relocate(value),
                (None, Some("spec.nodeName")) => config.node.clone(),
                (None, Some("metadata.namespace")) => namespace.clone(),
                (None, Some("metadata.name")) => pod.clone(),
                // Secrets and config maps live in a cluster; there is nothing to read here.
                _ => continue,
            };
            env.push((name.to_owned(), value));
        }
        env.push((
            "POLYAXON_CONTEXT_ROOT".to_owned(),
            config.context_root.to_string_lossy().into_owned(),
        ));
        if let Some(token) = &config.token {
            env.push(("POLYAXON_AUTH_TOKEN".to_owned(), token.clone()));
        }
        let working_dir = main
            .get("workingDir")
            .and_then(Json::as_str)
            .map(|dir| PathBuf::from(relocate(dir)))
            .unwrap_or_else(|| config.work_root.join(&execution.uuid));
        let termination = execution.compiled.get("termination");
        let number = |key: &str| termination.and_then(|t| t.get(key)).and_then(Json::as_u64);
        Ok(Plan {
            program,
            args: command,
            env,
            working_dir,
            artifacts_dir: config.context_root.join("artifacts").join(&execution.uuid),
            pod,
            max_retries: number("maxRetries").unwrap_or(0) as u32,
            timeout: number("timeout").map(Duration::from_secs),
        })
    }
}
