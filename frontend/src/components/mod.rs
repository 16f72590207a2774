//! Widgets shared by pages. They take data and callbacks; they never call the server.

pub mod chart;
pub mod dag_graph;
pub mod page_header;
pub mod runs_table;
pub mod status_badge;
pub mod tabs;
pub mod top_bar;
pub mod yaml_view;
