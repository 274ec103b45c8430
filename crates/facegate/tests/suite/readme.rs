//! The README's commands run as written: the fenced `sh` blocks of "## First calls" and "## Access control",
//! command by command, in one bash session per section (cwd: the repository's root, so `../shared/...` resolves)
//! against a real server started by the README's own command, with their answers checked.
//!
//! What the test changes in the text, and nothing else:
//! - `cargo run --release --` becomes the built binary (`"$FG_BIN"`, this build's `facegate`), and so does
//!   `facegate` at the start of a command;
//! - `127.0.0.1:8080` and `0.0.0.0:8080` take a free port instead of 8080 (the README's first command, `serve`
//!   with every default, gets it from `FACEGATE_LISTEN=127.0.0.1:PORT`, the variable of its `--listen`);
//! - `../shared/` becomes `FACEGATE_SHARED_DIR` when that names another folder;
//! - a line holding several commands (`a; b`) runs as one step per command, comments dropped;
//! - the `serve` command runs in the background (its output to a log file) and the step ends when `/ready`
//!   answers; the server is stopped after the section;
//! - `KEY_ID` (in `facegate keys revoke KEY_ID`) becomes the id that the preceding `facegate keys list` printed
//!   for the key made over HTTP.
//!
//! Around the commands: `curl` is a bash function, `command curl -sS --fail-with-body` with the HTTP status
//! written after the body, so that every request must exit 0 and answer 2xx; each command's standard input is
//! /dev/null; `FACEGATE_DATA_DIR` names a temporary folder for the server and the `facegate keys` commands alike
//! (the README's `./facegate-data` would be the repository's, and its `staff` would exist on a second run);
//! other `FACEGATE_*` variables of the test's environment are removed, `FACEGATE_BACKEND` excepted, and
//! `FACEGATE_LOG` is the suite's servers' filter; `NO_PROXY` keeps loopback off any proxy. The test's
//! own variables are named `FG_*` (`FG_BIN`, `FG_BASE`, `FG_SERVER_LOG`): the binary refuses `FACEGATE_*`
//! variables that are not its settings.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::support::*;
use serde_json::{json, Value};

tests!(first_calls, access_control);

fn readme() -> String {
    let path = testkit::repo_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced ```sh blocks of the lines `lines`, in order.
fn fenced_sh<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in lines {
        match open.as_mut() {
            None if line.trim_start() == "```sh" => open = Some(String::new()),
            None => {}
            Some(block) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(block));
                open = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(open.is_none(), "an unclosed ```sh block");
    blocks
}

/// The ```sh blocks of the README's section `heading` (a `## ` line), up to the next `## ` heading.
fn section_blocks(readme: &str, heading: &str) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "the README has no section {heading:?}");
    let blocks = fenced_sh(lines.take_while(|l| !l.starts_with("## ")));
    assert!(!blocks.is_empty(), "the README's {heading:?} has no ```sh block");
    blocks
}

/// The commands of a block: backslash-continued lines kept together, comments and blank lines dropped, a line
/// split at its unquoted `;`s.
fn commands(block: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let (mut single, mut double, mut comment, mut escaped) = (false, false, false, false);
    let mut previous = '\n';
    let end = |current: &mut String, commands: &mut Vec<String>| {
        let command = current.trim().to_string();
        if !command.is_empty() {
            commands.push(command);
        }
        current.clear();
    };
    for c in block.chars() {
        if comment {
            if c == '\n' {
                comment = false;
                end(&mut current, &mut commands);
            }
        } else if escaped {
            escaped = false;
            current.push(c);
        } else if c == '\\' && !single {
            escaped = true;
            current.push(c);
        } else if c == '\'' && !double {
            single = !single;
            current.push(c);
        } else if c == '"' && !single {
            double = !double;
            current.push(c);
        } else if single || double {
            current.push(c);
        } else if c == '#' && previous.is_whitespace() {
            comment = true;
        } else if c == ';' || c == '\n' {
            end(&mut current, &mut commands);
        } else {
            current.push(c);
        }
        previous = c;
    }
    assert!(!single && !double, "an unclosed quote in:\n{block}");
    end(&mut current, &mut commands);
    commands
}

/// The substitutions of the module's doc: the binary, the port and the shared folder.
fn substitute(command: &str, port: u16) -> String {
    let binary = "\"$FG_BIN\"";
    let mut text = command.replace("cargo run --release --", binary);
    if let Some(rest) = text.strip_prefix("facegate ") {
        text = format!("{binary} {rest}");
    }
    text = text.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    text = text.replace("0.0.0.0:8080", &format!("0.0.0.0:{port}"));
    assert!(!text.contains(":8080"), "a port 8080 this test does not know how to move: {command}");
    let shared = testkit::shared_dir();
    if std::fs::canonicalize(&shared).ok() != std::fs::canonicalize(testkit::repo_root().join("../shared")).ok() {
        text = text.replace("../shared/", &format!("{}/", shared.display()));
    }
    text
}

/// Whether a (substituted) command starts the server.
fn is_serve(command: &str) -> bool {
    command.starts_with("\"$FG_BIN\" serve")
}

/// One command's run: its exit status, its output (standard output and error) without the markers, and the
/// HTTP status of each of its curl requests.
struct Step {
    command: String,
    status: i32,
    output: String,
    http: Vec<u16>,
}

impl Step {
    /// Exited 0, and each of its requests (one at least, when it runs curl) answered 2xx.
    fn assert_ok(&self) {
        assert_eq!(self.status, 0, "`{}` exited {}:\n{}", self.command, self.status, self.output);
        assert!(
            self.http.iter().all(|s| (200..300).contains(s)),
            "`{}` answered {:?}:\n{}",
            self.command,
            self.http,
            self.output
        );
        let curls = self.command.split_whitespace().filter(|w| *w == "curl").count();
        assert_eq!(self.http.len(), curls, "`{}`: {} requests made:\n{}", self.command, self.http.len(), self.output);
    }

    /// The output as one JSON document.
    fn body(&self) -> Value {
        serde_json::from_str(self.output.trim())
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}):\n{}", self.command, self.output))
    }
}

/// A bash process that runs commands one at a time from its standard input (so that one command's output can
/// decide the next command, and exported variables and background jobs last), each followed by a marker with
/// its exit status.
struct Shell {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The servers started, stopped when the shell is dropped.
    servers: Vec<u32>,
    log: PathBuf,
    base: String,
}

const PRELUDE: &str = r#"exec 2>&1
curl() { command curl -sS --fail-with-body -w '\n__FG_HTTP__ %{http_code}\n' "$@"; }
fg_wait_ready() {
  local i
  for i in $(seq 1 3000); do
    command curl -sf -o /dev/null "$FG_BASE/ready" && return 0
    kill -0 "$FG_SERVER_PID" 2>/dev/null || { echo "the server exited:"; cat "$FG_SERVER_LOG"; return 1; }
    sleep 0.1
  done
  echo "the server is not ready after 300 s:"; cat "$FG_SERVER_LOG"; return 1
}
"#;

impl Shell {
    /// bash in the repository's root for a server on `port`, its data in `dir`, with `env` added.
    fn start(dir: &Path, port: u16, env: &[(&str, String)]) -> Shell {
        let log = dir.join("server.log");
        let base = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-s"]).current_dir(testkit::repo_root());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("FACEGATE_") && name != "FACEGATE_BACKEND" {
                cmd.env_remove(&*name);
            }
        }
        cmd.env("FG_BIN", env!("CARGO_BIN_EXE_facegate"))
            .env("FACEGATE_DATA_DIR", dir.join("data"))
            .env("FACEGATE_LOG", "info,sqlx=warn")
            .env("FG_BASE", &base)
            .env("FG_SERVER_LOG", &log)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("bash runs");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut shell = Shell { child, stdin, stdout, servers: Vec::new(), log, base };
        shell.send(PRELUDE);
        shell
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("the shell's input");
        stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush()).expect("write to bash");
    }

    /// Output lines up to the end marker of the command sent.
    fn finish(&mut self, command: &str) -> Step {
        let (mut output, mut http) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            let read = self.stdout.read_line(&mut line).expect("read bash's output");
            assert!(read > 0, "bash ended during `{command}`:\n{output}");
            let line = line.trim_end_matches('\n');
            if let Some(status) = line.strip_prefix("__FG_DONE__ ") {
                let status = status.trim().parse().expect("an exit status");
                let output = output.trim_end().to_string();
                return Step { command: command.to_string(), status, output, http };
            } else if let Some(code) = line.strip_prefix("__FG_HTTP__ ") {
                http.push(code.trim().parse().unwrap_or(0));
            } else if let Some(pid) = line.strip_prefix("__FG_SERVER_PID__ ") {
                self.servers.push(pid.trim().parse().expect("a process id"));
            } else {
                output.push_str(line);
                output.push('\n');
            }
        }
    }

    /// Runs one command, its standard input /dev/null.
    fn run(&mut self, command: &str) -> Step {
        self.send(&format!("{{\n{command}\n}} </dev/null\nprintf '\\n__FG_DONE__ %s\\n' \"$?\"\n"));
        self.finish(command)
    }

    /// Runs a `serve` command in the background, its output to the log, and waits for `/ready`.
    fn serve(&mut self, command: &str) -> Step {
        assert!(is_serve(command), "not a serve command: {command}");
        // The README may start it in the background itself (`serve ... &`): this runs it so in any case.
        let command = command.trim_end().trim_end_matches('&').trim_end();
        self.send(&format!(
            "{{\n{command} >\"$FG_SERVER_LOG\" 2>&1 &\n}} </dev/null\nFG_SERVER_PID=$!\n\
             printf '__FG_SERVER_PID__ %s\\n' \"$FG_SERVER_PID\"\nfg_wait_ready\nprintf '\\n__FG_DONE__ %s\\n' \"$?\"\n"
        ));
        self.finish(command)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // SIGTERM to each server, then bash waits for them to exit before it ends with its input.
        for pid in self.servers.drain(..) {
            let _ = Command::new("kill").arg(pid.to_string()).stderr(Stdio::null()).status();
        }
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"wait\n");
        }
        let _ = self.child.wait();
    }
}

/// Whether bash, curl and openssl are here: a skip with a message, a failure under CI.
fn tools_present() -> bool {
    for (tool, arg) in [("bash", "--version"), ("curl", "--version"), ("openssl", "version")] {
        if !Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success()) {
            testkit::skip_unless_ci(&format!("{tool} for the README's commands"));
            return false;
        }
    }
    true
}

/// The step whose command `pick` selects, exactly one.
fn step<'a>(steps: &'a [Step], what: &str, pick: impl Fn(&str) -> bool) -> &'a Step {
    let found: Vec<&Step> = steps.iter().filter(|s| pick(&s.command)).collect();
    assert_eq!(
        found.len(),
        1,
        "{what}: {} commands of {:?}",
        found.len(),
        steps.iter().map(|s| &s.command).collect::<Vec<_>>()
    );
    found[0]
}

/// "First calls" against the server of the README's first command (`serve` with its defaults): compare, detect,
/// ID + selfie, a collection with one face, and the search that finds it.
fn first_calls() {
    if !tools_present() {
        return;
    }
    let text = readme();
    let top = text.split("\n## ").next().expect("the README's start");
    let serve: Vec<String> = fenced_sh(top.lines())
        .iter()
        .flat_map(|b| commands(b))
        .filter(|c| c.starts_with("cargo run --release -- serve"))
        .collect();
    assert_eq!(serve.len(), 1, "the README's first block starts the server once: {serve:?}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let port = testkit::free_port();
    let mut shell = Shell::start(tmp.path(), port, &[("FACEGATE_LISTEN", format!("127.0.0.1:{port}"))]);
    shell.serve(&substitute(&serve[0], port)).assert_ok();

    let mut steps = Vec::new();
    for command in section_blocks(&text, "## First calls").iter().flat_map(|b| commands(b)) {
        let step = shell.run(&substitute(&command, port));
        step.assert_ok();
        steps.push(step);
    }
    assert!(steps.iter().filter(|s| s.command.contains("curl")).count() >= 6, "six requests at least");

    let compare = step(&steps, "compare", |c| c.contains("/v1/compare")).body();
    assert_eq!(compare["match"], true, "{compare}");
    assert!(compare["similarity"].as_f64().is_some_and(|s| s > 80.0), "{compare}");
    let detect = step(&steps, "detect", |c| c.contains("/v1/detect")).body();
    assert_eq!(detect["faces"].as_array().map(Vec::len), Some(1), "{detect}");
    assert!(detect["faces"][0]["confidence"].as_f64().is_some_and(|c| c > 0.5), "{detect}");
    let id = step(&steps, "verify-id", |c| c.contains("/v1/verify-id")).body();
    assert_eq!(id["match"], true, "the two documents of one holder match: {id}");
    let created = step(&steps, "create the collection", |c| c.ends_with("/v1/collections")).body();
    assert_eq!(created["collectionId"], "staff", "{created}");
    let indexed = step(&steps, "index", |c| c.ends_with("/faces")).body();
    let records = indexed["faceRecords"].as_array().expect("faceRecords");
    assert_eq!(records.len(), 1, "{indexed}");
    assert_eq!((&records[0]["externalId"], &records[0]["metadata"]), (&json!("obama"), &json!({"team": "ops"})));
    let search = step(&steps, "search", |c| c.ends_with("/search")).body();
    let best = &search["results"][0]["matches"][0];
    assert_eq!((&best["faceId"], &best["externalId"]), (&records[0]["faceId"], &json!("obama")), "{search}");
    assert!(best["similarity"].as_f64().is_some_and(|s| s > 80.0), "{search}");
    // It was the server of the README's first command, on the temporary data folder.
    assert!(tmp.path().join("data/facegate.db").is_file(), "server log:\n{}", shell.server_log());
}

/// The rows of `facegate keys list` by key id: (state, name).
fn key_rows(output: &str) -> BTreeMap<String, (String, String)> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("key id"), "not a key list:\n{output}");
    lines
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.to_string(), (words.next()?.to_string(), words.next()?.to_string())))
        })
        .collect()
}

/// "Access control": the exported admin key, the server on `0.0.0.0` started with it, a scoped key made over
/// HTTP and the same made on the store by the CLI, the list, and a revocation (of the HTTP key, by the id the
/// list printed). Then, with the server: the admin key holds, the revoked key is refused, the other one works.
fn access_control() {
    if !tools_present() {
        return;
    }
    let text = readme();
    let tmp = tempfile::tempdir().expect("temp dir");
    let port = testkit::free_port();
    let mut shell = Shell::start(tmp.path(), port, &[]);
    let mut steps: Vec<Step> = Vec::new();
    let mut http_key = Value::Null;
    for command in section_blocks(&text, "## Access control").iter().flat_map(|b| commands(b)) {
        let mut command = substitute(&command, port);
        if command.contains("KEY_ID") {
            let listed = steps.iter().rev().find(|s| s.command.ends_with(" keys list")).expect("a `keys list` before");
            let id = http_key["keyId"].as_str().expect("the key made over HTTP");
            assert!(key_rows(&listed.output).contains_key(id), "{id} not in the list:\n{}", listed.output);
            command = command.replace("KEY_ID", id);
        }
        let step = if is_serve(&command) { shell.serve(&command) } else { shell.run(&command) };
        step.assert_ok();
        if step.command.contains("/v1/keys") {
            http_key = step.body();
        }
        steps.push(step);
    }

    assert!(steps[0].command.starts_with("export FACEGATE_ADMIN_KEY="), "{}", steps[0].command);
    assert!(steps.iter().any(|s| is_serve(&s.command) && s.command.contains(&format!("0.0.0.0:{port}"))));
    let key = http_key["key"].as_str().unwrap_or_default().to_string();
    assert!(key.starts_with("fg_"), "{http_key}");
    assert_eq!(
        (&http_key["name"], &http_key["scopes"], &http_key["collections"], &http_key["monthlyQuota"]),
        (&json!("door-3"), &json!(["collections:read"]), &json!(["staff"]), &json!(100000)),
        "{http_key}"
    );
    let created = step(&steps, "keys create", |c| c.contains(" keys create "));
    let cli_key = created.output.lines().find(|l| l.starts_with("fg_")).expect("the CLI prints the key").to_string();
    let listed = key_rows(&step(&steps, "keys list", |c| c.ends_with(" keys list")).output);
    let door3: Vec<(&String, &String)> =
        listed.iter().filter(|(_, (_, name))| name == "door-3").map(|(id, (state, _))| (id, state)).collect();
    assert_eq!(door3.len(), 2, "two door-3 keys, over HTTP and from the CLI: {listed:?}");
    assert!(door3.iter().all(|(_, state)| *state == "active"), "{listed:?}");
    let revoked = http_key["keyId"].as_str().expect("keyId");
    let revoke = step(&steps, "keys revoke", |c| c.contains(" keys revoke "));
    assert!(revoke.command.ends_with(&format!(" keys revoke {revoked}")), "{}", revoke.command);

    // The list now, and the server.
    let after = shell.run(&substitute("facegate keys list", port));
    after.assert_ok();
    let after = key_rows(&after.output);
    assert_ne!(after.get(revoked).map(|(state, _)| state.as_str()), Some("active"), "{after:?}");
    let cli_id = door3.iter().map(|(id, _)| id.as_str()).find(|id| *id != revoked).expect("the CLI's key");
    assert_eq!(after.get(cli_id).map(|(state, _)| state.as_str()), Some("active"), "{after:?}");
    let http = client();
    let status = |req: reqwest::blocking::RequestBuilder| req.send().expect("request").status().as_u16();
    assert_eq!(status(http.get(shell.url("/v1/keys"))), 401, "the exported admin key guards the server");
    assert_eq!(status(http.get(shell.url("/v1/collections")).bearer_auth(&key)), 401, "the revoked key");
    assert_eq!(status(http.get(shell.url("/v1/collections")).bearer_auth(&cli_key)), 200, "the CLI's key");
    assert_eq!(status(http.get(shell.url("/v1/collections")).header("x-api-key", &cli_key)), 200);
    assert_eq!(status(http.get(shell.url("/v1/keys")).bearer_auth(&cli_key)), 403, "collections:read only");
}
