//! Tab buttons: one per choice, the chosen one marked `aria-selected` (which CSS styles).

use leptos::prelude::*;

/// The buttons of `choices`, each named by `title`; `chosen` says which is selected and
/// `choose` is called with the one clicked. The caller wraps them in its `tablist`.
pub fn tab_buttons<T>(
    choices: impl IntoIterator<Item = T>,
    title: fn(T) -> &'static str,
    chosen: impl Fn() -> T + Copy + Send + Sync + 'static,
    choose: impl Fn(T) + Copy + Send + Sync + 'static,
) -> impl IntoView
where
    T: Copy + PartialEq + Send + Sync + 'static,
{
    choices
        .into_iter()
        .map(|each| {
            view! {
                <button
                    type="button"
                    role="tab"
                    aria-selected=move || (chosen() == each).to_string()
                    on:click=move |_| choose(each)
                >
                    {title(each)}
                </button>
            }
        })
        .collect_view()
}
