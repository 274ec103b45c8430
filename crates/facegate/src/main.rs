use clap::FromArgMatches;

fn main() -> std::process::ExitCode {
    let cli = match facegate::cli::Cli::from_arg_matches(&facegate::cli::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match facegate::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
