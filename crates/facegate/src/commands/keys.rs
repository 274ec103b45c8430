//! `facegate keys`: API keys managed directly in the service's store (the same store `serve` uses), for the
//! first key of a deployment and for scripts — through the same use cases as the admin API, printed in its
//! vocabulary.

use anyhow::{Context, Result};
use app::usecases::keys::{self, NewKey};
use server::routes::keys::{ApiKeyDto, AwsCredentials, CreatedKey};
use store::Store;

use crate::cli::{CommonArgs, KeysCommand, StoreArgs};
use crate::commands::print_json;
use crate::settings::server_config;

fn open(common: &CommonArgs, args: &StoreArgs) -> Result<(tokio::runtime::Runtime, Store)> {
    let config = server_config(common, args, None)?;
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store = runtime.block_on(Store::open(&config.database_url(), 2)).context("opening the store")?;
    Ok((runtime, store))
}

pub fn run(common: &CommonArgs, command: &KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            store,
            name,
            scopes,
            collections,
            buckets,
            expires_in_days,
            rate,
            burst,
            monthly_quota,
            json,
        } => {
            let (runtime, store) = open(common, store)?;
            let name = store::text::normalize(name).map_err(|e| anyhow::anyhow!("the key name {e}"))?;
            let new = NewKey {
                name: name.clone().into_owned(),
                scopes: keys::parse_scopes(scopes).map_err(|e| anyhow::anyhow!(e.message))?,
                collections: (!collections.is_empty()).then(|| collections.clone()),
                buckets: (!buckets.is_empty()).then(|| buckets.clone()),
                expires_in_seconds: expires_in_days.map(|d| d.saturating_mul(86_400)),
                rate_per_second: *rate,
                burst: *burst,
                monthly_quota: *monthly_quota,
            };
            let created = runtime.block_on(keys::create(&store, new)).map_err(|e| anyhow::anyhow!(e.message));
            runtime.block_on(store.close());
            let created = CreatedKey::from(created?);
            if *json {
                return print_json(&created);
            }
            println!("{}", created.key);
            eprintln!("key id {} ({}): store the key above now, it is not shown again", created.info.key_id, name);
            Ok(())
        }
        KeysCommand::List { store, json } => {
            let (runtime, store) = open(common, store)?;
            let listed = runtime.block_on(keys::list(&store)).map_err(|e| anyhow::anyhow!(e.message));
            let keys: Vec<ApiKeyDto> = listed?.into_iter().map(Into::into).collect();
            runtime.block_on(store.close());
            if *json {
                return print_json(&keys);
            }
            println!("{:<12}  {:<8}  {:<24}  {:<40}  collections", "key id", "state", "name", "scopes");
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.active {
                    "active"
                } else {
                    "expired"
                };
                let collections = k.collections.map_or_else(|| "all".to_string(), |c| c.join(","));
                println!("{:<12}  {state:<8}  {:<24}  {:<40}  {collections}", k.key_id, k.name, k.scopes.join(","));
            }
            Ok(())
        }
        KeysCommand::Revoke { store, key_id } => {
            let (runtime, store) = open(common, store)?;
            let revoked = runtime.block_on(keys::revoke(&store, key_id));
            runtime.block_on(store.close());
            revoked.map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("revoked {key_id}");
            Ok(())
        }
        KeysCommand::AwsCredentials { store, key_id, json } => {
            let (runtime, store) = open(common, store)?;
            let pair =
                runtime.block_on(keys::issue_aws_credentials(&store, key_id)).map_err(|e| anyhow::anyhow!(e.message));
            runtime.block_on(store.close());
            let pair = AwsCredentials::from(pair?);
            if *json {
                return print_json(&pair);
            }
            println!("aws_access_key_id = {}", pair.access_key_id);
            println!("aws_secret_access_key = {}", pair.secret_access_key);
            eprintln!("for key {key_id}: store the secret now, it is not shown again");
            Ok(())
        }
    }
}
