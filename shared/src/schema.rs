//! The shape of a Polyaxonfile 2.18, as data: which sections and fields exist where, which
//! `kind`s select which shape, and which Kubernetes objects are embedded.
//!
//! `check` walks a document against these tables, so a field added here is validated,
//! suggested in "did you mean" hints and normalised everywhere at once. The field lists follow
//! Polyaxon 2.18's pydantic schemas (`polyaxon/_flow/`), which reject unknown fields.

/// What a field may hold.
#[derive(Debug)]
pub enum Shape {
    /// Anything: a value, a template string, or a structure this table does not describe.
    Any,
    /// A Polyaxon object with a fixed set of fields.
    Object(&'static Object),
    /// A Polyaxon object whose fields depend on its `kind`.
    Tagged(&'static Tagged),
    /// A list whose items have the inner shape.
    List(&'static Shape),
    /// A mapping from free names to values of the inner shape.
    Map(&'static Shape),
    /// A param: `{value|ref, contextOnly, …}`, or a bare value as shorthand for `{value: …}`.
    Param,
    /// A Kubernetes object checked by its top-level keys, which may be written in camelCase or
    /// snake_case and are normalised to camelCase.
    Kubernetes(&'static KubernetesObject),
    /// A string, or a `{{ template }}`.
    Str,
    /// A name: letters, digits, `-` and `_` only, or a `{{ template }}`.
    Slug,
    /// One of these values, or a `{{ template }}`.
    Enum(&'static [&'static str]),
    /// An integer, or a `{{ template }}` that renders to one later.
    Int,
    /// A boolean, read as pydantic reads one (`no`, `"off"`, `0` and `1.0` too), or a
    /// `{{ template }}`.
    Bool,
    /// A mapping of names to text, Polyaxon's `Dict[str, GenericStr]`: a number, boolean, list
    /// or mapping given as a value is kept as its JSON text (`0` becomes `"0"`, `[1, 2]`
    /// `"[1,2]"`); names must be text and values may not be null.
    TextMap,
    /// An integer written as one: Polyaxon takes no template here.
    LiteralInt,
    /// A number, kept as a float (`50` becomes `50.0`), or a template.
    Float,
    /// A date and time, written as Python prints one (`2024-01-02 03:04:05`), or a template.
    DateTime,
    /// A duration; a number of seconds is written as Python prints a timedelta (`1:00:00`).
    Duration,
    /// A list of strings, which may be written as one comma-separated string.
    StrList,
    /// A list of run UUIDs, written like a `StrList`; each is kept as 32 hex digits.
    UuidList,
    /// The value of a hyperparameter range or distribution: a list (`[0, 1, 0.1]`), a string
    /// (`"0:1:0.1"`) or a mapping (`{low: 0, high: 1, q: 0.1}`), read into the mapping.
    Range(&'static RangeLayout),
}

/// The named numbers a range or distribution is made of, in their positional order.
#[derive(Debug)]
pub struct RangeLayout {
    /// The numbers that must be given.
    pub required: &'static [(&'static str, Number)],
    /// The numbers that may follow them.
    pub optional: &'static [(&'static str, Number)],
    /// Whether the first number must be below the second (a range's start and stop, not a
    /// distribution's mean and spread).
    pub ordered: bool,
}

/// How one number of a range is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// Always a float: `2` is read as `2.0`.
    Float,
    /// A whole number.
    Int,
    /// An integer stays one, anything else is read as a float.
    IntOrFloat,
    /// A calendar date.
    Date,
    /// A date and time.
    DateTime,
    /// A number of seconds or a duration.
    Duration,
}

/// A Polyaxon object: its name in messages and its fields.
#[derive(Debug)]
pub struct Object {
    /// How messages name the object, e.g. "termination".
    pub name: &'static str,
    /// Its fields, in Polyaxon's order.
    pub fields: &'static [Field],
}

/// One field of an object.
#[derive(Debug)]
pub struct Field {
    /// The field's name as written in a Polyaxonfile.
    pub name: &'static str,
    /// What it may hold.
    pub shape: Shape,
    /// Whether the object is invalid without it.
    pub required: bool,
}

/// An object whose shape is chosen by its `kind` field.
#[derive(Debug)]
pub struct Tagged {
    /// How messages name the object, e.g. "run".
    pub name: &'static str,
    /// The kinds Polyaxon 2.18 accepts, with the shape each selects.
    pub variants: &'static [(&'static str, &'static Object)],
    /// Kinds older Polyaxon versions had, with what to write instead.
    pub retired: &'static [(&'static str, &'static str)],
}

/// A Kubernetes object embedded in a Polyaxonfile (a container, a volume).
#[derive(Debug)]
pub struct KubernetesObject {
    /// The Kubernetes type, e.g. "V1Container".
    pub name: &'static str,
    /// Its fields in camelCase.
    pub fields: &'static [&'static str],
}

const fn field(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const fn any(name: &'static str) -> Field {
    field(name, Shape::Any)
}

/// A field the object cannot do without.
const fn required(field: Field) -> Field {
    Field {
        required: true,
        ..field
    }
}

/// The sections of a Polyaxonfile: a component, an operation and a kind-less file share them.
pub static POLYAXONFILE: Object = Object {
    name: "Polyaxonfile",
    fields: &[
        field("version", Shape::Float),
        any("kind"),
        field("name", Shape::Slug),
        any("description"),
        field("tags", Shape::StrList),
        field("presets", Shape::StrList),
        any("strictParams"),
        any("queue"),
        any("namespace"),
        field("cache", Shape::Object(&CACHE)),
        field("termination", Shape::Object(&TERMINATION)),
        field("plugins", Shape::Object(&PLUGINS)),
        field("build", Shape::Object(&BUILD)),
        field("hooks", Shape::List(&Shape::Object(&HOOK))),
        any("isApproved"),
        any("cost"),
        field("mount", Shape::List(&Shape::Any)),
        field("schedule", Shape::Tagged(&SCHEDULE)),
        field("events", Shape::List(&Shape::Object(&EVENT_TRIGGER))),
        field("matrix", Shape::Tagged(&MATRIX)),
        field("joins", Shape::List(&Shape::Object(&JOIN))),
        field("dependencies", Shape::List(&Shape::Str)),
        field("trigger", Shape::Enum(TRIGGER_POLICIES)),
        any("conditions"),
        any("skipOnUpstreamSkip"),
        field("inputs", Shape::List(&Shape::Object(&IO))),
        field("outputs", Shape::List(&Shape::Object(&IO))),
        field("run", Shape::Tagged(&RUN)),
        field("ports", Shape::List(&Shape::LiteralInt)),
        field("container", Shape::Kubernetes(&CONTAINER)),
        any("cmd"),
        any("env"),
        // A free mapping of resource names, checked by `shortcuts`.
        any("resources"),
        field("environment", Shape::Object(&ENVIRONMENT)),
        field("init", Shape::List(&Shape::Object(&INIT))),
        field("connections", Shape::List(&Shape::Str)),
        field("sidecars", Shape::List(&Shape::Kubernetes(&CONTAINER))),
        field("volumes", Shape::List(&Shape::Kubernetes(&VOLUME))),
        field("template", Shape::Object(&TEMPLATE)),
        field("params", Shape::Map(&Shape::Param)),
        any("hubRef"),
        any("dagRef"),
        any("urlRef"),
        any("pathRef"),
        field("component", Shape::Object(&POLYAXONFILE)),
        any("patchStrategy"),
        any("isPreset"),
        field("runPatch", Shape::Any),
    ],
};

/// The fields of a param (`V1Param`); a join's params (`V1JoinParam`) have the same.
pub static PARAM: Object = Object {
    name: "param",
    fields: &[
        any("value"),
        any("ref"),
        any("contextOnly"),
        any("connection"),
        any("toInit"),
        any("toEnv"),
    ],
};

/// An input or an output of a component (`V1IO`).
pub static IO: Object = Object {
    name: "input or output",
    fields: &[
        required(field("name", Shape::Str)),
        any("description"),
        any("type"),
        any("isOptional"),
        any("isList"),
        any("isFlag"),
        any("argFormat"),
        any("connection"),
        any("toInit"),
        any("toEnv"),
        any("value"),
        any("validation"),
        any("delayValidation"),
        any("options"),
    ],
};

static CACHE: Object = Object {
    name: "cache",
    fields: &[any("disable"), any("ttl"), any("io"), any("sections")],
};

static TERMINATION: Object = Object {
    name: "termination",
    fields: &[
        field("maxRetries", Shape::Int),
        field("ttl", Shape::Int),
        field("timeout", Shape::Int),
        any("culling"),
        any("probe"),
        any("podFailurePolicy"),
    ],
};

/// The `plugins` section: what Polyaxon adds to a run's pods and does around them.
pub static PLUGINS: Object = Object {
    name: "plugins",
    fields: &[
        field("auth", Shape::Bool),
        field("docker", Shape::Bool),
        field("shm", Shape::Bool),
        field("tmux", Shape::Bool),
        field("sandbox", Shape::Bool),
        field("ssh", Shape::Bool),
        field("mountArtifactsStore", Shape::Bool),
        field("collectArtifacts", Shape::Bool),
        field("collectLogs", Shape::Bool),
        field("collectResources", Shape::Bool),
        field("syncStatuses", Shape::Bool),
        field("autoResume", Shape::Bool),
        any("logLevel"),
        field("externalHost", Shape::Bool),
        field("sidecar", Shape::Object(&POLYAXON_SIDECAR)),
        field("notifications", Shape::List(&Shape::Object(&NOTIFICATION))),
    ],
};

static POLYAXON_SIDECAR: Object = Object {
    name: "plugins.sidecar",
    fields: &[
        any("image"),
        any("imageTag"),
        any("imagePullPolicy"),
        field("sleepInterval", Shape::Int),
        field("syncInterval", Shape::Int),
        field("monitorLogs", Shape::Bool),
        field("monitorSpec", Shape::Bool),
        field("noConnections", Shape::Bool),
        any("resources"),
    ],
};

/// When an operation of a DAG runs, by how its upstream operations ended.
const TRIGGER_POLICIES: &[&str] = &[
    "all_succeeded",
    "all_failed",
    "all_done",
    "one_succeeded",
    "one_failed",
    "one_done",
];

/// The statuses of a run, on which hooks and notifications fire.
const STATUSES: &[&str] = &[
    "created",
    "resuming",
    "on_schedule",
    "compiled",
    "queued",
    "scheduled",
    "starting",
    "running",
    "processing",
    "stopping",
    "failed",
    "stopped",
    "succeeded",
    "skipped",
    "warning",
    "unschedulable",
    "upstream_failed",
    "retrying",
    "unknown",
    "done",
];

/// What an operation of a DAG may wait for from another: its statuses, actions and new
/// artifacts, connections' changes, alerts and custom events.
const EVENT_KINDS: &[&str] = &[
    "run_status_created",
    "run_status_resuming",
    "run_status_compiled",
    "run_status_on_schedule",
    "run_status_queued",
    "run_status_scheduled",
    "run_status_starting",
    "run_status_running",
    "run_status_processing",
    "run_status_stopping",
    "run_status_failed",
    "run_status_stopped",
    "run_status_succeeded",
    "run_status_skipped",
    "run_status_warning",
    "run_status_unschedulable",
    "run_status_upstream_failed",
    "run_status_retrying",
    "run_status_unknown",
    "run_status_done",
    "run_approved_actor",
    "run_invalidated_actor",
    "run_new_artifacts",
    "connection_git_commit",
    "connection_dataset_version",
    "connection_registry_image",
    "alert_info",
    "alert_warning",
    "alert_critical",
    "model_version_new_metric",
    "project_custom_event",
    "org_custom_event",
];

static NOTIFICATION: Object = Object {
    name: "notification",
    fields: &[
        required(any("connections")),
        field("trigger", Shape::Enum(STATUSES)),
    ],
};

static BUILD: Object = Object {
    name: "build",
    fields: &[
        required(any("hubRef")),
        any("connection"),
        any("presets"),
        any("queue"),
        any("namespace"),
        field("cache", Shape::Object(&CACHE)),
        field("params", Shape::Map(&Shape::Param)),
        any("runPatch"),
        any("patchStrategy"),
    ],
};

static HOOK: Object = Object {
    name: "hook",
    fields: &[
        required(any("hubRef")),
        any("connection"),
        field("trigger", Shape::Enum(STATUSES)),
        any("conditions"),
        any("presets"),
        any("queue"),
        any("namespace"),
        field("params", Shape::Map(&Shape::Param)),
        any("disableDefaults"),
    ],
};

static EVENT_TRIGGER: Object = Object {
    name: "event",
    fields: &[
        required(field("kinds", Shape::List(&Shape::Enum(EVENT_KINDS)))),
        required(any("ref")),
    ],
};

static JOIN: Object = Object {
    name: "join",
    fields: &[
        any("ref"),
        required(any("query")),
        any("sort"),
        any("limit"),
        any("offset"),
        field("params", Shape::Map(&Shape::Param)),
    ],
};

static TEMPLATE: Object = Object {
    name: "template",
    fields: &[any("enabled"), any("description"), any("fields")],
};

static ENVIRONMENT: Object = Object {
    name: "environment",
    fields: &[
        field("labels", Shape::TextMap),
        field("annotations", Shape::TextMap),
        field("nodeSelector", Shape::TextMap),
        any("affinity"),
        any("tolerations"),
        any("nodeName"),
        any("serviceAccountName"),
        any("hostAliases"),
        field("securityContext", Shape::Kubernetes(&SECURITY_CONTEXT)),
        any("imagePullSecrets"),
        any("hostNetwork"),
        any("hostPID"),
        any("dnsPolicy"),
        any("dnsConfig"),
        any("schedulerName"),
        any("priorityClassName"),
        any("priority"),
        any("restartPolicy"),
    ],
};

/// The `event` IO type: an event of an upstream run.
pub static EVENT_TYPE: Object = Object {
    name: "event",
    fields: &[any("name"), any("kind")],
};

/// The fields of an init step that name where it fetches from; a step takes one.
pub const INIT_SOURCES: &[&str] = &[
    "artifacts",
    "paths",
    "git",
    "dockerfile",
    "file",
    "tensorboard",
    "lineageRef",
    "modelRef",
    "artifactRef",
];

/// A step that fetches something into the run before its main container starts (`V1Init`).
pub static INIT: Object = Object {
    name: "init",
    fields: &[
        field("artifacts", Shape::Object(&ARTIFACTS_TYPE)),
        any("paths"),
        field("git", Shape::Object(&GIT_TYPE)),
        field("dockerfile", Shape::Object(&DOCKERFILE_TYPE)),
        field("file", Shape::Object(&FILE_TYPE)),
        field("tensorboard", Shape::Object(&TENSORBOARD_TYPE)),
        any("lineageRef"),
        any("modelRef"),
        any("artifactRef"),
        any("connection"),
        any("path"),
        field("container", Shape::Kubernetes(&CONTAINER)),
    ],
};

/// The `artifacts` IO type and init source: files and folders to fetch.
pub static ARTIFACTS_TYPE: Object = Object {
    name: "artifacts",
    fields: &[any("files"), any("dirs"), any("workers")],
};

/// The `git` IO type and init source: a repository to clone.
pub static GIT_TYPE: Object = Object {
    name: "git",
    fields: &[any("url"), any("revision"), any("flags")],
};

/// The `dockerfile` IO type and init source: a Dockerfile to generate.
pub static DOCKERFILE_TYPE: Object = Object {
    name: "dockerfile",
    fields: &[
        required(any("image")),
        any("env"),
        any("path"),
        any("copy"),
        any("postRunCopy"),
        any("run"),
        any("langEnv"),
        any("uid"),
        any("gid"),
        any("username"),
        any("filename"),
        any("workdir"),
        any("workdirPath"),
        any("shell"),
    ],
};

/// The `file` IO type and init source: a file to write.
pub static FILE_TYPE: Object = Object {
    name: "file",
    fields: &[
        field("kind", Shape::Str),
        required(field("content", Shape::Str)),
        field("filename", Shape::Str),
        field("chmod", Shape::Str),
    ],
};

/// The `tensorboard` IO type and init source: runs to show in TensorBoard.
pub static TENSORBOARD_TYPE: Object = Object {
    name: "tensorboard",
    fields: &[
        any("port"),
        field("uuids", Shape::UuidList),
        any("useNames"),
        any("pathPrefix"),
        field("plugins", Shape::StrList),
    ],
};

/// The fields every pod-running kind has: job, service and each distributed replica.
macro_rules! pod_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            any("kind"),
            field("environment", Shape::Object(&ENVIRONMENT)),
            field("connections", Shape::List(&Shape::Str)),
            field("volumes", Shape::List(&Shape::Kubernetes(&VOLUME))),
            field("init", Shape::List(&Shape::Object(&INIT))),
            field("sidecars", Shape::List(&Shape::Kubernetes(&CONTAINER))),
            field("container", Shape::Kubernetes(&CONTAINER)),
            $($extra),*
        ]
    };
}

static JOB: Object = Object {
    name: "job",
    fields: pod_fields!(),
};

static SERVICE: Object = Object {
    name: "service",
    fields: pod_fields!(
        field("ports", Shape::List(&Shape::LiteralInt)),
        any("rewritePath"),
        any("isExternal"),
        field("replicas", Shape::Int),
    ),
};

static DAG: Object = Object {
    name: "dag",
    fields: &[
        any("kind"),
        field("operations", Shape::List(&Shape::Object(&POLYAXONFILE))),
        field("components", Shape::List(&Shape::Object(&POLYAXONFILE))),
        field("environment", Shape::Object(&ENVIRONMENT)),
        any("connections"),
        field("volumes", Shape::List(&Shape::Kubernetes(&VOLUME))),
        any("concurrency"),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static KF_REPLICA: Object = Object {
    name: "replica",
    fields: pod_fields!(any("replicas")),
};

static RAY_REPLICA: Object = Object {
    name: "ray replica",
    fields: pod_fields!(
        any("replicas"),
        any("minReplicas"),
        any("maxReplicas"),
        field("rayStartParams", Shape::TextMap),
    ),
};

/// When a distributed job's pods are deleted once it ends.
const CLEAN_POD_POLICIES: &[&str] = &["All", "Running", "None"];

static SCHEDULING_POLICY: Object = Object {
    name: "schedulingPolicy",
    fields: &[
        any("minAvailable"),
        any("queue"),
        any("minResources"),
        any("priorityClass"),
        any("scheduleTimeoutSeconds"),
    ],
};

static TFJOB: Object = Object {
    name: "tfjob",
    fields: &[
        any("kind"),
        field("cleanPodPolicy", Shape::Enum(CLEAN_POD_POLICIES)),
        field("schedulingPolicy", Shape::Object(&SCHEDULING_POLICY)),
        any("enableDynamicWorker"),
        any("successPolicy"),
        field("chief", Shape::Object(&KF_REPLICA)),
        field("ps", Shape::Object(&KF_REPLICA)),
        field("worker", Shape::Object(&KF_REPLICA)),
        field("evaluator", Shape::Object(&KF_REPLICA)),
    ],
};

static PYTORCHJOB: Object = Object {
    name: "pytorchjob",
    fields: &[
        any("kind"),
        field("cleanPodPolicy", Shape::Enum(CLEAN_POD_POLICIES)),
        field("schedulingPolicy", Shape::Object(&SCHEDULING_POLICY)),
        field("elasticPolicy", Shape::Object(&ELASTIC_POLICY)),
        any("nProcPerNode"),
        field("master", Shape::Object(&KF_REPLICA)),
        field("worker", Shape::Object(&KF_REPLICA)),
    ],
};

/// Torch elastic's settings; Polyaxon spells rendezvous `rdvz`.
static ELASTIC_POLICY: Object = Object {
    name: "elasticPolicy",
    fields: &[
        any("minReplicas"),
        any("maxReplicas"),
        any("rdvzBackend"),
        any("rdvzPort"),
        any("rdvzHost"),
        any("rdvzId"),
        any("rdvzConf"),
        any("standalone"),
        any("nProcPerNode"),
        any("maxRestarts"),
        any("Metrics"),
    ],
};

static MPIJOB: Object = Object {
    name: "mpijob",
    fields: &[
        any("kind"),
        field("cleanPodPolicy", Shape::Enum(CLEAN_POD_POLICIES)),
        field("schedulingPolicy", Shape::Object(&SCHEDULING_POLICY)),
        any("slotsPerWorker"),
        field("launcher", Shape::Object(&KF_REPLICA)),
        field("worker", Shape::Object(&KF_REPLICA)),
    ],
};

static DASKCLUSTER: Object = Object {
    name: "daskcluster",
    fields: &[
        any("kind"),
        field("worker", Shape::Object(&KF_REPLICA)),
        field("scheduler", Shape::Object(&KF_REPLICA)),
        any("minReplicas"),
        any("maxReplicas"),
    ],
};

static RAYCLUSTER: Object = Object {
    name: "raycluster",
    fields: &[
        any("kind"),
        any("entrypoint"),
        any("runtimeEnv"),
        any("metadata"),
        any("rayVersion"),
        field("head", Shape::Object(&RAY_REPLICA)),
        field("workers", Shape::Map(&Shape::Object(&RAY_REPLICA))),
        any("enableInTreeAutoscaling"),
        any("autoscalerOptions"),
    ],
};

/// The run kinds: what a run executes and how.
pub static RUN: Tagged = Tagged {
    name: "run",
    variants: &[
        ("job", &JOB),
        ("service", &SERVICE),
        ("dag", &DAG),
        ("tfjob", &TFJOB),
        ("pytorchjob", &PYTORCHJOB),
        ("mpijob", &MPIJOB),
        ("daskcluster", &DASKCLUSTER),
        ("raycluster", &RAYCLUSTER),
        // Kinds Polyaxon uses for its own runs; they have a job's shape.
        ("notifier", &JOB),
        ("cleaner", &JOB),
        ("tuner", &JOB),
    ],
    retired: &[
        ("daskjob", "Polyaxon 2.18 runs Dask as `daskcluster`"),
        ("rayjob", "Polyaxon 2.18 runs Ray as `raycluster`"),
        (
            "paddlejob",
            "Polyaxon 2.18 has no PaddlePaddle kind; use `pytorchjob` or `job`",
        ),
        ("mxjob", "Polyaxon 2.18 has no MXNet kind; use `job`"),
        ("xgbjob", "Polyaxon 2.18 has no XGBoost kind; use `job`"),
    ],
};

static OPTIMIZATION_METRIC: Object = Object {
    name: "metric",
    fields: &[required(any("name")), any("optimization")],
};

static TUNER: Object = Object {
    name: "tuner",
    fields: &[
        required(any("hubRef")),
        any("presets"),
        any("queue"),
        any("namespace"),
        field("params", Shape::Map(&Shape::Param)),
    ],
};

static RANGE: RangeLayout = RangeLayout {
    required: &[
        ("start", Number::Float),
        ("stop", Number::Float),
        ("step", Number::IntOrFloat),
    ],
    optional: &[],
    ordered: true,
};

static DATE_RANGE: RangeLayout = RangeLayout {
    required: &[
        ("start", Number::Date),
        ("stop", Number::Date),
        ("step", Number::Int),
    ],
    optional: &[],
    ordered: true,
};

static DATETIME_RANGE: RangeLayout = RangeLayout {
    required: &[
        ("start", Number::DateTime),
        ("stop", Number::DateTime),
        ("step", Number::Duration),
    ],
    optional: &[],
    ordered: true,
};

static SPACE: RangeLayout = RangeLayout {
    required: &[
        ("start", Number::Float),
        ("stop", Number::Float),
        ("num", Number::Int),
    ],
    optional: &[],
    ordered: true,
};

static LOG_SPACE: RangeLayout = RangeLayout {
    required: &[
        ("start", Number::Float),
        ("stop", Number::Float),
        ("num", Number::Int),
    ],
    optional: &[("base", Number::Int)],
    ordered: true,
};

static DIST: RangeLayout = RangeLayout {
    required: &[("low", Number::Float), ("high", Number::Float)],
    optional: &[("size", Number::Int)],
    ordered: false,
};

static Q_DIST: RangeLayout = RangeLayout {
    required: &[
        ("low", Number::Float),
        ("high", Number::Float),
        ("q", Number::IntOrFloat),
    ],
    optional: &[("size", Number::Int)],
    ordered: false,
};

static NORMAL: RangeLayout = RangeLayout {
    required: &[("loc", Number::Float), ("scale", Number::Float)],
    optional: &[("size", Number::Int)],
    ordered: false,
};

static Q_NORMAL: RangeLayout = RangeLayout {
    required: &[
        ("loc", Number::Float),
        ("scale", Number::Float),
        ("q", Number::IntOrFloat),
    ],
    optional: &[("size", Number::Int)],
    ordered: false,
};

/// A hyperparameter whose value is a list of choices, or `[choice, probability]` pairs.
static HP_CHOICES: Object = Object {
    name: "hyperparameter",
    fields: &[any("kind"), required(any("value"))],
};

macro_rules! hp_param {
    ($name:ident, $layout:ident) => {
        static $name: Object = Object {
            name: "hyperparameter",
            fields: &[any("kind"), field("value", Shape::Range(&$layout))],
        };
    };
}

hp_param!(HP_RANGE, RANGE);
hp_param!(HP_DATE_RANGE, DATE_RANGE);
hp_param!(HP_DATETIME_RANGE, DATETIME_RANGE);
hp_param!(HP_SPACE, SPACE);
hp_param!(HP_LOG_SPACE, LOG_SPACE);
hp_param!(HP_DIST, DIST);
hp_param!(HP_Q_DIST, Q_DIST);
hp_param!(HP_NORMAL, NORMAL);
hp_param!(HP_Q_NORMAL, Q_NORMAL);

/// The hyperparameter kinds a matrix draws values from.
pub static HP_PARAM: Tagged = Tagged {
    name: "hyperparameter",
    variants: &[
        ("choice", &HP_CHOICES),
        ("pchoice", &HP_CHOICES),
        ("range", &HP_RANGE),
        ("daterange", &HP_DATE_RANGE),
        ("datetimerange", &HP_DATETIME_RANGE),
        ("linspace", &HP_SPACE),
        ("logspace", &HP_LOG_SPACE),
        ("geomspace", &HP_SPACE),
        ("uniform", &HP_DIST),
        ("quniform", &HP_Q_DIST),
        ("loguniform", &HP_DIST),
        ("qloguniform", &HP_Q_DIST),
        ("normal", &HP_NORMAL),
        ("qnormal", &HP_Q_NORMAL),
        ("lognormal", &HP_NORMAL),
        ("qlognormal", &HP_Q_NORMAL),
    ],
    retired: &[],
};

/// Hyperparameter kinds that draw from a continuous distribution, which a grid cannot walk.
pub const DISTRIBUTIONS: &[&str] = &[
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
];

static MATRIX_GRID: Object = Object {
    name: "grid",
    fields: &[
        any("kind"),
        required(field("params", Shape::Map(&Shape::Tagged(&HP_PARAM)))),
        any("numRuns"),
        any("concurrency"),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_RANDOM: Object = Object {
    name: "random",
    fields: &[
        any("kind"),
        required(field("params", Shape::Map(&Shape::Tagged(&HP_PARAM)))),
        required(any("numRuns")),
        any("seed"),
        any("concurrency"),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_HYPERBAND: Object = Object {
    name: "hyperband",
    fields: &[
        any("kind"),
        field("params", Shape::Map(&Shape::Tagged(&HP_PARAM))),
        any("maxIterations"),
        field("eta", Shape::Float),
        any("resource"),
        field("metric", Shape::Object(&OPTIMIZATION_METRIC)),
        any("resume"),
        any("seed"),
        any("concurrency"),
        field("tuner", Shape::Object(&TUNER)),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_BAYES: Object = Object {
    name: "bayes",
    fields: &[
        any("kind"),
        any("utilityFunction"),
        required(any("numInitialRuns")),
        required(any("maxIterations")),
        required(field("metric", Shape::Object(&OPTIMIZATION_METRIC))),
        required(field("params", Shape::Map(&Shape::Tagged(&HP_PARAM)))),
        any("seed"),
        any("concurrency"),
        field("tuner", Shape::Object(&TUNER)),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_TPE: Object = Object {
    name: "tpe",
    fields: &[
        any("kind"),
        any("maxIterations"),
        required(field("metric", Shape::Object(&OPTIMIZATION_METRIC))),
        required(field("params", Shape::Map(&Shape::Tagged(&HP_PARAM)))),
        any("numRuns"),
        any("seed"),
        any("concurrency"),
        field("tuner", Shape::Object(&TUNER)),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_ITERATIVE: Object = Object {
    name: "iterative",
    fields: &[
        any("kind"),
        field("params", Shape::Map(&Shape::Tagged(&HP_PARAM))),
        required(any("maxIterations")),
        any("seed"),
        any("concurrency"),
        field("tuner", Shape::Object(&TUNER)),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

static MATRIX_MAPPING: Object = Object {
    name: "mapping",
    fields: &[
        any("kind"),
        required(any("values")),
        any("concurrency"),
        field(
            "earlyStopping",
            Shape::List(&Shape::Tagged(&EARLY_STOPPING)),
        ),
    ],
};

/// The hyperparameter searches.
pub static MATRIX: Tagged = Tagged {
    name: "matrix",
    variants: &[
        ("random", &MATRIX_RANDOM),
        ("grid", &MATRIX_GRID),
        ("hyperband", &MATRIX_HYPERBAND),
        ("bayes", &MATRIX_BAYES),
        ("tpe", &MATRIX_TPE),
        ("iterative", &MATRIX_ITERATIVE),
        ("mapping", &MATRIX_MAPPING),
    ],
    retired: &[("hyperopt", "Polyaxon 2.18 renamed `hyperopt` to `tpe`")],
};

static METRIC_EARLY_STOPPING: Object = Object {
    name: "metric_early_stopping",
    fields: &[
        any("kind"),
        required(any("metric")),
        required(any("value")),
        required(any("optimization")),
        field("policy", Shape::Tagged(&STOPPING_POLICY)),
    ],
};

static FAILURE_EARLY_STOPPING: Object = Object {
    name: "failure_early_stopping",
    fields: &[any("kind"), required(field("percent", Shape::Float))],
};

static EARLY_STOPPING: Tagged = Tagged {
    name: "earlyStopping",
    variants: &[
        ("metric_early_stopping", &METRIC_EARLY_STOPPING),
        ("failure_early_stopping", &FAILURE_EARLY_STOPPING),
    ],
    retired: &[],
};

static MEDIAN_POLICY: Object = Object {
    name: "median",
    fields: &[
        any("kind"),
        any("evaluationInterval"),
        any("minInterval"),
        any("minSamples"),
    ],
};

static DIFF_POLICY: Object = Object {
    name: "diff",
    fields: &[
        any("kind"),
        required(field("percent", Shape::Float)),
        required(any("evaluationInterval")),
        any("minInterval"),
        any("minSamples"),
    ],
};

static TRUNCATION_POLICY: Object = Object {
    name: "truncation",
    fields: &[
        any("kind"),
        required(field("percent", Shape::Float)),
        required(any("evaluationInterval")),
        any("minInterval"),
        any("minSamples"),
        any("includeSucceeded"),
    ],
};

static STOPPING_POLICY: Tagged = Tagged {
    name: "policy",
    variants: &[
        ("median", &MEDIAN_POLICY),
        ("diff", &DIFF_POLICY),
        ("truncation", &TRUNCATION_POLICY),
    ],
    retired: &[],
};

static CRON_SCHEDULE: Object = Object {
    name: "cron",
    fields: &[
        any("kind"),
        required(any("cron")),
        field("startAt", Shape::DateTime),
        field("endAt", Shape::DateTime),
        field("maxRuns", Shape::Int),
        any("dependsOnPast"),
    ],
};

static INTERVAL_SCHEDULE: Object = Object {
    name: "interval",
    fields: &[
        any("kind"),
        field("startAt", Shape::DateTime),
        field("endAt", Shape::DateTime),
        field("maxRuns", Shape::Int),
        required(field("frequency", Shape::Duration)),
        any("dependsOnPast"),
    ],
};

static DATETIME_SCHEDULE: Object = Object {
    name: "datetime",
    fields: &[any("kind"), required(field("startAt", Shape::DateTime))],
};

/// When a run starts on its own.
pub static SCHEDULE: Tagged = Tagged {
    name: "schedule",
    variants: &[
        ("cron", &CRON_SCHEDULE),
        ("interval", &INTERVAL_SCHEDULE),
        ("datetime", &DATETIME_SCHEDULE),
    ],
    retired: &[],
};

/// Kubernetes `V1Container`, as the Python client of Polyaxon 2.18 knows it.
pub static CONTAINER: KubernetesObject = KubernetesObject {
    name: "V1Container",
    fields: &[
        "args",
        "command",
        "env",
        "envFrom",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "name",
        "ports",
        "readinessProbe",
        "resizePolicy",
        "resources",
        "restartPolicy",
        "restartPolicyRules",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    ],
};

static VOLUME: KubernetesObject = KubernetesObject {
    name: "V1Volume",
    fields: &[
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cephfs",
        "cinder",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "fc",
        "flexVolume",
        "flocker",
        "gcePersistentDisk",
        "gitRepo",
        "glusterfs",
        "hostPath",
        "image",
        "iscsi",
        "name",
        "nfs",
        "persistentVolumeClaim",
        "photonPersistentDisk",
        "portworxVolume",
        "projected",
        "quobyte",
        "rbd",
        "scaleIO",
        "secret",
        "storageos",
        "vsphereVolume",
    ],
};

/// The container-level security context: Polyaxon uses it for `environment.securityContext`
/// too, so pod-only fields such as `fsGroup` are rejected there.
static SECURITY_CONTEXT: KubernetesObject = KubernetesObject {
    name: "V1SecurityContext",
    fields: &[
        "allowPrivilegeEscalation",
        "appArmorProfile",
        "capabilities",
        "privileged",
        "procMount",
        "readOnlyRootFilesystem",
        "runAsGroup",
        "runAsNonRoot",
        "runAsUser",
        "seLinuxOptions",
        "seccompProfile",
        "windowsOptions",
    ],
};
