//! A DAG drawn as boxes in columns by depth, each arrow from an operation to what waits for it;
//! when the DAG runs, each box has its run's status and links to it.

use std::collections::BTreeMap;

use frontend::preview::DagNode;
use leptos::prelude::*;
use shared::api::Status;

use crate::components::status_badge::tone;

/// A DAG's operations in columns by depth, an arrow from each to what waits for it.
#[component]
pub fn DagGraph(
    /// The operations, each with what it waits for.
    nodes: Vec<DagNode>,
    /// Each operation's run, by operation name, when the DAG runs: its status colours the
    /// operation, which links to the run.
    #[prop(optional)]
    runs: BTreeMap<String, (Status, String)>,
    /// The project the runs are in.
    #[prop(optional)]
    project: String,
) -> impl IntoView {
    let navigate = leptos_router::hooks::use_navigate();
    const WIDTH: f64 = 150.0;
    const HEIGHT: f64 = 40.0;
    const GAP_X: f64 = 60.0;
    const GAP_Y: f64 = 24.0;
    // Depth: the longest chain of dependencies before a node (cycles are the compiler's to
    // report; they stop the walk).
    let index_of = |name: &str| nodes.iter().position(|node| node.name == name);
    let mut depth = vec![0_usize; nodes.len()];
    for _ in 0..nodes.len() {
        for (index, node) in nodes.iter().enumerate() {
            for before in &node.after {
                if let Some(other) = index_of(before) {
                    depth[index] = depth[index].max(depth[other] + 1);
                }
            }
        }
    }
    let mut rows = vec![0_usize; nodes.len() + 1];
    let position: Vec<(f64, f64)> = depth
        .iter()
        .map(|&column| {
            let row = rows[column];
            rows[column] += 1;
            (
                column as f64 * (WIDTH + GAP_X) + 8.0,
                row as f64 * (HEIGHT + GAP_Y) + 8.0,
            )
        })
        .collect();
    let columns = depth.iter().max().map_or(1, |deepest| deepest + 1);
    let tallest = rows.iter().max().copied().unwrap_or(1).max(1);
    let width = columns as f64 * (WIDTH + GAP_X);
    let height = tallest as f64 * (HEIGHT + GAP_Y) + 16.0;
    let edges: Vec<(f64, f64, f64, f64)> = nodes
        .iter()
        .enumerate()
        .flat_map(|(index, node)| {
            let to = position[index];
            node.after
                .iter()
                .filter_map(|before| index_of(before))
                .map(move |from| (from, to))
                .collect::<Vec<_>>()
        })
        .map(|(from, (x2, y2))| {
            let (x1, y1) = position[from];
            (x1 + WIDTH, y1 + HEIGHT / 2.0, x2, y2 + HEIGHT / 2.0)
        })
        .collect();
    view! {
        <svg class="dag" role="img" aria-label="DAG" viewBox=format!("0 0 {width} {height}") width=width height=height>
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
                    <path d="M 0 0 L 10 5 L 0 10 z" />
                </marker>
            </defs>
            {edges
                .into_iter()
                .map(|(x1, y1, x2, y2)| {
                    let middle = (x1 + x2) / 2.0;
                    view! { <path class="edge" d=format!("M {x1} {y1} C {middle} {y1}, {middle} {y2}, {x2} {y2}") marker-end="url(#arrow)" /> }
                })
                .collect_view()}
            {nodes
                .iter()
                .zip(&position)
                .map(|(node, (x, y))| {
                    let shape = view! {
                        <rect x=*x y=*y width=WIDTH height=HEIGHT rx="6" />
                        <text x=x + WIDTH / 2.0 y=y + HEIGHT / 2.0 + 4.0 text-anchor="middle">{node.name.clone()}</text>
                    };
                    match runs.get(&node.name) {
                        Some((status, uuid)) => {
                            // An SVG anchor is not an HTML one: the operation navigates itself.
                            let href = format!("/projects/{project}/runs/{uuid}");
                            let navigate = navigate.clone();
                            let open = move || navigate(&href, Default::default());
                            let by_key = open.clone();
                            view! {
                                <g
                                    class=format!("op link {}", tone(*status))
                                    data-status=status.as_str()
                                    role="link"
                                    tabindex="0"
                                    on:click=move |_| open()
                                    on:keydown=move |event| {
                                        if event.key() == "Enter" {
                                            by_key();
                                        }
                                    }
                                >
                                    <title>{format!("{}: {}", node.name, status.as_str())}</title>
                                    {shape}
                                </g>
                            }
                            .into_any()
                        }
                        None => view! { <g class="op">{shape}</g> }.into_any(),
                    }
                })
                .collect_view()}
        </svg>
    }
}
