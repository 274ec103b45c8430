//! Test support: where the shared data is, and PostgreSQL for tests — the server named by
//! `FACEGATE_TEST_POSTGRES_URL` when set (CI starts one), or else a throwaway cluster started here from the
//! PostgreSQL binaries on the machine (`initdb` + `pg_ctl` on a temporary directory and a free port).

pub mod trials;

use std::path::PathBuf;
use std::process::Command;

/// The repository's root. Cargo runs tests with their own crate's directory in `CARGO_MANIFEST_DIR` (every
/// crate sits in `crates/<name>`): read at run time, since a build cache shared between checkouts at
/// different paths keeps the compile-time path of whichever checkout built a crate first.
pub fn repo_root() -> PathBuf {
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("../..")
}

/// `../shared` of the repository (or `FACEGATE_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FACEGATE_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    repo_root().join("../shared")
}

pub fn shared_data(rel: &str) -> PathBuf {
    shared_dir().join("data").join(rel)
}

/// A check that needs something this machine may lack (a Python package, a library): skipped with a note on
/// a developer's machine, a failure in CI (`CI` set), where everything is installed.
pub fn skip_unless_ci(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must provide what this test needs: {what}");
    eprintln!("skipped: {what}");
}

/// The inference engine tests run their in-process pipelines on: `FACEGATE_BACKEND` as the binary reads it
/// (`auto`, `tract`, `onnxruntime`), so that one variable moves a whole test run to one engine; `auto` when
/// unset.
pub fn backend_name() -> String {
    std::env::var("FACEGATE_BACKEND").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| "auto".into())
}

/// A free TCP port on loopback (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A PostgreSQL server for tests; a cluster started here is stopped when this is dropped.
pub struct Postgres {
    /// `postgres://...` of the server's maintenance database.
    pub admin_url: String,
    cluster: Option<Cluster>,
}

/// A cluster this process started: its binaries, data directory and options.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    options: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn tool(&self, tool: &str) -> Command {
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        c.env_remove("PGDATA");
        c
    }

    fn start(&self) -> Result<(), String> {
        run(self.tool("pg_ctl").arg("-D").arg(&self.data).arg("-l").arg(self.dir.path().join("log")).args([
            "-o",
            &self.options,
            "-w",
            "start",
        ]))
    }

    fn stop(&self, mode: &str) -> Result<(), String> {
        run(self.tool("pg_ctl").arg("-D").arg(&self.data).args(["-m", mode, "-w", "stop"]))
    }
}

impl Postgres {
    /// The server from `FACEGATE_TEST_POSTGRES_URL`, or a fresh throwaway cluster.
    pub fn for_tests() -> Result<Self, String> {
        if let Ok(url) = std::env::var("FACEGATE_TEST_POSTGRES_URL") {
            return Ok(Postgres { admin_url: url, cluster: None });
        }
        Self::own_cluster()
    }

    /// Always a throwaway cluster of this process (for tests that stop and restart the database).
    pub fn own_cluster() -> Result<Self, String> {
        let bin = postgres_bindir().ok_or(
            "PostgreSQL binaries (initdb, pg_ctl) not found: install postgresql (apt-get install postgresql) \
             or set FACEGATE_TEST_POSTGRES_URL to a server the tests may create databases on",
        )?;
        let dir = tempfile::Builder::new().prefix("facegate-pg-").tempdir().map_err(|e| e.to_string())?;
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to the `postgres` user.
            run(Command::new("chown").args(["postgres:postgres"]).arg(dir.path()))?;
        }
        let port = free_port();
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        let cluster = Cluster { bin, data: dir.path().join("data"), options, dir };
        run(cluster
            .tool("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&cluster.data))?;
        cluster.start()?;
        Ok(Postgres { admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), cluster: Some(cluster) })
    }

    /// Stops this process's cluster at once (as a crash or an outage would); an error for an external server.
    pub fn stop(&self) -> Result<(), String> {
        self.cluster.as_ref().ok_or("not a cluster of this process")?.stop("immediate")
    }

    /// Starts this process's cluster again after [`Postgres::stop`].
    pub fn restart(&self) -> Result<(), String> {
        self.cluster.as_ref().ok_or("not a cluster of this process")?.start()
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self, prefix: &str) -> Result<String, String> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        run(Command::new("psql")
            .args(["-v", "ON_ERROR_STOP=1", "-q", &self.admin_url, "-c"])
            .arg(format!("CREATE DATABASE \"{name}\"")))?;
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(b, _)| b);
        Ok(format!("{base}/{name}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let _ = cluster.stop("immediate");
        }
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// The directory with `initdb` and `pg_ctl`: `FACEGATE_PG_BINDIR`, `pg_config --bindir`, or Debian's layout.
pub fn postgres_bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FACEGATE_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates.into_iter().find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A PNG whose header claims `width` x `height` 8-bit RGB pixels, followed by a few bytes of image data: what a
/// decompression bomb looks like to a decoder that trusts headers.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut typed = kind.to_vec();
        typed.extend_from_slice(body);
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
        out
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// An S3-compatible server for tests: the one named by `FACEGATE_TEST_S3_ENDPOINT` (CI starts moto's standalone
/// server), or else `moto_server` from the virtual environment of `FACEGATE_TEST_PYTHON` started here on a free
/// port (stopped when this is dropped). Any credentials are accepted; the region is `us-east-1`.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    child: Option<std::process::Child>,
}

impl S3Server {
    /// `Err` says why there is none (the caller skips, or fails under CI).
    pub fn for_tests() -> Result<Self, String> {
        if let Ok(endpoint) = std::env::var("FACEGATE_TEST_S3_ENDPOINT") {
            return Ok(S3Server { endpoint, child: None });
        }
        let python = std::env::var_os("FACEGATE_TEST_PYTHON")
            .ok_or("neither FACEGATE_TEST_S3_ENDPOINT nor FACEGATE_TEST_PYTHON (a venv with moto[server]) is set")?;
        let moto = PathBuf::from(python).with_file_name("moto_server");
        if !moto.exists() {
            return Err(format!("{} is missing: pip install 'moto[server]'", moto.display()));
        }
        let port = free_port();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", moto.display()))?;
        let server = S3Server { endpoint: format!("http://127.0.0.1:{port}"), child: Some(child) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return Err("moto_server did not start listening within 60 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(server)
    }

    /// Creates a bucket (an unsigned `PUT /BUCKET`, which moto accepts; an existing bucket is fine).
    pub fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        use std::io::{Read, Write};
        let host = self.endpoint.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
        let request =
            format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        if answer.starts_with("HTTP/1.1 200") || answer.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(format!("creating bucket {bucket}: {}", answer.lines().next().unwrap_or_default()))
        }
    }

    /// The environment a `facegate serve` needs to keep its images in `bucket` on this server.
    pub fn server_env(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("FACEGATE_BLOB_STORE".into(), format!("s3://{bucket}/{prefix}")),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
