//! A corpus case's params, from its `NAME.params` file (`name=value` lines; `#` starts a
//! comment): shared by the native bench and the WebAssembly one, which depend on nothing else.

use std::path::Path;

/// The params of case `name` in `folder`; none when it has no params file.
pub fn case_params(folder: &Path, name: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(folder.join(format!("{name}.params")))
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .collect()
}
