//! Run with `cargo xtask run`, which builds the browser app first; or, once it is built,
//! `cargo run -p backend -- serve`.

mod compiler_command;
mod users_command;

/// The compiler and the API build and drop many small JSON values per request; mimalloc serves
/// those markedly faster than the system allocator (the compiler bench measures it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compiler_command::Stage;
use tracing_subscriber::EnvFilter;

/// Myelin: run Polyaxonfiles on your machine or your Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(name = "myelin", version = backend::VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web app.
    Serve(ServeArgs),
    /// Check a Polyaxonfile and print every problem, or the operation it makes.
    Check(compiler_command::StageArgs),
    /// Compile a Polyaxonfile for a run: params applied, templates rendered.
    Compile(compiler_command::StageArgs),
    /// Convert a Polyaxonfile to the Kubernetes resource that runs it.
    Convert(compiler_command::StageArgs),
    /// Add people and give them tokens.
    Users(users_command::UsersArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on. Keep the loopback default unless the machine is meant to be reached
    /// from others.
    #[arg(long, env = "MYELIN_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "MYELIN_PORT", default_value_t = 8000)]
    port: u16,
    /// Where Myelin keeps its database, logs and artifacts.
    #[arg(long, env = "MYELIN_DATA_DIR", default_value = ".myelin")]
    data_dir: PathBuf,
    /// The built web app (the `dist/` folder Trunk writes).
    #[arg(long, env = "MYELIN_WEB_DIR", default_value = "dist")]
    web_dir: PathBuf,
    /// Require this token on every API request (`Authorization: Token …`, what the polyaxon CLI
    /// sends from POLYAXON_AUTH_TOKEN). Without it, anyone who can reach the port can use the API.
    #[arg(long, env = "MYELIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How many runs execute at once; the rest wait in the server's queue. Default: the number
    /// of CPUs for local processes, no limit on a cluster.
    #[arg(long, env = "MYELIN_MAX_CONCURRENT_RUNS")]
    max_concurrent_runs: Option<usize>,
    /// What executes runs: processes on this machine, or native objects on the Kubernetes
    /// cluster that KUBECONFIG, ~/.kube/config or the pod's service account points at.
    #[arg(long, env = "MYELIN_RUNTIME", value_enum, default_value_t = RuntimeArg::Process)]
    runtime: RuntimeArg,
    /// With `--runtime kubernetes`: the namespace runs go to (default: the configuration's).
    #[arg(long, env = "MYELIN_NAMESPACE")]
    namespace: Option<String>,
    /// Where runs reach this server's API (their POLYAXON_HOST). Default: the address it
    /// binds; on a cluster, the server's Service (e.g. http://myelin).
    #[arg(long, env = "MYELIN_API_HOST")]
    api_host: Option<String>,
    /// Another name this server answers to (repeatable; comma-separated in the variable);
    /// `.example.com` allows the domain and every name under it. IP addresses, localhost and
    /// the --api-host's name need none. Requests addressed to any other name are refused: a
    /// page of another site may be using a DNS name that points here.
    #[arg(
        long = "allowed-host",
        value_name = "NAME",
        env = "MYELIN_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RuntimeArg {
    Process,
    Kubernetes,
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Serve(args) => {
            serve(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => Ok(compiler_command::run(Stage::Check, args)),
        Command::Compile(args) => Ok(compiler_command::run(Stage::Compile, args)),
        Command::Convert(args) => Ok(compiler_command::run(Stage::Convert, args)),
        Command::Users(args) => Ok(users_command::run(args)),
    }
}

#[tokio::main]
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut config = backend::Config::local(args.data_dir, args.web_dir);
    config.bind = args.bind;
    config.port = args.port;
    config.token = args.token.filter(|token| !token.is_empty());
    config.max_concurrent_runs = args.max_concurrent_runs.map(|max| max.max(1));
    config.runtime = match args.runtime {
        RuntimeArg::Process => backend::RuntimeChoice::Process,
        RuntimeArg::Kubernetes => backend::RuntimeChoice::Kubernetes {
            namespace: args.namespace.filter(|namespace| !namespace.is_empty()),
        },
    };
    config.api_host = args.api_host.filter(|host| !host.is_empty());
    config.allowed_hosts = args.allowed_hosts;
    backend::serve(config, announce, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The one line on standard output: where to point a browser. Scripts and tests read it to learn
/// the port when they asked for port 0.
fn announce(addr: std::net::SocketAddr) {
    println!("myelin listening on http://{addr}");
}

/// Resolves on Ctrl-C or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
