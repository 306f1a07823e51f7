//! The command line: `serve` (the default), `migrate`, `demo`. Everything else lives in the
//! library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use school_portal::config::{Config, ServeConfig};
use school_portal::{AppState, db};

#[derive(Parser)]
#[command(
    name = "school-portal",
    version,
    about = "Школьный портал: Сферум / МАХ по Положению"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    serve: ServeConfig,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web portal (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create (or refresh) the demo school «Школа № 1 (демо)» and print its logins.
    Demo {
        /// Password for every demo login; random when not given.
        #[arg(long, env = "PORTAL_DEMO_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// How many schools: the demo school and N-1 more of its shape (a region for
        /// load measurements, `benches/load.sh`).
        #[arg(long, default_value_t = 1)]
        schools: u32,
    },
}

fn main() -> std::process::ExitCode {
    school_portal::auth::password::return_hash_buffers();
    let _ = dotenvy::dotenv();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    // The CSRF layer traces request paths, and paths can hold one-time tokens: never let
    // it log below debug, whatever RUST_LOG says (SECURITY.md 27).
    if let Ok(cap) = "tower_http::csrf=debug".parse() {
        filter = filter.add_directive(cap);
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = db::locate(&cli.config).await?;
    let result = run_with(&cli, &database.url).await;
    if let Some(cluster) = database.cluster {
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .context("stopping the embedded PostgreSQL")??;
    }
    result
}

async fn run_with(cli: &Cli, url: &str) -> anyhow::Result<()> {
    let pool = db::connect(&cli.config, url).await?;
    db::migrate(&pool).await?;
    match &cli.command {
        Some(Command::Migrate) => {
            println!("migrations applied");
            Ok(())
        }
        Some(Command::Demo { password, schools }) => {
            let report =
                school_portal::demo::create_region(&pool, password.clone(), *schools).await?;
            print!("{report}");
            Ok(())
        }
        None | Some(Command::Serve) => serve(cli, pool).await,
    }
}

async fn serve(cli: &Cli, pool: sqlx::PgPool) -> anyhow::Result<()> {
    let addr = cli.serve.addr;
    let public_url = cli
        .serve
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    if let Some(link) = school_portal::auth::first_run_link(&pool, &public_url).await? {
        println!();
        println!("First run: no operator account yet. Open this one-time link to create it:");
        println!("  {link}");
        println!("(valid for 24 hours; a restart prints a new one)");
        println!();
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    println!("school-portal is serving on {public_url}");
    let state = AppState::new(pool, cli.serve.web.clone(), &public_url);
    school_portal::serve(listener, state).await
}
