//! The service's configuration from its three sources, in order: defaults < the TOML file < `FACEGATE_*`
//! environment < flags. Every setting is a field of [`ServerConfig`] (its one declaration): the file sets it by
//! its key, the environment by `FACEGATE_` + the key in upper case, a flag by `--set KEY=VALUE` (and the most
//! used ones by their own flags, such as `--listen`). An unknown `FACEGATE_*` variable or `--set` key stops the
//! start-up, naming the keys it is closest to.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use app::config::{Origin, TextSetting, ENV_PREFIX, SECRET_KEYS};
use app::ServerConfig;

use crate::cli::{CommonArgs, ServeArgs, StoreArgs};

/// `FACEGATE_*` variables that are not settings: the command line's own (`FACEGATE_CONFIG`, `FACEGATE_THREADS`,
/// ...: every flag's variable is read by clap), the log filter, and the test suite's (`FACEGATE_TEST_*`, the shared
/// data and PostgreSQL folders, the browser tests' server address).
const NOT_SETTINGS: [&str; 4] = ["FACEGATE_LOG", "FACEGATE_SHARED_DIR", "FACEGATE_PG_BINDIR", "FACEGATE_URL"];
const TEST_PREFIX: &str = "FACEGATE_TEST_";

/// The file named by `--config`/`FACEGATE_CONFIG`, else `./facegate.toml` when it exists.
fn config_file(store: &StoreArgs) -> Option<PathBuf> {
    store.config.clone().or_else(|| {
        let default = PathBuf::from("facegate.toml");
        default.exists().then_some(default)
    })
}

/// The variables of every flag of the command line (clap reads them itself).
fn flag_variables() -> Vec<String> {
    fn walk(command: &clap::Command, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|n| n.to_str()) {
                out.push(name.to_string());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&<crate::cli::Cli as clap::CommandFactory>::command(), &mut out);
    out
}

/// "did you mean" for an unknown key.
fn suggestion(close: &[&str], name: impl Fn(&str) -> String) -> String {
    match close {
        [] => String::new(),
        keys => format!(" (did you mean {}?)", keys.iter().map(|k| name(k)).collect::<Vec<_>>().join(", ")),
    }
}

/// The settings set by `FACEGATE_*` variables in `vars`; an empty value counts as unset. A variable that is neither a
/// setting nor one of the command line's is an error naming the settings it is closest to.
pub fn env_settings(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Vec<TextSetting>> {
    let keys = ServerConfig::keys();
    let flags = flag_variables();
    let mut out = Vec::new();
    for (name, value) in vars {
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        if NOT_SETTINGS.contains(&name) || name.starts_with(TEST_PREFIX) || flags.iter().any(|f| f == name) {
            continue;
        }
        let key = rest.to_ascii_lowercase();
        if !keys.contains(&key.as_str()) {
            let close = ServerConfig::close_keys(&key);
            bail!("{name} is not a setting{}", suggestion(&close, ServerConfig::env_name));
        }
        let value = value.into_string().map_err(|_| anyhow::anyhow!("{name} is not UTF-8"))?;
        if !value.is_empty() {
            out.push(TextSetting { key, value, origin: Origin::Env(name.to_string()) });
        }
    }
    // The same order whatever the environment's.
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The settings of `--set KEY=VALUE` flags. Secrets are refused: other users of the machine see flags.
pub fn flag_settings(pairs: &[String]) -> Result<Vec<TextSetting>> {
    let keys = ServerConfig::keys();
    pairs
        .iter()
        .map(|pair| {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("--set {pair:?}: write KEY=VALUE (the keys: facegate serve --print-config)");
            };
            let key = key.trim().to_ascii_lowercase();
            if !keys.contains(&key.as_str()) {
                let close = ServerConfig::close_keys(&key);
                bail!("--set {key}: not a setting{}", suggestion(&close, |k| k.to_string()));
            }
            if SECRET_KEYS.contains(&key.as_str()) {
                bail!(
                    "--set {key}: secrets are never taken from flags (other users of the machine see them): use {} \
                     or the file",
                    ServerConfig::env_name(&key)
                );
            }
            Ok(TextSetting { key, value: value.to_string(), origin: Origin::Flag("--set".into()) })
        })
        .collect()
}

/// The own flags' values as settings. A value clap took from the flag's variable is the environment's, not a flag's.
fn own_flags(
    common: &CommonArgs,
    store: &StoreArgs,
    serve: Option<&ServeArgs>,
) -> (Vec<TextSetting>, Vec<TextSetting>) {
    let (mut from_env, mut from_flags) = (Vec::new(), Vec::new());
    // clap took a value from the command line when the flag is there, else from its variable.
    let given = |flag: &str| std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let mut add = |key: &str, flag: &str, variable: &str, value: Option<String>| {
        let Some(value) = value else { return };
        if given(flag) {
            from_flags.push(TextSetting { key: key.into(), value, origin: Origin::Flag(flag.into()) });
        } else {
            from_env.push(TextSetting { key: key.into(), value, origin: Origin::Env(variable.into()) });
        }
    };
    let text = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    add("models_dir", "--models-dir", "FACEGATE_MODELS_DIR", text(&common.models_dir));
    add("model", "--model", "FACEGATE_MODEL", common.model.map(|m| vision::EmbeddingModel::from(m).to_string()));
    add(
        "backend",
        "--backend",
        "FACEGATE_BACKEND",
        common.backend.map(|b| vision::runtime::BackendKind::from(b).to_string()),
    );
    add("workers", "--threads", "FACEGATE_THREADS", common.threads.map(|t| t.to_string()));
    add(
        "detect_max_side",
        "--detect-max-side",
        "FACEGATE_DETECT_MAX_SIDE",
        common.detect_max_side.map(|v| v.to_string()),
    );
    add(
        "detect_coarse_side",
        "--detect-coarse-side",
        "FACEGATE_DETECT_COARSE_SIDE",
        common.detect_coarse_side.map(|v| v.to_string()),
    );
    add("detect_score", "--detect-score", "FACEGATE_DETECT_SCORE", common.detect_score.map(|v| v.to_string()));
    add("data_dir", "--data-dir", "FACEGATE_DATA_DIR", text(&store.data_dir));
    add("database", "--database", "FACEGATE_DATABASE", store.database.clone());
    add("blob_store", "--blob-store", "FACEGATE_BLOB_STORE", store.blob_store.as_ref().map(ToString::to_string));
    if let Some(s) = serve {
        add("listen", "--listen", "FACEGATE_LISTEN", s.listen.map(|v| v.to_string()));
        add("queue", "--queue", "FACEGATE_QUEUE", s.queue.map(|v| v.to_string()));
        add(
            "match_threshold",
            "--match-threshold",
            "FACEGATE_MATCH_THRESHOLD",
            s.match_threshold.map(|v| v.to_string()),
        );
        add(
            "document_max_side",
            "--document-max-side",
            "FACEGATE_DOCUMENT_MAX_SIDE",
            s.document_max_side.map(|v| v.to_string()),
        );
        add(
            "max_image_bytes",
            "--max-image-bytes",
            "FACEGATE_MAX_IMAGE_BYTES",
            s.max_image_bytes.map(|v| v.to_string()),
        );
        add(
            "max_image_pixels",
            "--max-image-pixels",
            "FACEGATE_MAX_IMAGE_PIXELS",
            s.max_image_pixels.map(|v| v.to_string()),
        );
        add(
            "sync_interval_ms",
            "--sync-interval-ms",
            "FACEGATE_SYNC_INTERVAL_MS",
            s.sync_interval_ms.map(|v| v.to_string()),
        );
        add("db_connections", "--db-connections", "FACEGATE_DB_CONNECTIONS", s.db_connections.map(|v| v.to_string()));
        add("cors_origins", "--cors-origin", "FACEGATE_CORS_ORIGINS", s.cors_origins.as_ref().map(|v| v.join(",")));
        add(
            "login_threshold",
            "--login-threshold",
            "FACEGATE_LOGIN_THRESHOLD",
            s.login_threshold.map(|v| v.to_string()),
        );
        add(
            "token_ttl_seconds",
            "--token-ttl-seconds",
            "FACEGATE_TOKEN_TTL_SECONDS",
            s.token_ttl_seconds.map(|v| v.to_string()),
        );
        add(
            "liveness_allow_challenge_only",
            "--liveness-allow-challenge-only",
            "FACEGATE_LIVENESS_ALLOW_CHALLENGE_ONLY",
            s.liveness_allow_challenge_only.map(|v| v.to_string()),
        );
    }
    (from_env, from_flags)
}

/// The effective configuration for `enroll`/`search`/`keys` (no serve flags) or `serve`.
pub fn server_config(common: &CommonArgs, store: &StoreArgs, serve: Option<&ServeArgs>) -> Result<ServerConfig> {
    let mut texts = env_settings(std::env::vars_os())?;
    let (own_env, own_flags) = own_flags(common, store, serve);
    texts.extend(own_env);
    let set = flag_settings(&store.set)?;
    for s in &set {
        if let Some(own) = own_flags.iter().find(|o| o.key == s.key) {
            bail!("{} is given twice: by {} and by --set", s.key, own.origin);
        }
    }
    texts.extend(own_flags);
    texts.extend(set);
    let file = config_file(store);
    let mut c = ServerConfig::layered(file.as_deref(), &texts).with_context(|| {
        file.map(|f| format!("settings (file {})", f.display())).unwrap_or_else(|| "settings".into())
    })?;
    // The S3-compatible service as AWS's tools find it: the usual AWS variables, where nothing else says.
    let aws = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    if c.s3_endpoint.is_none() {
        c.s3_endpoint = aws(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
    }
    if c.s3_region.is_none() {
        c.s3_region = aws(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
    }
    if c.s3_access_key_id.is_none() && c.s3_secret_access_key.is_none() {
        c.s3_access_key_id = aws(&["AWS_ACCESS_KEY_ID"]);
        c.s3_secret_access_key = aws(&["AWS_SECRET_ACCESS_KEY"]).map(app::config::Secret::new);
        if c.s3_session_token.is_none() {
            c.s3_session_token = aws(&["AWS_SESSION_TOKEN"]).map(app::config::Secret::new);
        }
    }
    c.validate()?;
    Ok(c)
}
