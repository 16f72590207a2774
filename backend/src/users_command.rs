//! `myelin users …`: an admin adds people and gives them tokens, on the server's own database
//! (the server may be running: it reads people and tokens afresh on every request).

use std::path::PathBuf;
use std::process::ExitCode;

use backend::store::{Sqlite, Store};
use shared::api::{TokenBody, check_username};
use shared::time::Timestamp;

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    /// Where the server keeps its database (its `--data-dir`).
    #[arg(
        long,
        env = "MYELIN_DATA_DIR",
        default_value = ".myelin",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add a person.
    Add {
        /// Their name: letters, digits, `-`, `_` and `.`.
        name: String,
        /// They may add people and see every project.
        #[arg(long)]
        admin: bool,
    },
    /// List the people.
    Ls,
    /// Make a personal access token for a person and print it: it is shown this once.
    Token {
        /// Whose token.
        user: String,
        /// What to call it.
        #[arg(long, default_value = "token")]
        name: String,
        /// How many days it is taken for (default: until revoked).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List a person's tokens (never their secrets).
    Tokens {
        /// Whose tokens.
        user: String,
    },
    /// Revoke a person's token.
    Revoke {
        /// Whose token.
        user: String,
        /// The token's uuid, as `tokens` lists it.
        uuid: String,
    },
}

pub fn run(args: UsersArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start: {error}")),
    };
    match runtime.block_on(act(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("myelin users: {message}");
    ExitCode::FAILURE
}

async fn act(args: UsersArgs) -> Result<(), String> {
    let database = args.data_dir.join("myelin.db");
    if !database.is_file() {
        return Err(format!(
            "no database at {}: point --data-dir at the server's data folder",
            database.display()
        ));
    }
    let store = Sqlite::open(&database, "default", None)
        .map_err(|error| format!("cannot open {}: {error}", database.display()))?;
    let text = |error: &dyn std::fmt::Display| error.to_string();
    match args.action {
        Action::Add { name, admin } => {
            check_username(&name)?;
            let user = store.add_user(&name, admin).await.map_err(|e| text(&e))?;
            println!("added {} ({})", user.username, user.role);
        }
        Action::Ls => {
            for user in store.users().await.map_err(|e| text(&e))? {
                println!("{}\t{}", user.username, user.role);
            }
        }
        Action::Token {
            user,
            name,
            expires_in_days,
        } => {
            let expires_at = expires_in_days.map(|days| {
                let now = backend::clock::now();
                Timestamp::from_micros(now.as_micros() + i64::from(days) * 86_400_000_000)
            });
            let body = TokenBody {
                name: Some(name),
                expires_at,
            };
            let (_, secret) = backend::people::add_token(&store, &user, body)
                .await
                .map_err(|e| text(&e))?;
            println!("{secret}");
        }
        Action::Tokens { user } => {
            for token in store.tokens(&user).await.map_err(|e| text(&e))? {
                let state = match (token.revoked_at, token.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) => format!("expires {at}"),
                    (None, None) => "no expiry".to_owned(),
                };
                println!("{}\t{}\t{}", token.uuid, token.name, state);
            }
        }
        Action::Revoke { user, uuid } => {
            let token = store
                .revoke_token(&user, &uuid)
                .await
                .map_err(|e| text(&e))?;
            println!("revoked {} ({})", token.uuid, token.name);
        }
    }
    Ok(())
}
