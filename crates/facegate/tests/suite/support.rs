//! Running real `facegate serve` processes for the API tests, reading the shared test images, and the suite's
//! one PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::{multipart, Client, Response};
use serde_json::Value;

pub fn shared_data(rel: &str) -> PathBuf {
    testkit::shared_data(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = shared_data(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// LFW image `n` (1-based) of `name`.
pub fn lfw(name: &str, n: u32) -> Vec<u8> {
    read(&format!("lfw/images/{name}/{name}_{n:04}.jpg"))
}

/// The same-person pairs of the shared LFW pairs file: (name, i, j), first occurrence of each name.
pub fn lfw_same_pairs() -> Vec<(String, u32, u32)> {
    let text = std::fs::read_to_string(shared_data("lfw/pairs.txt")).expect("lfw/pairs.txt");
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 3 {
                return None;
            }
            Some((f[0].to_string(), f[1].parse().ok()?, f[2].parse().ok()?))
        })
        .filter(|(name, _, _)| seen.insert(name.clone()))
        .collect()
}

/// A `facegate serve` child process; stopped when dropped (its standard input closes, and it is killed if it
/// is still there).
pub struct Served {
    pub base: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub log: PathBuf,
}

impl Served {
    pub fn start(data_dir: &Path, database: Option<&str>, extra: &[&str]) -> Served {
        Served::start_env(data_dir, database, extra, &[])
    }

    /// As `start`, with environment variables (e.g. `FACEGATE_ADMIN_KEY`).
    pub fn start_env(data_dir: &Path, database: Option<&str>, extra: &[&str], env: &[(&str, &str)]) -> Served {
        Served::start_limited(data_dir, database, extra, env, None)
    }

    /// As `start_env`, in a process whose open-file limit (soft and hard) is `fd_limit`.
    pub fn start_limited(
        data_dir: &Path,
        database: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
        fd_limit: Option<u64>,
    ) -> Served {
        let log = data_dir.join(format!("server-{}.log", uuid_like()));
        std::fs::create_dir_all(data_dir).expect("data dir");
        let binary = env!("CARGO_BIN_EXE_facegate");
        let mut cmd = match fd_limit {
            None => Command::new(binary),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), binary]);
                sh
            }
        };
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--exit-on-stdin-close")
            .args(extra)
            .env_remove("FACEGATE_MODELS_DIR")
            .env_remove("FACEGATE_CONFIG")
            .env_remove("FACEGATE_ADMIN_KEY")
            .env_remove("FACEGATE_TOKEN_SECRET")
            .env_remove("FACEGATE_LIVENESS_ALLOW_CHALLENGE_ONLY")
            .envs(env.iter().copied())
            .env("FACEGATE_LOG", "info,sqlx=warn")
            .current_dir(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(url) = database {
            cmd.args(["--database", url]);
        }
        let mut child = cmd.spawn().expect("facegate serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let Some(addr) = line.trim().strip_prefix("facegate listening on ") else {
            let _ = child.kill();
            panic!("server did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let stdin = child.stdin.take();
        Served { base: addr.to_string(), child, stdin, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end by itself (after a signal), up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: the process dies mid-flight, as on a power cut or the OOM killer.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stdin.take();
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
    )
}

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(120)).build().expect("HTTP client")
}

/// Status and JSON body of a response (panics when the body is not JSON).
pub fn json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}, body not JSON ({e}): {text}"));
    (status, value)
}

/// Asserts an error response: status, `error.code`, a message.
pub fn expect_error(resp: Response, status: u16, code: &str) -> Value {
    let (got, body) = json(resp);
    assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "body: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {body}");
    body
}

pub fn file_part(name: &str, bytes: Vec<u8>) -> multipart::Part {
    multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("image/jpeg").expect("mime")
}

/// The images of an LFW person, in file name order.
pub fn lfw_person(name: &str) -> Vec<Vec<u8>> {
    let dir = shared_data(&format!("lfw/images/{name}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).expect("image")).collect()
}

/// A unique name for a collection in a shared server.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `api` of `suite::api` (the suite's trials are named after their modules).
pub fn module_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, module)| module)
}

static POSTGRES: Mutex<Option<Arc<testkit::Postgres>>> = Mutex::new(None);

/// The suite's PostgreSQL server (FACEGATE_TEST_POSTGRES_URL, or a throwaway cluster started on first use).
pub fn postgres() -> Arc<testkit::Postgres> {
    let mut shared = POSTGRES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    shared.get_or_insert_with(|| Arc::new(testkit::Postgres::for_tests().expect("PostgreSQL for the tests"))).clone()
}

/// Stops the suite's throwaway cluster, if one was started (after the last trial).
pub fn stop_postgres() {
    let shared = POSTGRES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    drop(shared);
}
