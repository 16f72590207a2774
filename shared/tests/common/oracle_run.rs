//! The run the oracle recorded every case for, shared by the golden tests and the bench so
//! both compile exactly what the oracle compiled.

use shared::{Agent, RunContext};

pub fn oracle_run(agent_yaml: &str) -> RunContext {
    RunContext {
        owner: "acme".to_owned(),
        project: "mnist".to_owned(),
        project_uuid: "0d4e2f6a1b3c4d5e8f9a0b1c2d3e4f50".to_owned(),
        run_uuid: "8c1f3a5e7b9d4f21a3c5e7f9b1d3f5a7".to_owned(),
        default_run_name: "oracle-run".to_owned(),
        api_host: "http://localhost:8000".to_owned(),
        created_at: "2024-01-02T03:04:05Z".to_owned(),
        compiled_at: "2024-01-02T03:04:06Z".to_owned(),
        agent: Agent::from_yaml(agent_yaml).unwrap(),
    }
}
