//! Running a suite of libtest-mimic trials with libtest's command line, several name filters included:
//! `cargo test --workspace --test suite -- api:: cli::` selects by the same filters in every crate's suite,
//! whether it runs on libtest (which takes any number of filters) or here (libtest-mimic takes one).

use libtest_mimic::{Arguments, Conclusion, Trial};

/// libtest's options that take a value as the next argument.
const WITH_VALUE: &[&str] = &["--skip", "--test-threads", "--logfile", "--color", "--format", "-Z"];

/// The positional filters and the other arguments of a test binary's command line (program name first).
fn split_filters(args: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let mut args = args.into_iter();
    let mut rest: Vec<String> = args.next().into_iter().collect();
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            rest.push(arg);
            rest.extend(args.next());
        } else if arg.starts_with('-') {
            rest.push(arg);
        } else {
            filters.push(arg);
        }
    }
    (filters, rest)
}

/// Whether a trial's name passes the filters (any of them: a substring, or the whole name with `--exact`).
fn selected(name: &str, filters: &[String], exact: bool) -> bool {
    filters.is_empty() || filters.iter().any(|f| if exact { name == f } else { name.contains(f.as_str()) })
}

/// Runs the trials that this process's arguments select, as libtest would.
pub fn run(trials: Vec<Trial>) -> Conclusion {
    run_with(std::env::args(), trials)
}

fn run_with(args: impl IntoIterator<Item = String>, trials: Vec<Trial>) -> Conclusion {
    let (filters, rest) = split_filters(args);
    let args = Arguments::from_iter(rest);
    let trials = trials.into_iter().filter(|t| selected(t.name(), &filters, args.exact)).collect();
    libtest_mimic::run(&args, trials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_are_the_positional_arguments() {
        let (filters, rest) =
            split_filters(strings(&["suite", "api::", "--skip", "slow", "cli::", "--test-threads=1", "--nocapture"]));
        assert_eq!(filters, strings(&["api::", "cli::"]));
        assert_eq!(rest, strings(&["suite", "--skip", "slow", "--test-threads=1", "--nocapture"]));
    }

    #[test]
    fn any_filter_selects_and_exact_needs_the_whole_name() {
        let filters = strings(&["api::", "cli::models"]);
        assert!(selected("api::sqlite::detect", &filters, false));
        assert!(selected("cli::models_fetch", &filters, false));
        assert!(!selected("access::auth_matrix", &filters, false));
        assert!(!selected("api::sqlite::detect", &filters, true));
        assert!(selected("cli::models", &strings(&["cli::models"]), true));
        assert!(selected("anything", &[], false));
    }

    #[test]
    fn only_the_selected_trials_run() {
        let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let trial = |name: &'static str| {
            let ran = ran.clone();
            Trial::test(name, move || {
                ran.lock().map_err(|e| e.to_string())?.push(name);
                Ok(())
            })
        };
        let trials = vec![trial("a::one"), trial("b::two"), trial("c::three")];
        let conclusion = run_with(strings(&["suite", "a::", "c::", "--test-threads", "1", "-q"]), trials);
        assert_eq!(conclusion.num_passed, 2);
        let mut ran = ran.lock().expect("lock").clone();
        ran.sort();
        assert_eq!(ran, ["a::one", "c::three"]);
    }
}
