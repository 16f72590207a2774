//! What the process runtime executes for a run, read from the Polyaxon resource the run
//! converts to: the init containers as steps, the main container's command, their environment
//! resolved for this machine, and the operation's termination settings.
//!
//! Paths are mapped as a pod would see them: `/plx-context` is the run's own context folder
//! (its `artifacts/{uuid}` is the run's folder in the artifacts store, linked in), and the
//! store's mount path is the store's folder on this machine.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use super::ProcessConfig;
use crate::runtime::Execution;

/// Where Polyaxon mounts a run's context in its pods.
const CONTEXT: &str = "/plx-context";

/// The init container Polyaxon adds to bring a run's stored artifacts into its pod.
const STORE_SYNC_CONTAINER: &str = "polyaxon-init-artifacts-default";

/// How a run executes, read from its resource.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What runs before the main container, in order.
    pub init: Vec<InitStep>,
    /// The program to run: the first of the main container's `command` and `args`.
    pub program: String,
    /// The rest of them.
    pub args: Vec<String>,
    /// The main container's environment, resolved for this machine, and the runtime's
    /// additions.
    pub env: Vec<(String, String)>,
    /// Where it runs.
    pub working_dir: PathBuf,
    /// What `/plx-context` is for this run.
    pub context_root: PathBuf,
    /// The run's folder in the artifacts store.
    pub artifacts_dir: PathBuf,
    /// The pod Polyaxon would run it in: its log lines carry this name.
    pub pod: String,
    /// The ports a service listens on.
    pub ports: Vec<u16>,
    /// How many times a failed attempt is tried again.
    pub max_retries: u32,
    /// How long the run may take, all attempts together.
    pub timeout: Option<Duration>,
}

/// One init container, done on this machine.
#[derive(Debug, Clone, PartialEq)]
pub enum InitStep {
    /// `git clone` a repository (a URL or a local path) and check out a revision.
    Git {
        /// The init container's name, for its log lines.
        container: String,
        /// Where the clone goes.
        repo_path: PathBuf,
        /// What to clone.
        url: String,
        /// What to check out after cloning.
        revision: Option<String>,
        /// Extra flags for `git clone`.
        flags: Vec<String>,
    },
    /// Write a file.
    File {
        /// The init container's name.
        container: String,
        /// The file to write.
        path: PathBuf,
        /// What it holds.
        content: String,
        /// `chmod`'s mode, e.g. `+x` or `755`.
        chmod: Option<String>,
    },
    /// Run the container's command (copies from the artifacts store, a custom container, …).
    Command {
        /// The init container's name.
        container: String,
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// The container's environment.
        env: Vec<(String, String)>,
    },
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
        let containers = |key: &str| {
            pod_spec
                .get(key)
                .and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
        };
        let main = containers("containers")
            .iter()
            .find(|container| text(container.get("name")) == shared::convert::MAIN_CONTAINER)
            .ok_or("the run has no main container")?;
        let metadata = template.get("metadata").unwrap_or(&Json::Null);
        let run_folder = config.runs_root.join(&execution.uuid);
        let mapping = Mapping {
            context: run_folder.join("context").to_string_lossy().into_owned(),
            store_mount: config.store_mount.clone(),
            store: config.artifacts_root.to_string_lossy().into_owned(),
            node: config.node.clone(),
            pod: text(metadata.get("name")),
            namespace: text(metadata.get("namespace")),
        };
        let mut command = mapping.strings(main, "command");
        command.extend(mapping.strings(main, "args"));
        if command.is_empty() {
            return Err(
                "the main container has no `command` or `args`: the process runtime \
                        runs them with this machine's programs (container images are not used)"
                    .to_owned(),
            );
        }
        let program = command.remove(0);
        let mut env = mapping.env(main);
        env.push(("POLYAXON_CONTEXT_ROOT".to_owned(), mapping.context.clone()));
        if let Some(token) = &config.token {
            env.push(("POLYAXON_AUTH_TOKEN".to_owned(), token.clone()));
        }
        let init = containers("initContainers")
            .iter()
            // In a pod this copies the run's stored artifacts into the pod's context; here the
            // context's artifacts folder is the store's own, so there is nothing to copy.
            .filter(|container| text(container.get("name")) != STORE_SYNC_CONTAINER)
            .map(|container| mapping.init_step(container))
            .collect::<Result<_, _>>()?;
        let working_dir = main
            .get("workingDir")
            .and_then(Json::as_str)
            .map(|dir| PathBuf::from(mapping.relocate(dir)))
            .unwrap_or_else(|| run_folder.join("work"));
        let termination = execution.compiled.get("termination");
        let number = |key: &str| termination.and_then(|t| t.get(key)).and_then(Json::as_u64);
        Ok(Plan {
            init,
            program,
            args: command,
            env,
            working_dir,
            context_root: PathBuf::from(&mapping.context),
            artifacts_dir: config.artifacts_root.join(&execution.uuid),
            pod: mapping.pod,
            ports: execution
                .compiled
                .pointer("/run/ports")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|port| port.as_u64().and_then(|port| u16::try_from(port).ok()))
                .collect(),
            max_retries: number("maxRetries").unwrap_or(0) as u32,
            timeout: number("timeout").map(Duration::from_secs),
        })
    }
}

fn text(value: Option<&Json>) -> String {
    value.and_then(Json::as_str).unwrap_or_default().to_owned()
}

/// How a pod's paths and downward-API values read on this machine.
struct Mapping {
    context: String,
    store_mount: Option<String>,
    store: String,
    node: String,
    pod: String,
    namespace: String,
}

impl Mapping {
    fn relocate(&self, value: &str) -> String {
        let value = value.replace(CONTEXT, &self.context);
        match &self.store_mount {
            Some(mount) => value.replace(mount.as_str(), &self.store),
            None => value,
        }
    }

    fn strings(&self, container: &Json, key: &str) -> Vec<String> {
        container
            .get(key)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(|value| self.relocate(value))
            .collect()
    }

    fn env(&self, container: &Json) -> Vec<(String, String)> {
        // Python buffers its output when it is not a terminal; live logs need every line as
        // it is printed. The container's own setting comes later and wins.
        let mut env = vec![("PYTHONUNBUFFERED".to_owned(), "1".to_owned())];
        for variable in container
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
                (Some(value), _) => self.relocate(value),
                (None, Some("spec.nodeName")) => self.node.clone(),
                (None, Some("metadata.namespace")) => self.namespace.clone(),
                (None, Some("metadata.name")) => self.pod.clone(),
                // Secrets and config maps live in a cluster; there is nothing to read here.
                _ => continue,
            };
            env.push((name.to_owned(), value));
        }
        env
    }

    /// Polyaxon's own initializers (git, file) are done natively, so the host needs no
    /// `polyaxon` CLI for them; every other init container runs its command.
    fn init_step(&self, container: &Json) -> Result<InitStep, String> {
        let name = text(container.get("name"));
        let command = self.strings(container, "command");
        let args = self.strings(container, "args");
        let option = |key: &str| {
            args.iter()
                .find_map(|arg| arg.strip_prefix(&format!("--{key}=")))
                .map(str::to_owned)
        };
        match command.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["polyaxon", "initializer", "git"] => Ok(InitStep::Git {
                container: name,
                repo_path: option("repo-path")
                    .ok_or("a git init step has no --repo-path")?
                    .into(),
                url: option("url").ok_or("a git init step has no --url")?,
                revision: option("revision"),
                flags: option("flags")
                    .map(|flags| serde_json::from_str(&flags))
                    .transpose()
                    .map_err(|error| format!("a git init step's --flags are not a list: {error}"))?
                    .unwrap_or_default(),
            }),
            ["polyaxon", "initializer", "file"] => {
                let context: Json = option("file-context")
                    .map(|context| serde_json::from_str(&context))
                    .transpose()
                    .map_err(|error| format!("a file init step's context is not JSON: {error}"))?
                    .ok_or("a file init step has no --file-context")?;
                let folder =
                    option("filepath").unwrap_or_else(|| format!("{}/artifacts", self.context));
                let filename = context
                    .get("filename")
                    .and_then(Json::as_str)
                    .unwrap_or("file");
                Ok(InitStep::File {
                    container: name,
                    path: PathBuf::from(folder).join(filename),
                    content: text(context.get("content")),
                    chmod: context
                        .get("chmod")
                        .and_then(Json::as_str)
                        .map(str::to_owned),
                })
            }
            _ => {
                let mut all = command;
                all.extend(args);
                if all.is_empty() {
                    return Err(format!(
                        "the init container `{name}` has no command: the process runtime runs \
                         commands with this machine's programs (container images are not used)"
                    ));
                }
                Ok(InitStep::Command {
                    container: name,
                    program: all.remove(0),
                    args: all,
                    env: self.env(container),
                })
            }
        }
    }
}
