//! `facegate models`: the models, their SHA-256 and where they load from; `facegate models fetch`: downloads
//! the passive anti-spoofing weights (published PyTorch files that are never embedded nor committed) into the
//! models directory, checked against their published SHA-256.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use antispoof::passive::OFFICIAL_SOURCE;
use antispoof::{PassiveLiveness, SpoofModelFile, SPOOF_MODELS};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use vision::models::{sha256_hex, ModelRepository, ModelRole, MANIFEST};

use super::print_json;
use crate::cli::{CommonArgs, FetchArgs};

/// The largest file `models fetch` accepts (the published weights are under 2 MiB each).
const MAX_DOWNLOAD_BYTES: u64 = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What a listed model is for: the pipeline's roles, and passive anti-spoofing (serialised as its own name).
#[derive(Serialize)]
#[serde(untagged)]
enum Role {
    Vision(ModelRole),
    Other(&'static str),
}

#[derive(Serialize)]
struct ModelRow {
    id: &'static str,
    file: &'static str,
    role: Role,
    sha256: &'static str,
    embedded_in_binary: bool,
    /// Where it loads from now, or why it does not load.
    loads_from: Option<String>,
    error: Option<String>,
}

/// The short id of an anti-spoofing checkpoint in the listing.
fn passive_id(spec: &SpoofModelFile) -> &'static str {
    if spec.file.contains("MiniFASNetV1SE") {
        "minifasnet_v1se"
    } else {
        "minifasnet_v2"
    }
}

const FETCH_HINT: &str = "`facegate models fetch` downloads it";

/// The anti-spoofing rows: each file checked on its own, then both networks built as the service builds them.
fn passive_rows(common: &CommonArgs) -> Vec<ModelRow> {
    let dir = common.models_dir.as_deref();
    let mut rows: Vec<ModelRow> = SPOOF_MODELS
        .iter()
        .map(|spec| {
            let (loads_from, error) = match dir {
                None => (
                    None,
                    Some(format!(
                        "no models directory configured (--models-dir or FACEGATE_MODELS_DIR); this file is never \
                         embedded: {FETCH_HINT}"
                    )),
                ),
                Some(d) => match check_file(&d.join(spec.file), spec) {
                    Ok(Presence::Valid) => (Some(d.join(spec.file).display().to_string()), None),
                    Ok(Presence::Missing) => (None, Some(format!("not in {}: {FETCH_HINT}", d.display()))),
                    Ok(Presence::Wrong(actual)) => (
                        None,
                        Some(format!(
                            "SHA-256 mismatch in {}: expected {}, found {actual} (`facegate models fetch --force` \
                             replaces it)",
                            d.join(spec.file).display(),
                            spec.sha256
                        )),
                    ),
                    Err(e) => (None, Some(format!("{e:#}"))),
                },
            };
            ModelRow {
                id: passive_id(spec),
                file: spec.file,
                role: Role::Other("passive_anti_spoofing"),
                sha256: spec.sha256,
                embedded_in_binary: false,
                loads_from,
                error,
            }
        })
        .collect();
    // Right bytes are not yet a working model: build and plan both networks.
    if let (Some(d), true) = (dir, rows.iter().all(|r| r.loads_from.is_some())) {
        let built = vision::runtime::make_backend(common.pipeline_config(1).backend, 1)
            .map_err(anyhow::Error::from)
            .and_then(|backend| Ok(PassiveLiveness::load(d, backend.as_ref())?));
        if let Err(e) = built {
            for r in &mut rows {
                r.loads_from = None;
                r.error = Some(format!("{e:#}"));
            }
        }
    }
    rows
}

pub fn run(common: &CommonArgs, json: bool) -> Result<()> {
    let repo = ModelRepository::new(common.models_dir.clone());
    let mut rows: Vec<ModelRow> = MANIFEST
        .iter()
        .map(|spec| {
            let (loads_from, error) = match repo.load(spec) {
                Ok(m) => (Some(m.origin.to_string()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            ModelRow {
                id: spec.id,
                file: spec.file,
                role: Role::Vision(spec.role),
                sha256: spec.sha256,
                embedded_in_binary: spec.embedded.is_some(),
                loads_from,
                error,
            }
        })
        .collect();
    rows.extend(passive_rows(common));
    // The engine the service would run the models on (`--backend`, default auto).
    let engine = match vision::runtime::choose_backend(common.pipeline_config(1).backend, 1) {
        Ok((_, engine)) => Ok(engine),
        Err(e) => Err(e.to_string()),
    };
    if json {
        #[derive(Serialize)]
        struct Listing<'a> {
            engine: Option<&'a vision::runtime::EngineInfo>,
            #[serde(skip_serializing_if = "Option::is_none")]
            engine_error: Option<&'a str>,
            models: &'a [ModelRow],
        }
        return print_json(&Listing {
            engine: engine.as_ref().ok(),
            engine_error: engine.as_ref().err().map(String::as_str),
            models: &rows,
        });
    }
    match &engine {
        Ok(engine) => println!("inference engine: {engine}"),
        Err(e) => println!("inference engine: NOT AVAILABLE: {e}"),
    }
    match repo.dir() {
        Some(d) => println!("models directory: {} (searched first)", d.display()),
        None => println!("models directory: none configured (embedded models only)"),
    }
    for r in &rows {
        println!(
            "  {:<14} {:<36} sha256 {}  {}",
            r.id,
            r.file,
            r.sha256,
            match (&r.loads_from, &r.error) {
                (Some(from), _) => format!("OK, from {from}"),
                (None, Some(e)) => format!("NOT LOADED: {e}"),
                (None, None) => String::new(),
            }
        );
    }
    Ok(())
}

/// A file of the models directory, as far as its expected hash is concerned.
enum Presence {
    Missing,
    Valid,
    /// Present with this other SHA-256.
    Wrong(String),
}

/// Reads at most `MAX_DOWNLOAD_BYTES + 1` bytes of `path` (anything longer is wrong anyway).
fn check_file(path: &Path, spec: &SpoofModelFile) -> Result<Presence> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Missing),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    if !file.metadata().with_context(|| format!("reading {}", path.display()))?.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(MAX_DOWNLOAD_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    let actual = sha256_hex(&bytes);
    Ok(if actual == spec.sha256 { Presence::Valid } else { Presence::Wrong(actual) })
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum FetchStatus {
    /// Downloaded, verified and written.
    Fetched,
    /// Present with the wrong hash, downloaded again because of `--force`.
    Replaced,
    /// Present with the right hash: nothing downloaded.
    AlreadyPresent,
    /// Present with the wrong hash and no `--force`: left as it is.
    Refused,
    /// The download failed or did not match: nothing written.
    Failed,
}

#[derive(Serialize)]
struct FetchRow {
    file: &'static str,
    path: String,
    /// Where it was (or would have been) downloaded from.
    url: String,
    status: FetchStatus,
    /// The published SHA-256.
    sha256: &'static str,
    /// The SHA-256 of the file found in the directory or downloaded, when it differs from the published one.
    actual_sha256: Option<String>,
    /// Bytes downloaded.
    bytes: Option<u64>,
    error: Option<String>,
}

#[derive(Serialize)]
struct FetchReport {
    models_dir: String,
    source: String,
    files: Vec<FetchRow>,
}

/// Where `models fetch` takes the files from: a web server (the official repository or a mirror), or a folder
/// (an offline machine's mirror: a local path or a `file://` URL).
enum Source {
    Http(String),
    Folder(PathBuf),
}

impl Source {
    fn parse(from: &str) -> Result<Source> {
        if from.starts_with("https://") || from.starts_with("http://") {
            return Ok(Source::Http(from.to_string()));
        }
        let folder = PathBuf::from(from.strip_prefix("file://").unwrap_or(from));
        if !folder.is_dir() {
            bail!(
                "--from must be an http:// or https:// URL, or a folder (a path or a file:// URL): {from:?} is neither"
            );
        }
        Ok(Source::Folder(folder))
    }

    /// Where `file` is taken from, for the report.
    fn location(&self, file: &str) -> String {
        match self {
            Source::Http(base) => format!("{}/{file}", base.trim_end_matches('/')),
            Source::Folder(dir) => dir.join(file).display().to_string(),
        }
    }
}

/// A file of the folder source, at most `MAX_DOWNLOAD_BYTES`.
fn read_from_folder(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_DOWNLOAD_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        bail!("the file is longer than the {MAX_DOWNLOAD_BYTES} bytes accepted");
    }
    Ok(bytes)
}

pub fn fetch(common: &CommonArgs, args: &FetchArgs, json: bool) -> Result<()> {
    let Some(dir) = common.models_dir.as_deref() else {
        bail!(
            "`facegate models fetch` needs a models directory to download into: pass --models-dir DIR or set \
             FACEGATE_MODELS_DIR (the directory the service loads the anti-spoofing weights from)"
        );
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating the models directory {}", dir.display()))?;
    let base = args.from.as_deref().unwrap_or(OFFICIAL_SOURCE);
    let source = Source::parse(base)?;
    let mut client: Option<reqwest::blocking::Client> = None;
    let mut files = Vec::new();
    let mut failures: Vec<anyhow::Error> = Vec::new();
    for spec in SPOOF_MODELS.iter() {
        let path = dir.join(spec.file);
        let url = source.location(spec.file);
        let mut row = FetchRow {
            file: spec.file,
            path: path.display().to_string(),
            url: url.clone(),
            status: FetchStatus::Failed,
            sha256: spec.sha256,
            actual_sha256: None,
            bytes: None,
            error: None,
        };
        let outcome = (|| -> Result<FetchStatus> {
            let replacing = match check_file(&path, spec)? {
                Presence::Valid => return Ok(FetchStatus::AlreadyPresent),
                Presence::Wrong(actual) if !args.force => {
                    row.actual_sha256 = Some(actual.clone());
                    row.status = FetchStatus::Refused;
                    bail!(
                        "{} is present with SHA-256 {actual}, expected {}: refused to replace it (pass --force to \
                         download it again, or remove it)",
                        path.display(),
                        spec.sha256
                    );
                }
                Presence::Wrong(actual) => {
                    row.actual_sha256 = Some(actual);
                    true
                }
                Presence::Missing => false,
            };
            let bytes = match &source {
                Source::Http(_) => {
                    let client = match &mut client {
                        Some(c) => c,
                        None => client.insert(http_client()?),
                    };
                    download(client, &url).with_context(|| format!("downloading {} from {url}", spec.file))?
                }
                Source::Folder(_) => {
                    read_from_folder(Path::new(&url)).with_context(|| format!("reading {} from {url}", spec.file))?
                }
            };
            row.bytes = Some(bytes.len() as u64);
            let actual = sha256_hex(&bytes);
            if actual != spec.sha256 {
                row.actual_sha256 = Some(actual.clone());
                bail!(
                    "{} from {url}: SHA-256 mismatch: expected {}, got {actual} ({} bytes); nothing written",
                    spec.file,
                    spec.sha256,
                    bytes.len()
                );
            }
            write_atomically(dir, spec.file, &bytes)?;
            row.actual_sha256 = None;
            Ok(if replacing { FetchStatus::Replaced } else { FetchStatus::Fetched })
        })();
        match outcome {
            Ok(status) => row.status = status,
            // The status stays `Failed`, or `Refused` when the closure said so.
            Err(e) => {
                row.error = Some(format!("{e:#}"));
                failures.push(e);
            }
        }
        files.push(row);
    }
    let report = FetchReport { models_dir: dir.display().to_string(), source: base.to_string(), files };
    if json {
        print_json(&report)?;
    } else {
        println!("models directory: {}", report.models_dir);
        for r in &report.files {
            match r.status {
                FetchStatus::Fetched | FetchStatus::Replaced => println!(
                    "  {:<16} {:<32} {} bytes from {}, sha256 {} verified",
                    if r.status == FetchStatus::Fetched { "fetched" } else { "replaced" },
                    r.file,
                    r.bytes.unwrap_or_default(),
                    r.url,
                    r.sha256
                ),
                FetchStatus::AlreadyPresent => {
                    println!("  {:<16} {:<32} sha256 {} verified", "already present", r.file, r.sha256)
                }
                FetchStatus::Refused | FetchStatus::Failed => println!(
                    "  {:<16} {:<32} {}",
                    if r.status == FetchStatus::Refused { "refused" } else { "FAILED" },
                    r.file,
                    r.error.as_deref().unwrap_or_default()
                ),
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        n => Err(anyhow!(
            "{n} of {} anti-spoofing weight files not installed:\n  {}",
            SPOOF_MODELS.len(),
            failures.iter().map(|e| format!("{e:#}")).collect::<Vec<_>>().join("\n  ")
        )),
    }
}

fn http_client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(10))
        .user_agent(concat!("facegate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// The body of a GET, at most `MAX_DOWNLOAD_BYTES`, read as it streams in.
fn download(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>> {
    let response = client.get(url).send()?;
    let status = response.status();
    if !status.is_success() {
        match response.url().as_str() {
            last if last != url => bail!("HTTP {status} (redirected to {last})"),
            _ => bail!("HTTP {status}"),
        }
    }
    if let Some(len) = response.content_length().filter(|&l| l > MAX_DOWNLOAD_BYTES) {
        bail!("the server announces {len} bytes, more than the {MAX_DOWNLOAD_BYTES} accepted");
    }
    let mut bytes = Vec::new();
    response.take(MAX_DOWNLOAD_BYTES + 1).read_to_end(&mut bytes).context("reading the response")?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        bail!("the response is longer than the {MAX_DOWNLOAD_BYTES} bytes accepted");
    }
    Ok(bytes)
}

/// A temporary file beside the destination, removed unless it was renamed into place.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Writes `dir/name` so that it either holds all of `bytes` or is untouched: a temporary file in the same
/// directory, flushed to disk, then renamed over it (and the directory flushed).
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let dest = dir.join(name);
    let temp_path = dir.join(format!(".{name}.{}.part", std::process::id()));
    let mut temp = TempFile(Some(temp_path.clone()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp_path)
        .with_context(|| format!("creating {}", temp_path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", temp_path.display()))?;
    drop(file);
    std::fs::rename(&temp_path, &dest)
        .with_context(|| format!("moving {} to {}", temp_path.display(), dest.display()))?;
    temp.0 = None;
    // The rename itself is durable once the directory is flushed (not possible on every platform).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
