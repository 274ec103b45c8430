//! The service's configuration from its three sources, in order: defaults < the TOML file < `FACEGATE_*`
//! environment and flags (clap reads both; a flag wins over its variable).

use std::path::PathBuf;

use anyhow::{Context, Result};
use server::ServerConfig;

use crate::cli::{CommonArgs, ServeArgs, StoreArgs};

/// The file named by `--config`/`FACEGATE_CONFIG`, else `./facegate.toml` when it exists.
fn config_file(store: &StoreArgs) -> Option<PathBuf> {
    store.config.clone().or_else(|| {
        let default = PathBuf::from("facegate.toml");
        default.exists().then_some(default)
    })
}

/// The effective configuration for `enroll`/`search` (no serve flags) or `serve`.
pub fn server_config(common: &CommonArgs, store: &StoreArgs, serve: Option<&ServeArgs>) -> Result<ServerConfig> {
    let mut c = match config_file(store) {
        Some(path) => ServerConfig::from_file(&path).with_context(|| format!("reading {}", path.display()))?,
        None => ServerConfig::default(),
    };
    fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
        if let Some(v) = value {
            *slot = v.clone();
        }
    }
    if let Some(dir) = &common.models_dir {
        c.models_dir = Some(dir.clone());
    }
    if let Some(m) = common.model {
        c.model = vision::EmbeddingModel::from(m);
    }
    if let Some(b) = common.backend {
        c.backend = vision::runtime::BackendKind::from(b);
    }
    set(&mut c.workers, &common.threads);
    set(&mut c.detect_max_side, &common.detect_max_side);
    set(&mut c.detect_coarse_side, &common.detect_coarse_side);
    set(&mut c.detect_score, &common.detect_score);
    set(&mut c.data_dir, &store.data_dir);
    if store.database.is_some() {
        c.database = store.database.clone();
    }
    // Secrets come from the file or the environment, never from flags (which other users of the machine see).
    if let Some(key) = secret_from_env("FACEGATE_ADMIN_KEY") {
        c.admin_key = Some(key);
    }
    if let Some(secret) = secret_from_env("FACEGATE_AWS_SECRET_ACCESS_KEY") {
        c.aws_secret_access_key = Some(secret);
    }
    if let Ok(id) = std::env::var("FACEGATE_AWS_ACCESS_KEY_ID") {
        c.aws_access_key_id = Some(id).filter(|v| !v.is_empty());
    }
    if let Some(secret) = secret_from_env("FACEGATE_TOKEN_SECRET") {
        c.token_secret = Some(secret);
    }
    set(&mut c.blob_store, &store.blob_store);
    // The S3-compatible service as AWS's tools find it: the usual AWS variables, where the file says nothing.
    let aws = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    if c.s3_endpoint.is_none() {
        c.s3_endpoint = aws(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
    }
    if c.s3_region.is_none() {
        c.s3_region = aws(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
    }
    if c.s3_access_key_id.is_none() && c.s3_secret_access_key.is_none() {
        c.s3_access_key_id = aws(&["AWS_ACCESS_KEY_ID"]);
        c.s3_secret_access_key = secret_from_env("AWS_SECRET_ACCESS_KEY");
        if c.s3_session_token.is_none() {
            c.s3_session_token = secret_from_env("AWS_SESSION_TOKEN");
        }
    }
    if let Some(s) = serve {
        set(&mut c.listen, &s.listen);
        set(&mut c.queue, &s.queue);
        set(&mut c.match_threshold, &s.match_threshold);
        set(&mut c.document_max_side, &s.document_max_side);
        set(&mut c.max_image_bytes, &s.max_image_bytes);
        set(&mut c.max_image_pixels, &s.max_image_pixels);
        set(&mut c.sync_interval_ms, &s.sync_interval_ms);
        set(&mut c.db_connections, &s.db_connections);
        set(&mut c.cors_origins, &s.cors_origins);
        set(&mut c.login_threshold, &s.login_threshold);
        set(&mut c.token_ttl_seconds, &s.token_ttl_seconds);
        set(&mut c.liveness_allow_challenge_only, &s.liveness_allow_challenge_only);
    }
    c.validate()?;
    Ok(c)
}

fn secret_from_env(name: &str) -> Option<server::config::Secret> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).map(server::config::Secret::new)
}
