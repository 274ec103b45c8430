use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = facegate::cli::Cli::parse();
    match facegate::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
