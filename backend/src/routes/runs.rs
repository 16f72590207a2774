//! Runs: submit, list with PQL, read, change, stop, delete, and their statuses
//! (`polyaxon run`, `polyaxon ops …`, and the tracking client).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::{
    ListResponse, OfflineRun, OperationBody, Run, RunPatch, RunSelection, RunSpec, RunTransfer,
    Status, StatusBody, StatusCondition, StatusReport, pending,
};

use super::run_uuid;
use crate::people::Caller;
use crate::runtime::{RuntimeError, StopCause};
use crate::store::StoreError;
use crate::store::{NewRun, RunFilter, RunScope, pql};
use crate::submit::{
    self, Cloning, Origin, Submission, Submitter, asks_approval, execute, submit_run,
};
use crate::{AppError, AppState, clock};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{owner}/{project}/runs", get(list).post(create))
        .route("/v1/orgs/{owner}/runs", get(owner_list))
        .route(
            "/v1/{owner}/{project}/runs/stop",
            post(|state, path, body| bulk(state, path, body, Action::Stop)),
        )
        .route(
            "/v1/{owner}/{project}/runs/delete",
            post(|state, path, body| bulk(state, path, body, Action::Delete))
                .delete(|state, path, body| bulk(state, path, body, Action::Delete)),
        )
        .route("/v1/{owner}/{project}/runs/tag", post(tag_many))
        .route("/v1/{owner}/{project}/runs/sync", post(sync))
        .route(
            "/v1/{owner}/{project}/runs/approve",
            post(|state, path, body| bulk(state, path, body, Action::Approve)),
        )
        .route(
            "/v1/{owner}/{project}/runs/skip",
            post(|state, path, body| bulk(state, path, body, Action::Skip)),
        )
        .route(
            "/v1/{owner}/{project}/runs/invalidate",
            post(invalidate_many),
        )
        .route("/v1/{owner}/{project}/runs/transfer", post(transfer_many))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}",
            get(read).patch(patch).put(patch).delete(delete),
        )
        .route("/v1/{owner}/{project}/runs/{uuid}/spec", get(spec))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/stop",
            post(|state, path| one(state, path, Action::Stop)),
        )
        .route("/v1/{owner}/{project}/runs/{uuid}/restart", post(restart))
        .route("/v1/{owner}/{project}/runs/{uuid}/copy", post(copy))
        .route("/v1/{owner}/{project}/runs/{uuid}/resume", post(resume))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/approve",
            post(|state, path| one(state, path, Action::Approve)),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/invalidate",
            post(invalidate),
        )
        .route("/v1/{owner}/{project}/runs/{uuid}/transfer", post(transfer))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/skip",
            post(|state, path| one(state, path, Action::Skip)),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/namespace",
            get(namespace),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/statuses",
            get(statuses).post(add_status),
        )
}

/// The largest page a list request gets.
const MAX_LIMIT: u32 = 1_000;

/// A list request's `limit` (20 unless given) and `offset`, or why they cannot be served.
pub fn checked_page(limit: Option<u32>, offset: Option<u32>) -> Result<(u32, u32), AppError> {
    let limit = limit.unwrap_or(20);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AppError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    Ok((limit, offset.unwrap_or(0)))
}

/// The links to the previous and next pages, as relative URLs with the same filters.
pub fn page_links(
    path: &str,
    limit: u32,
    offset: u32,
    count: u64,
    filters: &[(&str, String)],
) -> (Option<String>, Option<String>) {
    let link = |offset: u32| {
        let mut query = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
        query.extend(filters.iter().map(|(k, v)| (*k, v.clone())));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{path}?{encoded}")
    };
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    let next = (u64::from(offset) + u64::from(limit) < count).then(|| link(offset + limit));
    (previous, next)
}

#[derive(Debug, Deserialize)]
pub(super) struct ListParams {
    // Not a flattened struct: serde_urlencoded then reads every value as text.
    limit: Option<u32>,
    offset: Option<u32>,
    query: Option<String>,
    sort: Option<String>,
    /// `true` (or `1`) for the bookmarked runs only.
    bookmarks: Option<String>,
}

/// The query parameters a list's page links carry on.
pub(super) type LinkParams = Vec<(&'static str, String)>;

/// A list request's filter, and the parameters its page links carry on.
pub(super) fn list_filter(params: &ListParams) -> Result<(RunFilter, LinkParams), AppError> {
    let (limit, offset) = checked_page(params.limit, params.offset)?;
    let query = params
        .query
        .as_deref()
        .filter(|query| !query.trim().is_empty());
    let sort = params
        .sort
        .as_deref()
        .filter(|sort| !sort.trim().is_empty());
    let filter = RunFilter {
        query: query
            .map(|text| pql::parse(text).map_err(|error| pql_error("query", text, error)))
            .transpose()?,
        sort: sort
            .map(|text| pql::parse_sort(text).map_err(|error| pql_error("sort", text, error)))
            .transpose()?
            .unwrap_or_default(),
        limit,
        offset,
        bookmarked: params
            .bookmarks
            .as_deref()
            .is_some_and(|flag| matches!(flag.to_ascii_lowercase().as_str(), "true" | "1")),
        viewer: None,
    };
    let bookmarks = filter.bookmarked.then_some("true");
    let links = [("query", query), ("sort", sort), ("bookmarks", bookmarks)]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value.to_owned())))
        .collect();
    Ok((filter, links))
}

async fn list(
    state: State<AppState>,
    caller: Caller,
    Path((owner, project)): Path<(String, String)>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/{owner}/{project}/runs");
    let scope = RunScope::Project { owner, project };
    list_scope(state, &caller, scope, &path, params).await
}

/// Every project's runs of an owner, as Polyaxon EE's organization lists them: the runs
/// dashboard, each run naming its `project`.
async fn owner_list(
    state: State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/orgs/{owner}/runs");
    list_scope(state, &caller, RunScope::Owner { owner }, &path, params).await
}

/// A page of the runs `scope` looks at, of the projects `caller` sees, filtered and sorted by
/// the request's PQL, with links to the pages beside it at `path`.
pub(super) async fn list_scope(
    State(state): State<AppState>,
    caller: &Caller,
    scope: RunScope,
    path: &str,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let Query(params) = params?;
    let (mut filter, links) = list_filter(&params)?;
    filter.viewer = caller.viewer().map(str::to_owned);
    let mut page = state.store.runs(&scope, &filter).await?;
    (page.previous, page.next) = page_links(path, filter.limit, filter.offset, page.count, &links);
    Ok(Json(page))
}

fn pql_error(parameter: &str, text: &str, error: pql::PqlError) -> AppError {
    let character = text
        .get(..error.position)
        .map_or(error.position, |before| before.chars().count());
    AppError::BadRequest(format!(
        "`{parameter}` is not valid at character {}: {}",
        character + 1,
        error.message
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> Result<Json<Run>, AppError> {
    let Json(body) = body?;
    let project = state.store.project(&owner, &project).await?;
    let by = Submitter::caller(&caller);
    Ok(Json(
        submit_run(&state, &project, body, None, None, by).await?,
    ))
}

/// `…/runs/sync`: a run tracked offline is recorded as its client recorded it: its uuid, times,
/// conditions (its status follows from them), inputs and outputs. Myelin never executes it.
async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<OfflineRun>, JsonRejection>,
) -> Result<(StatusCode, Json<Run>), AppError> {
    let Json(offline) = body?;
    let project = state.store.project(&owner, &project).await?;
    let uuid = run_uuid(&offline.uuid).map_err(|_| {
        AppError::BadRequest(format!(
            "`uuid` must be a run uuid (32 hex digits), not `{}`",
            offline.uuid
        ))
    })?;
    let Some(created_at) = offline.created_at else {
        return Err(AppError::BadRequest(
            "`created_at` is required: when the run was created".to_owned(),
        ));
    };
    match state.store.run_by_uuid(&uuid).await {
        Ok(_) => {
            return Err(AppError::BadRequest(format!(
                "A run with uuid {uuid} already exists."
            )));
        }
        Err(StoreError::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let conditions = match (offline.status_conditions, offline.status) {
        (Some(conditions), _) if !conditions.is_empty() => conditions,
        (_, Some(status)) => vec![StatusCondition::new(
            status,
            "OfflineRun",
            "Run was synced",
            created_at,
        )],
        _ => Vec::new(),
    };
    let kind = offline.kind.unwrap_or_else(|| "job".to_owned());
    let outputs = offline.outputs;
    let run = NewRun {
        uuid: uuid.clone(),
        body: OperationBody {
            content: offline.content,
            is_managed: Some(false),
            managed_by: Some(offline.managed_by.unwrap_or_else(|| "user".to_owned())),
            name: offline.name.clone(),
            description: offline.description,
            tags: offline.tags,
            meta_info: offline.meta_info,
            ..OperationBody::default()
        },
        name: offline.name,
        runtime: offline.runtime.unwrap_or_else(|| kind.clone()),
        kind,
        executor: submit::CLIENT_EXECUTOR.to_owned(),
        inputs: offline.inputs,
        compiled: None,
        resource: None,
        conditions,
        created_at,
        cloned_from: None,
        pipeline: None,
        cache_key: None,
        user: caller.user(),
    };
    let mut created = state
        .store
        .create_run(&project.owner, &project.name, run)
        .await?;
    if outputs.is_some() {
        let patch = RunPatch {
            outputs,
            ..RunPatch::default()
        };
        created = state
            .store
            .patch_run(&project.owner, &project.name, &uuid, patch)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(created)))
}

async fn restart(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> Result<Json<Run>, AppError> {
    clone_run(
        &state,
        &owner,
        &project,
        &uuid,
        body,
        false,
        Submitter::caller(&caller),
    )
    .await
}

async fn copy(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> Result<Json<Run>, AppError> {
    clone_run(
        &state,
        &owner,
        &project,
        &uuid,
        body,
        true,
        Submitter::caller(&caller),
    )
    .await
}

/// `polyaxon ops restart [--copy]`: a new run of the original's operation, or of the content
/// sent instead, named and tagged as the original unless the request says otherwise.
async fn clone_run(
    state: &AppState,
    owner: &str,
    project: &str,
    uuid: &str,
    body: Result<Json<OperationBody>, JsonRejection>,
    copy: bool,
    by: Submitter,
) -> Result<Json<Run>, AppError> {
    let Json(mut body) = body?;
    let uuid = run_uuid(uuid)?;
    let project = state.store.project(owner, project).await?;
    let original = state.store.run(owner, &project.name, &uuid).await?.run;
    body.content = body.content.or(original.raw_content);
    if body.content.is_none() {
        return Err(AppError::BadRequest(format!(
            "run `{uuid}` has no Polyaxonfile to run again: its client executed it"
        )));
    }
    body.name = body.name.or(original.name);
    body.description = body.description.or(original.description);
    body.tags = body.tags.or(Some(original.tags));
    let kind = if copy {
        let requested = body
            .meta_info
            .as_ref()
            .and_then(|meta| meta.get("copy_artifacts"));
        let paths = ["dirs", "files"]
            .into_iter()
            .flat_map(|key| requested.and_then(|r| r.get(key)).and_then(Json_::as_array))
            .flatten()
            .filter_map(Json_::as_str)
            .map(str::to_owned)
            .collect();
        Cloning::Copy(paths)
    } else {
        Cloning::Restart
    };
    let origin = Origin { run: &uuid, kind };
    Ok(Json(
        submit_run(state, &project, body, Some(origin), None, by).await?,
    ))
}

/// `polyaxon ops resume`: a run that ended goes again as the same run, keeping its artifacts
/// and logs, with its operation (or the content sent instead), its name, description and tags
/// unless the request gives others. It goes from `resuming` through the statuses of a new run.
/// A pipeline goes on with what did not succeed: its failed and stopped runs resume in their
/// places, and a DAG's operations that never ran are decided again; its scheduler hands them
/// to the runtime as its concurrency allows.
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<OperationBody>, JsonRejection>,
) -> Result<Json<Run>, AppError> {
    let Json(body) = body?;
    let uuid = run_uuid(&uuid)?;
    let project = state.store.project(&owner, &project).await?;
    let original = state.store.run(&owner, &project.name, &uuid).await?.run;
    if original.settings.runtime == crate::store::SCHEDULER_EXECUTOR && original.status.is_done() {
        let children = state.store.pipeline_children(&uuid).await?;
        for child in children {
            if !matches!(
                child.status,
                Status::Failed | Status::Stopped | Status::UpstreamFailed | Status::Skipped
            ) {
                continue;
            }
            let run = state.store.run_by_uuid(&child.uuid).await?.run;
            if original.kind == "dag" && run.started_at.is_none() {
                // Its place is free again: the scheduler decides it anew.
                state
                    .store
                    .delete_run(&run.owner, &run.project, &run.uuid)
                    .await?;
            } else {
                resume_in_place(
                    &state,
                    &project,
                    run,
                    OperationBody::default(),
                    false,
                    &caller,
                )
                .await?;
            }
        }
    }
    // A pipeline's run (or one of its children) is the scheduler's to hand over.
    let execute_now = original.settings.runtime != crate::store::SCHEDULER_EXECUTOR
        && original.pipeline.is_none();
    Ok(Json(
        resume_in_place(&state, &project, original, body, execute_now, &caller).await?,
    ))
}

/// Records a new attempt of `original` in place, and hands it to the runtime when `execute`.
async fn resume_in_place(
    state: &AppState,
    project: &shared::api::Project,
    original: Run,
    mut body: OperationBody,
    execute_now: bool,
    caller: &Caller,
) -> Result<Run, AppError> {
    let uuid = original.uuid.clone();
    if !original.status.is_done() {
        return Err(AppError::BadRequest(format!(
            "run `{uuid}` cannot be resumed before it ends: it is {}",
            original.status.as_str()
        )));
    }
    body.content = body.content.or(original.raw_content);
    if body.content.is_none() {
        return Err(AppError::BadRequest(format!(
            "run `{uuid}` has no Polyaxonfile to run again: its client executed it"
        )));
    }
    body.name = body.name.or(original.name);
    body.description = body.description.or(original.description);
    body.tags = body.tags.or(Some(original.tags));
    body.managed_by = Some(original.managed_by);
    body.is_managed = Some(original.is_managed);
    let hub = state
        .hub_for(body.content.as_deref(), caller.viewer())
        .await?;
    let prepared = submit::prepare(
        Submission {
            project,
            body,
            uuid: uuid.clone(),
            now: clock::now(),
            api_host: &state.api_host,
            agent: &state.agent,
            hub: &hub,
        },
        state.runtime.as_ref(),
    )?;
    if prepared.execution.is_some() {
        // What the runtime kept of the last attempt goes: the run starts afresh, as in a new
        // pod, with its artifacts.
        state
            .runtime
            .clean(&uuid)
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?;
    }
    let resuming = StatusCondition::new(
        Status::Resuming,
        "Myelin",
        "Run was resumed by user",
        clock::now(),
    );
    let run = state
        .store
        .resume_run(&project.owner, &project.name, resuming, prepared.run)
        .await?;
    if let Some(execution) = prepared.execution.filter(|_| execute_now) {
        execute(state, execution).await?;
    }
    Ok(run)
}

/// `polyaxon ops approve`: a run held until approval (or until its client's upload, after which
/// it waits for approval if its Polyaxonfile asks for one) is handed to the runtime. A run that
/// waits for nothing is left as it is.
async fn approve_run(
    state: &AppState,
    owner: &str,
    project: &str,
    uuid: &str,
) -> Result<(), AppError> {
    let stored = state.store.run(owner, project, uuid).await?;
    let Some(waits_for) = stored.run.pending.as_deref() else {
        return Ok(());
    };
    let next = (waits_for == pending::UPLOAD && asks_approval(stored.compiled.as_ref()))
        .then_some(pending::APPROVAL);
    // Only the approval that changes it goes on, when two come at once.
    let changed = state.store.change_pending(uuid, waits_for, next).await?;
    let goes_on =
        changed && next.is_none() && stored.run.is_managed && !stored.run.status.is_done();
    if goes_on && let Some(execution) = state.execution(stored).await? {
        execute(state, execution).await?;
    }
    Ok(())
}

/// `polyaxon ops skip`: a run that has not started yet (created, compiled, resuming, on
/// schedule) ends `skipped` without running; one that started, or ended, is left as it is.
async fn skip_run(
    state: &AppState,
    owner: &str,
    project: &str,
    uuid: &str,
) -> Result<(), AppError> {
    let run = state.store.run(owner, project, uuid).await?.run;
    if !matches!(
        run.status,
        Status::Created | Status::Compiled | Status::Resuming | Status::OnSchedule
    ) {
        return Ok(());
    }
    // Out of the runtime's queue first, so that it cannot start between the two steps.
    match state.runtime.stop(uuid, StopCause::Asked).await {
        Ok(()) | Err(RuntimeError::NotActive) => {}
        Err(error) => return Err(AppError::Internal(error.to_string())),
    }
    let condition = StatusCondition::new(
        Status::Skipped,
        "Myelin",
        "User requested to skip the run.",
        clock::now(),
    );
    state.store.add_condition(uuid, condition, true).await?;
    Ok(())
}

/// `POST …/runs/invalidate`: see [`invalidate`]; the project must exist.
async fn invalidate_many(
    State(state): State<AppState>,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    selected(&state, &owner, &project, body).await?;
    Ok(Json(json!({})))
}

/// `GET …/runs/{uuid}/namespace`: the Kubernetes namespace the run's agent uses.
async fn namespace(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<Json<Json_>, AppError> {
    let uuid = run_uuid(&uuid)?;
    let run = state.store.run(&owner, &project, &uuid).await?.run;
    Ok(Json(json!({ "namespace": run.settings.namespace })))
}

/// `polyaxon ops invalidate`: Polyaxon forgets the run's cached results, so that a later run
/// with the same inputs executes instead of reusing them. Myelin reuses no run's results, so
/// there is nothing to forget; the run must exist.
async fn invalidate(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<Json<Json_>, AppError> {
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    Ok(Json(json!({})))
}

/// `polyaxon ops transfer --to-project`: the run moves to another project of the same owner,
/// with its artifacts (kept by uuid, not by project).
async fn transfer(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<RunTransfer>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    let Json(body) = body?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let Some(destination) = destination(&state, &owner, body.project).await? else {
        return Ok(Json(json!({})));
    };
    if destination != project {
        state
            .store
            .transfer_run(&owner, &project, &uuid, &destination)
            .await?;
    }
    Ok(Json(json!({})))
}

/// The project runs move to, which must exist.
async fn destination(
    state: &AppState,
    owner: &str,
    project: Option<String>,
) -> Result<Option<String>, AppError> {
    let Some(destination) = project.filter(|name| !name.is_empty()) else {
        return Err(AppError::BadRequest(
            "the destination project was not provided: send `project`".to_owned(),
        ));
    };
    match state.store.project(owner, &destination).await {
        Err(StoreError::NotFound(_)) => Err(AppError::BadRequest(format!(
            "the destination project `{destination}` does not exist"
        ))),
        other => other
            .map(|project| Some(project.name))
            .map_err(AppError::from),
    }
}

/// `POST …/runs/transfer`: moves every selected run to the project named in the body.
async fn transfer_many(
    State(state): State<AppState>,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    let selection = selected(&state, &owner, &project, body).await?;
    let Some(destination) = destination(&state, &owner, selection.project.clone()).await? else {
        return Ok(Json(json!({})));
    };
    if destination == project {
        return Ok(Json(json!({})));
    }
    each_run(&selection, |uuid| {
        let (state, owner, project, destination) = (&state, &owner, &project, &destination);
        async move {
            state
                .store
                .transfer_run(owner, project, &uuid, destination)
                .await?;
            Ok(())
        }
    })
    .await?;
    Ok(Json(json!({})))
}

async fn read(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<Json<Run>, AppError> {
    let uuid = run_uuid(&uuid)?;
    Ok(Json(state.store.run(&owner, &project, &uuid).await?.run))
}

/// What the run was made from, stage by stage; the native objects are expanded from its
/// resource on request rather than stored, so they follow the expansion Myelin has now.
async fn spec(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<Json<RunSpec>, AppError> {
    let uuid = run_uuid(&uuid)?;
    let stored = state.store.run(&owner, &project, &uuid).await?;
    let content = stored.run.raw_content.clone();
    let (compiled, resource) = (stored.compiled.clone(), stored.resource.clone());
    let (native, native_error) = match state.execution(stored).await?.map(|run| run.native()) {
        Some(Ok(objects)) => (objects, None),
        Some(Err(why)) => (Vec::new(), Some(why)),
        None => (Vec::new(), None),
    };
    Ok(Json(RunSpec {
        content,
        compiled,
        resource,
        native,
        native_error,
    }))
}

async fn patch(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<RunPatch>, JsonRejection>,
) -> Result<Json<Run>, AppError> {
    let Json(body) = body?;
    let uuid = run_uuid(&uuid)?;
    Ok(Json(
        state.store.patch_run(&owner, &project, &uuid, body).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<StatusCode, AppError> {
    let uuid = run_uuid(&uuid)?;
    delete_run(&state, &owner, &project, &uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_run(
    state: &AppState,
    owner: &str,
    project: &str,
    uuid: &str,
) -> Result<(), AppError> {
    // Checks it is there before anything is stopped.
    state.store.run(owner, project, uuid).await?;
    match state.runtime.stop(uuid, StopCause::Asked).await {
        Ok(()) | Err(RuntimeError::NotActive) => {}
        Err(error) => return Err(AppError::Internal(error.to_string())),
    }
    state.store.delete_run(owner, project, uuid).await?;
    state
        .runtime
        .clean(uuid)
        .await
        .map_err(|error| AppError::Internal(error.to_string()))?;
    state
        .artifacts
        .remove_run(uuid)
        .await
        .map_err(|error| AppError::Internal(format!("the run's artifacts stay: {error}")))
}

pub(super) async fn stop_run(
    state: &AppState,
    owner: &str,
    project: &str,
    uuid: &str,
) -> Result<(), AppError> {
    let run = state.store.run(owner, project, uuid).await?.run;
    if run.status.is_done() {
        return Ok(());
    }
    if run.settings.runtime == crate::store::SCHEDULER_EXECUTOR {
        // Its scheduler stops its children, then it.
        let condition = StatusCondition::new(
            Status::Stopping,
            "Myelin",
            "Pipeline is stopping its runs",
            clock::now(),
        );
        state.store.add_condition(uuid, condition, false).await?;
        return Ok(());
    }
    match state.runtime.stop(uuid, StopCause::Asked).await {
        Ok(()) => Ok(()),
        // Not executing (a client runs it, or it never reached the runtime): stopping it is
        // only a matter of record.
        Err(RuntimeError::NotActive) => {
            let condition =
                StatusCondition::new(Status::Stopped, "Myelin", "Run was stopped", clock::now());
            state.store.add_condition(uuid, condition, false).await?;
            Ok(())
        }
        Err(error) => Err(AppError::Internal(error.to_string())),
    }
}

/// The uuids of a bulk request, each checked (and the project) before anything is done, so a
/// typo in the last one does not leave the first ones acted on.
pub(super) async fn selected(
    state: &AppState,
    owner: &str,
    project: &str,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<RunSelection, AppError> {
    let Json(mut selection) = body?;
    state.store.project(owner, project).await?;
    selection.uuids = selection
        .uuids
        .iter()
        .map(|uuid| {
            run_uuid(uuid).map_err(|_| {
                AppError::BadRequest(format!(
                    "`uuids` lists `{uuid}`, which is not a run uuid (32 hex digits)"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(selection)
}

/// Acts on each selected run in turn; a run that is already gone is passed over, as Polyaxon
/// does, since another tab or client may have deleted it in the meantime.
async fn each_run<F, Fut>(selection: &RunSelection, act: F) -> Result<(), AppError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    for uuid in &selection.uuids {
        match act(uuid.clone()).await {
            Ok(()) | Err(AppError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// What a request does to a run, or to each of the runs selected.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// `POST …/runs/stop`: stops every selected run still going.
    Stop,
    /// `POST …/runs/skip`: skips every selected run that has not started.
    Skip,
    /// `POST …/runs/approve`: approves every selected run that waits for it.
    Approve,
    /// `DELETE …/runs/delete` (and `POST`, which Polyaxon's older clients send).
    Delete,
}

impl Action {
    async fn act(
        self,
        state: &AppState,
        owner: &str,
        project: &str,
        uuid: &str,
    ) -> Result<(), AppError> {
        match self {
            Self::Stop => stop_run(state, owner, project, uuid).await,
            Self::Skip => skip_run(state, owner, project, uuid).await,
            Self::Approve => approve_run(state, owner, project, uuid).await,
            Self::Delete => delete_run(state, owner, project, uuid).await,
        }
    }
}

/// A request on one run of a project, answered `{}`.
async fn one(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    action: Action,
) -> Result<Json<Json_>, AppError> {
    let uuid = run_uuid(&uuid)?;
    action.act(&state, &owner, &project, &uuid).await?;
    Ok(Json(json!({})))
}

/// A bulk request on the selected runs of a project, answered `{}` as Polyaxon answers each
/// (deleting one run answers nothing, deleting many `{}`).
async fn bulk(
    State(state): State<AppState>,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
    action: Action,
) -> Result<Json<Json_>, AppError> {
    let selection = selected(&state, &owner, &project, body).await?;
    each_run(&selection, |uuid| {
        let (state, owner, project) = (&state, &owner, &project);
        async move { action.act(state, owner, project, &uuid).await }
    })
    .await?;
    Ok(Json(json!({})))
}

/// `POST …/runs/tag`: adds the tags to every selected run, keeping the tags they have.
async fn tag_many(
    State(state): State<AppState>,
    Path((owner, project)): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    let selection = selected(&state, &owner, &project, body).await?;
    let tags: Vec<String> = selection
        .tags
        .iter()
        .flatten()
        .map(|tag| tag.trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect();
    if tags.is_empty() {
        return Err(AppError::BadRequest(
            "`tags` must list at least one tag to add".to_owned(),
        ));
    }
    each_run(&selection, |uuid| {
        let (state, owner, project) = (&state, &owner, &project);
        let patch = RunPatch {
            tags: Some(tags.clone()),
            merge: Some(true),
            ..RunPatch::default()
        };
        async move {
            state.store.patch_run(owner, project, &uuid, patch).await?;
            Ok(())
        }
    })
    .await?;
    Ok(Json(json!({})))
}

async fn statuses(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
) -> Result<Json<StatusReport>, AppError> {
    let uuid = run_uuid(&uuid)?;
    let run = state.store.run(&owner, &project, &uuid).await?.run;
    Ok(Json(StatusReport {
        uuid: run.uuid,
        status: run.status,
        status_conditions: run.status_conditions,
        meta_info: run.meta_info,
    }))
}

async fn add_status(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    body: Result<Json<StatusBody>, JsonRejection>,
) -> Result<Json<StatusReport>, AppError> {
    let Json(body) = body?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let mut condition = body.condition;
    let now = clock::now();
    condition.last_update_time.get_or_insert(now);
    condition.last_transition_time.get_or_insert(now);
    state
        .store
        .add_condition(&uuid, condition, body.force.unwrap_or(false))
        .await?;
    statuses(State(state), Path((owner, project, uuid))).await
}
