//! `facegate serve`: the HTTP service until SIGTERM/SIGINT (in-flight requests finish first).

use anyhow::{Context, Result};
use server::{Server, ServerConfig};
use tokio::io::AsyncReadExt;

use crate::cli::{CommonArgs, ServeArgs};

pub fn run(common: &CommonArgs, args: &ServeArgs) -> Result<()> {
    let config = crate::settings::server_config(common, &args.store, Some(args))?;
    if args.print_config {
        print!("{}", toml::to_string(&config).context("writing the configuration as TOML")?);
        return Ok(());
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(serve(config, args.exit_on_stdin_close));
    // Don't wait for a blocking read of standard input that may never return.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// tract warns at every start that one embedded model's ONNX operator set (21) is newer than those it is
/// tested against. Ours are checked on tract against reference outputs (crates/vision/tests/suite/reference.rs)
/// at every commit, so the warning says nothing an operator can act on: it is left out of the log.
const QUIET_TRACT_OPSET_WARNING: &str = "tract_onnx::model=error";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FACEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let filter = match QUIET_TRACT_OPSET_WARNING.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn serve(config: ServerConfig, exit_on_stdin_close: bool) -> Result<()> {
    let server = Server::start(config).await?;
    let addr = server.local_addr()?;
    // On stdout, for people and for supervisors that wait for the port.
    println!("facegate listening on {}://{addr}", server.scheme());
    tracing::info!(%addr, "listening; API docs at /docs");
    server.serve(shutdown_signal(exit_on_stdin_close)).await?;
    Ok(())
}

async fn shutdown_signal(exit_on_stdin_close: bool) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let stdin_closed = async {
        if !exit_on_stdin_close {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: finishing in-flight requests"),
        _ = terminate => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = stdin_closed => tracing::info!("standard input closed: finishing in-flight requests"),
    }
}
