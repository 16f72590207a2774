//! Which status may follow which, and what each does to a run's times: Polyaxon's rules
//! (haupt's `new_status`), kept apart from any database so every store applies the same ones.

use shared::api::{Status, StatusCondition};
use shared::time::Timestamp;

/// The part of a run its statuses change.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// The current status.
    pub status: Status,
    /// Every condition, oldest first.
    pub conditions: Vec<StatusCondition>,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When it started executing.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Seconds from creation to start.
    pub wait_time: Option<f64>,
    /// Seconds from start to end.
    pub duration: Option<f64>,
}

/// Records `condition` on `state` if the lifecycle allows it, and says whether it did.
///
/// - `created` only ever starts a run; it is not recorded later.
/// - A stopping run accepts only a final status.
/// - A final status is kept unless `force`.
/// - The same status twice in a row updates the last condition instead of adding one.
/// - The first execution status sets `started_at`; the first final one `finished_at`.
pub fn apply(state: &mut RunState, mut condition: StatusCondition, force: bool) -> bool {
    let kind = condition.kind;
    if kind == Status::Created && !state.conditions.is_empty() {
        return false;
    }
    if state.status == Status::Stopping && !kind.is_done() {
        return false;
    }
    if state.status.is_done() && !force {
        return false;
    }
    let at = condition
        .last_transition_time
        .or(condition.last_update_time)
        .unwrap_or(state.created_at);
    condition.last_transition_time.get_or_insert(at);
    condition.last_update_time.get_or_insert(at);
    match state.conditions.last_mut() {
        Some(last) if last.kind == kind && last.status == condition.status => {
            // Polyaxon keeps when the run entered the status, and updates the rest.
            condition.last_transition_time = last.last_transition_time;
            *last = condition;
        }
        _ => state.conditions.push(condition),
    }
    state.status = kind;
    if kind.is_start() && state.started_at.is_none() {
        state.started_at = Some(at);
        state.wait_time = Some(at.seconds_since(state.created_at).max(0.0));
    }
    if kind.is_done() && (state.finished_at.is_none() || force) {
        state.finished_at = Some(at);
        let started = state.started_at.unwrap_or(at);
        state.duration = Some(at.seconds_since(started).max(0.0));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + seconds * 1_000_000)
    }

    fn condition(kind: Status, seconds: i64) -> StatusCondition {
        StatusCondition::new(kind, "Test", format!("{kind:?}"), at(seconds))
    }

    fn created() -> RunState {
        let mut state = RunState {
            status: Status::Created,
            conditions: Vec::new(),
            created_at: at(0),
            started_at: None,
            finished_at: None,
            wait_time: None,
            duration: None,
        };
        assert!(apply(&mut state, condition(Status::Created, 0), false));
        state
    }

    fn kinds(state: &RunState) -> Vec<Status> {
        state.conditions.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn a_run_goes_through_its_statuses_and_gets_its_times() {
        let mut state = created();
        for (kind, second) in [
            (Status::Compiled, 1),
            (Status::Queued, 2),
            (Status::Scheduled, 3),
            (Status::Starting, 4),
            (Status::Running, 5),
            (Status::Succeeded, 15),
        ] {
            assert!(
                apply(&mut state, condition(kind, second), false),
                "{kind:?}"
            );
        }
        assert_eq!(state.status, Status::Succeeded);
        assert_eq!(kinds(&state).len(), 7);
        assert_eq!(state.started_at, Some(at(3)));
        assert_eq!(state.wait_time, Some(3.0));
        assert_eq!(state.finished_at, Some(at(15)));
        assert_eq!(state.duration, Some(12.0));
    }

    #[test]
    fn final_statuses_stay_unless_forced() {
        let mut state = created();
        apply(&mut state, condition(Status::Running, 1), false);
        apply(&mut state, condition(Status::Failed, 2), false);
        assert!(!apply(&mut state, condition(Status::Running, 3), false));
        assert!(!apply(&mut state, condition(Status::Succeeded, 3), false));
        assert_eq!(state.status, Status::Failed);
        assert!(apply(&mut state, condition(Status::Succeeded, 4), true));
        assert_eq!(state.status, Status::Succeeded);
        assert_eq!(state.finished_at, Some(at(4)));
    }

    #[test]
    fn a_stopping_run_only_ends() {
        let mut state = created();
        apply(&mut state, condition(Status::Running, 1), false);
        apply(&mut state, condition(Status::Stopping, 2), false);
        assert!(!apply(&mut state, condition(Status::Running, 3), false));
        assert!(apply(&mut state, condition(Status::Stopped, 4), false));
        assert_eq!(kinds(&state).last(), Some(&Status::Stopped));
    }

    #[test]
    fn a_repeated_status_updates_the_last_condition() {
        let mut state = created();
        apply(&mut state, condition(Status::Running, 1), false);
        apply(&mut state, condition(Status::Running, 5), false);
        assert_eq!(
            kinds(&state),
            vec![Status::Created, Status::Running],
            "no second running condition"
        );
        let last = state.conditions.last().unwrap();
        assert_eq!(last.last_transition_time, Some(at(1)));
        assert_eq!(last.last_update_time, Some(at(5)));
        assert!(!apply(&mut state, condition(Status::Created, 6), false));
    }

    #[test]
    fn a_run_stopped_before_it_started_has_no_start() {
        let mut state = created();
        apply(&mut state, condition(Status::Queued, 1), false);
        apply(&mut state, condition(Status::Stopped, 2), false);
        assert_eq!(state.started_at, None);
        assert_eq!(state.finished_at, Some(at(2)));
        assert_eq!(state.duration, Some(0.0));
    }
}
