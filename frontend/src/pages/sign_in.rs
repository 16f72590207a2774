//! What a browser sees when the server asks for its token and the browser has not given it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::page_header::PageHeader;

/// The sign-in form. The token goes to the server once; the server answers with a cookie that
/// page scripts cannot read, and every request, socket and event stream carries it from then on.
#[component]
pub fn SignIn() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        let token = token.get_untracked();
        spawn_local(async move {
            match api::sign_in(&token).await {
                // Everything on the page was refused until now: start it again.
                Ok(()) => {
                    let _ = window().location().reload();
                }
                Err(error) => {
                    problem.set(Some(error.to_string()));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <PageHeader
            title="Sign in"
            summary="This server asks for its token: the one it was started with (MYELIN_TOKEN), which the polyaxon CLI reads from POLYAXON_AUTH_TOKEN."
        />
        <form class="panel" aria-label="Sign in" on:submit=submit>
            <div class="fields">
                <label>
                    "Token"
                    <input name="token" type="password" autocomplete="current-password" required bind:value=token />
                </label>
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
            </div>
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </form>
    }
}
