//! Init steps: the containers that fetch code, data and files into the run before its main
//! container starts, each from where its step says (a git repository, a bucket or volume of the
//! catalog, the artifacts store) into where it says (its `path`, or the run's artifacts context).

use serde_json::{Map, Value as Json, json};

use super::{
    CONTEXT_ARTIFACTS, CONTEXT_CONFIGS, Converter, NotConverted, StoreAccess, catalog, env,
    make_dir, polyaxon_container, sanitize_container, store_container,
};
use crate::python;
use crate::run::Connection;
use crate::schema::{self, Object};

/// Whether a step fetches something (a connection or one of the init sources), rather than
/// only running a container of the user's.
pub(super) fn fetches(step: &Json) -> bool {
    std::iter::once("connection")
        .chain(schema::INIT_SOURCES.iter().copied())
        .any(|key| step.get(key).is_some_and(|value| !value.is_null()))
}

/// The volume a step fills and where it is mounted: its own for a step with a `path`, the
/// run's artifacts context otherwise.
pub(super) fn context_volume(step: &Json) -> (String, String) {
    match step.get("path").and_then(Json::as_str) {
        Some(path) => (volume_name(path), path.to_owned()),
        None => ("artifacts-context".to_owned(), CONTEXT_ARTIFACTS.to_owned()),
    }
}

/// `connections-context-<uuid5(DNS namespace, path)>`, the name Polyaxon gives a path's volume.
fn volume_name(path: &str) -> String {
    // RFC 4122's DNS namespace, 6ba7b810-9dad-11d1-80b4-00c04fd430c8.
    const DNS: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(&DNS);
    hasher.update(path.as_bytes());
    let mut bytes: [u8; 16] = hasher.digest().bytes()[..16]
        .try_into()
        .expect("a SHA-1 digest has 20 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("connections-context-{hex}")
}

/// A container name with a 10-hex-digit suffix, as Polyaxon makes them unique. Polyaxon draws the
/// suffix at random; here it is derived from the step, so a conversion is reproducible.
pub(super) fn unique_name(stem: &str, seed: &str) -> String {
    let digest = sha1_smol::Sha1::from(format!("{stem}\n{seed}"))
        .digest()
        .to_string();
    format!("{stem}-{}", &digest[..10])
}

/// Python's `os.path.join`: a part that starts with `/` starts over.
fn join(base: &str, part: &str) -> String {
    if part.starts_with('/') {
        part.to_owned()
    } else if base.ends_with('/') || base.is_empty() {
        format!("{base}{part}")
    } else {
        format!("{base}/{part}")
    }
}

/// Python's `os.path.split(path)[0]`: the folder part.
fn folder_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(at) => path[..at].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// The shell script that copies files, folders and paths from `store` into `mount_path`: `cp`
/// for a mounted store, Polyaxon's `initializer path` for a bucket (and for paths, which may be
/// anywhere).
fn copy_script(
    store: &Connection,
    mount_path: &str,
    artifacts: Option<&Json>,
    paths: Option<&Json>,
    sync: bool,
) -> String {
    let list = |value: Option<&Json>| value.and_then(Json::as_array).cloned().unwrap_or_default();
    let mut files = list(artifacts.and_then(|artifacts| artifacts.get("files")));
    let mut dirs = list(artifacts.and_then(|artifacts| artifacts.get("dirs")));
    let paths = list(paths);
    // Nothing named: the whole store.
    if files.is_empty() && dirs.is_empty() && paths.is_empty() {
        dirs = vec![Json::from("")];
    }
    let base = store.store_path().unwrap_or_default();
    let is_bucket = matches!(store.kind.as_str(), "s3" | "gcs" | "wasb");
    let sync_flag = |to: &str| {
        if sync {
            format!("polyaxon initializer fswatch --path={to};")
        } else {
            String::new()
        }
    };
    let mut script = Vec::new();
    let mut copy = |item: &Json, is_file: bool, check_path: bool| {
        let (from, to, relative) = match item {
            Json::Array(pair) if pair.len() == 2 => {
                let (from, to) = (python::str_of(&pair[0]), python::str_of(&pair[1]));
                (join(&base, &from), join(mount_path, &to), to)
            }
            other => {
                let part = python::str_of(other);
                (join(&base, &part), join(mount_path, &part), part)
            }
        };
        let folder = if is_file || check_path {
            folder_of(&relative)
        } else {
            relative
        };
        script.push(make_dir(&join(mount_path, &folder)));
        if is_bucket || check_path {
            let mut flags = Vec::new();
            if is_file {
                flags.push("--is-file");
            }
            if sync {
                flags.push("--sync-fw");
            }
            if check_path {
                flags.push("--check-path");
            }
            script.push(format!(
                "polyaxon initializer path --connection-name={} --connection-kind={} --path-from={from} --path-to={to} {};",
                store.name,
                store.kind,
                flags.join(" ")
            ));
        } else if is_file {
            script.push(format!(
                "if [ -f {from} ]; then cp {from} {to}; {} fi;",
                sync_flag(&to)
            ));
        } else {
            script.push(format!(
                "if [ -d {from} ] && [ \"$(ls -A {from})\" ]; then cp -R {from}/* {to}; {} fi;",
                sync_flag(&to)
            ));
        }
    };
    files.drain(..).for_each(|file| copy(&file, true, false));
    dirs.drain(..).for_each(|dir| copy(&dir, false, false));
    paths.iter().for_each(|path| copy(path, false, true));
    script.join(" ")
}

/// A structured value as Polyaxon's model writes it to JSON: fields in the model's order, unset
/// ones left out.
fn model_json(value: &Json, object: &Object) -> String {
    let mut fields = Map::new();
    for field in object.fields {
        if let Some(item) = value.get(field.name).filter(|item| !item.is_null()) {
            fields.insert(field.name.to_owned(), item.clone());
        }
    }
    Json::Object(fields).to_string()
}

impl Converter<'_> {
    /// The catalog connections the init steps name, in order.
    pub(super) fn init_connections(
        &self,
        steps: &[&Json],
    ) -> Result<Vec<&Connection>, NotConverted> {
        let mut found: Vec<&Connection> = Vec::new();
        for step in steps {
            let Some(name) = step.get("connection").and_then(Json::as_str) else {
                continue;
            };
            let connection = self
                .run
                .connection(name)
                .or_else(|| self.store().filter(|store| store.name == name))
                .ok_or_else(|| {
                    NotConverted::Invalid(format!("the agent has no connection named `{name}`"))
                })?;
            if !found.iter().any(|known| known.name == connection.name) {
                found.push(connection);
            }
        }
        Ok(found)
    }

    /// The variables of an init container: Polyaxon's client as the initializer service.
    fn init_env(&self) -> Vec<Json> {
        self.service_env("initializer", true, true)
    }

    /// One container per step: the fetching ones as Polyaxon builds them, then the steps that
    /// only run a container of the user's.
    pub(super) fn init_step_containers(&self, steps: &[&Json]) -> Result<Vec<Json>, NotConverted> {
        let mut containers = Vec::new();
        for (index, step) in steps.iter().enumerate().filter(|(_, step)| fetches(step)) {
            let seed = format!("{index}:{step}");
            let (volume, mount_path) = context_volume(step);
            let context_mount = json!({"mountPath": mount_path, "name": volume});
            match step.get("connection").and_then(Json::as_str) {
                Some(name) => {
                    let connection = self.init_connections(&[step])?[0];
                    if matches!(connection.kind.as_str(), "git" | "ssh") {
                        containers.push(self.git_container(step, connection.clone(), &seed, true));
                    } else if matches!(
                        connection.kind.as_str(),
                        "s3" | "gcs" | "wasb" | "volume_claim" | "host_path"
                    ) {
                        let is_store = self.store().is_some_and(|store| store.name == name);
                        containers.push(self.store_step(step, connection, &seed, is_store));
                    } else if step.get("container").is_some_and(Json::is_object) {
                        containers.push(self.custom_container(step, connection, &seed));
                    } else {
                        // Polyaxon's converter fails here too (it reads the missing container).
                        return Err(NotConverted::Invalid(format!(
                            "init step {index} uses the {} connection `{name}` without a `container`: Polyaxon fetches only git, ssh and artifacts-store connections itself; give the step a container that uses this connection",
                            connection.kind
                        )));
                    }
                }
                None => {
                    if step.get("artifacts").is_some() || step.get("paths").is_some() {
                        let store = self.store().ok_or_else(|| {
                            NotConverted::Invalid("an init step fetches artifacts, but the agent has no artifacts store".to_owned())
                        })?;
                        containers.push(self.store_step(step, store, &seed, true));
                    }
                    if let Some(git) = step.get("git") {
                        let url = git.get("url").map(python::str_of).unwrap_or_default();
                        let name = url
                            .rsplit('/')
                            .next()
                            .unwrap_or_default()
                            .split('.')
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                        let schema = model_json(git, &schema::GIT_TYPE);
                        let raw = json!({"name": name, "kind": "git", "schema": serde_json::from_str::<Json>(&schema).unwrap_or_default()});
                        let connection = Connection {
                            name,
                            kind: "git".to_owned(),
                            raw,
                        };
                        containers.push(self.git_container(step, connection, &seed, false));
                    }
                    if let Some(dockerfile) = step.get("dockerfile") {
                        let args = self.tracked_args(
                            format!(
                                "--build-context={}",
                                model_json(dockerfile, &schema::DOCKERFILE_TYPE)
                            ),
                            format!("--destination={mount_path}"),
                        );
                        containers.push(self.tool_container(
                            step,
                            "polyaxon-init-dockerfile",
                            &seed,
                            json!(["polyaxon", "docker", "generate"]),
                            args,
                            context_mount.clone(),
                        ));
                    }
                    if let Some(file) = step.get("file") {
                        let mut file = file.clone();
                        if let Json::Object(fields) = &mut file {
                            fields
                                .entry("filename")
                                .or_insert_with(|| Json::from("file"));
                        }
                        let args = self.tracked_args(
                            format!("--file-context={}", model_json(&file, &schema::FILE_TYPE)),
                            format!("--filepath={mount_path}"),
                        );
                        containers.push(self.tool_container(
                            step,
                            "polyaxon-init-file",
                            &seed,
                            json!(["polyaxon", "initializer", "file"]),
                            args,
                            context_mount.clone(),
                        ));
                    }
                    if let Some(tensorboard) = step.get("tensorboard") {
                        containers.push(self.tensorboard_container(
                            step,
                            tensorboard,
                            &seed,
                            &mount_path,
                            context_mount.clone(),
                        )?);
                    }
                }
            }
        }
        for (index, step) in steps.iter().enumerate().filter(|(_, step)| !fetches(step)) {
            let Some(Json::Object(container)) = step.get("container") else {
                // Polyaxon's converter fails here too (it reads the missing container).
                return Err(NotConverted::Invalid(format!(
                    "init step {index} neither fetches anything nor gives a `container` to run"
                )));
            };
            let mut container = container.clone();
            container
                .entry("name")
                .or_insert_with(|| Json::from(unique_name("init", &format!("{index}:{step}"))));
            container
                .entry("env")
                .or_insert_with(|| Json::Array(Vec::new()));
            containers.push(sanitize_container(container));
        }
        Ok(containers)
    }

    /// The step's own container settings under Polyaxon's, when it gives a `container`.
    fn with_step_container(&self, step: &Json, polyaxon: Json) -> Json {
        let Some(Json::Object(own)) = step.get("container") else {
            return polyaxon;
        };
        let Json::Object(mut merged) = polyaxon else {
            return polyaxon;
        };
        for (key, value) in own {
            match (merged.get_mut(key), value) {
                (Some(Json::Array(base)), Json::Array(extra))
                    if key != "command" && key != "args" =>
                {
                    let mut combined = extra.clone();
                    combined.append(base);
                    *base = combined;
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        sanitize_container(merged)
    }

    fn git_container(
        &self,
        step: &Json,
        mut connection: Connection,
        seed: &str,
        track: bool,
    ) -> Json {
        // A step's `git` settings refine the connection's repository.
        if let Some(Json::Object(git)) = step.get("git")
            && let Json::Object(raw) = &mut connection.raw
        {
            let schema = raw
                .entry("schema")
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(schema) = schema {
                for (key, value) in git.iter().filter(|(_, value)| !value.is_null()) {
                    schema.insert(key.clone(), value.clone());
                }
            }
        }
        let (volume, mount_path) = context_volume(step);
        let mut mounts = vec![json!({"mountPath": mount_path, "name": volume})];
        if self.plugins.auth {
            mounts.push(
                json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": true}),
            );
        }
        let access = StoreAccess::credentials(&connection);
        mounts.extend(access.mounts);
        let mut vars = self.init_env();
        vars.extend(access.env);
        vars.push(catalog(&[&connection]));
        let schema = connection.raw.get("schema").cloned().unwrap_or(Json::Null);
        let text = |key: &str| {
            schema
                .get(key)
                .filter(|value| !value.is_null())
                .map(python::str_of)
        };
        let mut args = vec![format!(
            "--repo-path={}",
            join(&mount_path, &connection.name)
        )];
        args.extend(text("url").map(|url| format!("--url={url}")));
        args.extend(text("revision").map(|revision| format!("--revision={revision}")));
        if track {
            args.push(format!("--connection={}", connection.name));
        }
        if let Some(Json::Array(flags)) = schema.get("flags")
            && !flags.is_empty()
        {
            args.push(format!("--flags={}", Json::Array(flags.clone())));
        }
        let container = polyaxon_container(
            unique_name(&format!("polyaxon-init-git-{}", connection.name), seed),
            "init",
            json!(["polyaxon", "initializer", "git"]),
            Some(args),
            vars,
            access.env_from,
            mounts,
        );
        self.with_step_container(step, container)
    }

    /// A step that copies from a bucket or a volume: from the artifacts store by default.
    fn store_step(
        &self,
        step: &Json,
        store: &Connection,
        seed: &str,
        is_default_store: bool,
    ) -> Json {
        let (volume, volume_path) = context_volume(step);
        let mount_path = match step.get("path").and_then(Json::as_str) {
            Some(path) => path.to_owned(),
            None if is_default_store => CONTEXT_ARTIFACTS.to_owned(),
            None => format!("{CONTEXT_ARTIFACTS}/{}", store.name),
        };
        let script = copy_script(
            store,
            &mount_path,
            step.get("artifacts"),
            step.get("paths"),
            false,
        );
        let container = store_container(
            unique_name(&format!("polyaxon-init-artifacts-{}", store.name), seed),
            store,
            self.init_env(),
            vec![json!({"mountPath": volume_path, "name": volume})],
            json!(["/bin/sh", "-c"]),
            vec![script],
        );
        self.with_step_container(step, container)
    }

    /// A step that runs one of Polyaxon's own tools (dockerfile generation, file writing).
    /// The arguments of a tool that generates a file into the run and tracks a copy of it
    /// among the run's outputs.
    fn tracked_args(&self, source: String, target: String) -> Vec<String> {
        vec![
            source,
            target,
            format!(
                "--copy-path={CONTEXT_ARTIFACTS}/{}/outputs",
                self.run.run_uuid
            ),
            "--track".to_owned(),
        ]
    }

    fn tool_container(
        &self,
        step: &Json,
        stem: &str,
        seed: &str,
        command: Json,
        args: Vec<String>,
        context_mount: Json,
    ) -> Json {
        let mut mounts = vec![context_mount];
        if self.plugins.auth {
            mounts.push(
                json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": true}),
            );
        }
        let mut vars = self.init_env();
        // These tools read the run instance last, after the service's variables.
        vars.retain(|var| var.get("name") != Some(&Json::from("POLYAXON_RUN_INSTANCE")));
        vars.push(env("POLYAXON_RUN_INSTANCE", self.run_instance()));
        let container = polyaxon_container(
            unique_name(stem, seed),
            "init",
            command,
            Some(args),
            vars,
            Vec::new(),
            mounts,
        );
        self.with_step_container(step, container)
    }

    fn tensorboard_container(
        &self,
        step: &Json,
        tensorboard: &Json,
        seed: &str,
        mount_path: &str,
        context_mount: Json,
    ) -> Result<Json, NotConverted> {
        let store = self.store().ok_or_else(|| {
            NotConverted::Invalid(
                "a tensorboard init step reads the artifacts store, but the agent has none"
                    .to_owned(),
            )
        })?;
        let mut args = vec![
            format!("--context-from={}", store.store_path().unwrap_or_default()),
            format!("--context-to={mount_path}"),
            format!("--connection-kind={}", store.kind),
        ];
        let listed = |key: &str| -> Option<String> {
            let items: Vec<String> = match tensorboard.get(key)? {
                Json::Array(items) => items.iter().map(python::str_of).collect(),
                other => python::str_of(other)
                    .split(',')
                    .map(|item| item.trim().to_owned())
                    .collect(),
            };
            (!items.is_empty()).then(|| items.join(","))
        };
        if let Some(port) = tensorboard.get("port").filter(|port| !port.is_null()) {
            args.push(format!("--port={}", python::str_of(port)));
        }
        if let Some(uuids) = listed("uuids") {
            args.push(format!("--uuids={uuids}"));
        }
        if tensorboard.get("useNames") == Some(&Json::Bool(true)) {
            args.push("--use-names".to_owned());
        }
        if let Some(prefix) = tensorboard
            .get("pathPrefix")
            .filter(|prefix| !prefix.is_null())
        {
            args.push(format!("--path-prefix={}", python::str_of(prefix)));
        }
        if let Some(plugins) = listed("plugins") {
            args.push(format!("--plugins={plugins}"));
        }
        let mut mounts = vec![context_mount];
        if self.plugins.auth {
            mounts.push(
                json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": true}),
            );
        }
        let mut vars = self.init_env();
        vars.retain(|var| var.get("name") != Some(&Json::from("POLYAXON_RUN_INSTANCE")));
        vars.push(env("POLYAXON_RUN_INSTANCE", self.run_instance()));
        let container = store_container(
            unique_name("polyaxon-init-tb", seed),
            store,
            vars,
            mounts,
            json!(["polyaxon", "initializer", "tensorboard"]),
            args,
        );
        Ok(self.with_step_container(step, container))
    }

    /// A step with a connection Polyaxon has no initializer for: the user's container, given the
    /// connection's credentials and catalog entry.
    fn custom_container(&self, step: &Json, connection: &Connection, seed: &str) -> Json {
        let (volume, mount_path) = context_volume(step);
        let mut mounts = vec![json!({"mountPath": mount_path, "name": volume})];
        if self.plugins.auth {
            mounts.push(
                json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": true}),
            );
        }
        let access = StoreAccess::credentials(connection);
        mounts.extend(access.mounts);
        let mut vars = self.init_env();
        vars.extend(access.env);
        vars.push(catalog(&[connection]));
        let name = step
            .get("container")
            .and_then(|container| container.get("name"))
            .map(python::str_of)
            .unwrap_or_else(|| unique_name(&format!("polyaxon-init-{}", connection.name), seed));
        let container = json!({
            "name": name,
            "env": vars,
            "envFrom": access.env_from,
            "ports": [],
            "volumeMounts": mounts,
        });
        self.with_step_container(step, container)
    }
}
