//! Settings given as text (a `FACEGATE_*` variable, a `--set KEY=VALUE` flag) laid over the file, from the one
//! declaration: [`ServerConfig`]'s own fields. A key is a field's name; its text is read as the field's default
//! says (an integer, a number, `true`/`false`, a comma-separated list, else text), then the whole is
//! deserialised and checked once, as the file is.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{ConfigError, ServerConfig};

/// The keys whose values are secrets: never taken from a flag (other users of the machine see flags), never
/// printed. A test checks the list against the fields that deserialise into [`super::Secret`].
pub const SECRET_KEYS: [&str; 5] =
    ["admin_key", "aws_secret_access_key", "s3_secret_access_key", "s3_session_token", "token_secret"];

/// The prefix of the environment variables that set settings: `FACEGATE_` + the key in upper case.
pub const ENV_PREFIX: &str = "FACEGATE_";

/// Where a setting's text came from, to name it in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable (its name).
    Env(String),
    /// A flag (its name: `--set`, `--listen`, ...).
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Env(name) => f.write_str(name),
            Origin::Flag(name) => f.write_str(name),
        }
    }
}

/// One setting given as text.
#[derive(Debug, Clone)]
pub struct TextSetting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Captures a struct's field names from its `Deserialize` implementation (which stops there).
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field names only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("field names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

impl ServerConfig {
    /// Every setting's key (the file's key), in declaration order.
    pub fn keys() -> &'static [&'static str] {
        let mut names = FieldNames(None);
        let _ = ServerConfig::deserialize(&mut names);
        names.0.unwrap_or(&[])
    }

    /// The environment variable of `key`.
    pub fn env_name(key: &str) -> String {
        format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
    }

    /// The settings of the file at `path` (none: the defaults), with `texts` laid over them in order.
    pub fn layered(path: Option<&std::path::Path>, texts: &[TextSetting]) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
                // Parsed whole first, so that a bad file is reported as the file's error.
                toml::from_str::<ServerConfig>(&text)
                    .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })?
            }
            None => toml::Table::new(),
        };
        let defaults = toml::Table::try_from(ServerConfig::default())
            .map_err(|e| ConfigError::Parse { path: "defaults".into(), message: e.to_string() })?;
        for setting in texts {
            let value = typed(&setting.key, &setting.value, defaults.get(&setting.key))
                .map_err(|message| ConfigError::Text { origin: setting.origin.to_string(), message })?;
            // Checked alone, so that an error names where the text came from.
            let mut alone = toml::Table::new();
            alone.insert(setting.key.clone(), value.clone());
            alone.try_into::<ServerConfig>().map_err(|e| ConfigError::Text {
                origin: setting.origin.to_string(),
                message: format!("{}: {}", setting.key, e.message()),
            })?;
            table.insert(setting.key.clone(), value);
        }
        table.try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: "the settings".into(),
            message: e.message().to_string(),
        })
    }

    /// The keys closest to `unknown` (for "did you mean").
    pub fn close_keys(unknown: &str) -> Vec<&'static str> {
        let unknown = unknown.to_ascii_lowercase();
        let mut scored: Vec<(f64, &'static str)> = Self::keys()
            .iter()
            .map(|k| (strsim::jaro_winkler(&unknown, k), *k))
            .filter(|(score, _)| *score > 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(3).map(|(_, k)| k).collect()
    }
}

/// `text` as the value of `key`, of the kind its default has (no default: text).
fn typed(key: &str, text: &str, default: Option<&toml::Value>) -> Result<toml::Value, String> {
    let text = text.trim();
    Ok(match default {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(text.parse().map_err(|_| format!("{key}: {text:?} is not a whole number"))?)
        }
        Some(toml::Value::Float(_)) => {
            toml::Value::Float(text.parse().map_err(|_| format!("{key}: {text:?} is not a number"))?)
        }
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match text {
            "true" => true,
            "false" => false,
            _ => return Err(format!("{key}: {text:?} is neither true nor false")),
        }),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(key: &str, value: &str) -> TextSetting {
        TextSetting { key: key.into(), value: value.into(), origin: Origin::Env(ServerConfig::env_name(key)) }
    }

    /// Every key takes a text: each field set from a variable to a value other than its default comes out so.
    #[test]
    fn every_key_is_settable_as_text() {
        let keys = ServerConfig::keys();
        assert_eq!(keys.len(), toml::Table::try_from(full()).map(|t| t.len()).unwrap_or(0));
        assert!(keys.contains(&"passive_threshold") && keys.contains(&"open_routes"));
        let defaults = ServerConfig::default();
        let texts: Vec<TextSetting> = keys.iter().map(|k| text(k, &other_value(k))).collect();
        let c = ServerConfig::layered(None, &texts).unwrap();
        let (set, default) = (toml::Table::try_from(&c).unwrap(), toml::Table::try_from(&defaults).unwrap());
        for k in keys {
            if SECRET_KEYS.contains(k) {
                assert!(set.get(*k).is_some(), "{k} set");
            } else {
                assert_ne!(set.get(*k), default.get(*k), "{k} unchanged");
            }
        }
        assert_eq!(
            c.open_routes,
            vec![super::super::OpenRoute::FaceLogin, super::super::OpenRoute::NoseChallengeStart]
        );
        assert_eq!(c.admin_key.as_ref().map(super::super::Secret::expose), Some("admin-key-from-a-variable"));
    }

    /// A config with every optional field set (so that every key serialises).
    fn full() -> ServerConfig {
        let texts: Vec<TextSetting> = ServerConfig::keys().iter().map(|k| text(k, &other_value(k))).collect();
        ServerConfig::layered(None, &texts).unwrap()
    }

    fn other_value(key: &str) -> String {
        match key {
            "listen" => "0.0.0.0:9000",
            "tls_cert" => "/srv/tls/cert.pem",
            "tls_key" => "/srv/tls/key.pem",
            "data_dir" => "/srv/facegate",
            "database" => "postgres://facegate@db/facegate",
            "models_dir" => "/srv/models",
            "model" => "mobilefacenet",
            "backend" => "tract",
            "blob_store" => "s3://faces/prod",
            "s3_endpoint" => "https://s3.example.com",
            "s3_region" => "eu-west-1",
            "aws_regions" => "eu-west-1, eu-central-1",
            "s3_caller_buckets" => "inputs, liveness-out",
            "aws_liveness_challenges" => "blink,smile",
            "liveness_stream_oval" => "0.3,0.1,0.4,0.7",
            "liveness_stream_colours" => "ffffff,ff0000,00ff00,0000ff",
            "open_routes" => "face_login,nose_challenge_start",
            "cors_origins" => "https://app.example.com",
            "client_ip_header" => "x-forwarded-for",
            "token_algorithm" => "HS256",
            "token_issuer" | "token_audience" | "s3_access_key_id" | "aws_access_key_id" => "someone",
            "admin_key" => "admin-key-from-a-variable",
            k if SECRET_KEYS.contains(&k) => "a-secret-of-thirty-two-bytes-or-more",
            k => {
                let default = toml::Table::try_from(ServerConfig::default()).unwrap();
                return match default.get(k) {
                    Some(toml::Value::Integer(i)) => (i + 7).to_string(),
                    Some(toml::Value::Float(f)) => (f * 0.5 + 0.01).to_string(),
                    Some(toml::Value::Boolean(b)) => (!b).to_string(),
                    other => panic!("no other value for {k}: {other:?}"),
                };
            }
        }
        .to_string()
    }

    #[test]
    fn secret_keys_are_the_secret_fields() {
        let c = full();
        let printed = toml::Table::try_from(&c).unwrap();
        let mut redacted: Vec<&str> = ServerConfig::keys()
            .iter()
            .copied()
            .filter(|k| printed.get(*k).and_then(toml::Value::as_str) == Some("<redacted>"))
            .collect();
        redacted.sort_unstable();
        assert_eq!(redacted, SECRET_KEYS.to_vec());
    }

    #[test]
    fn bad_text_is_named_with_its_origin() {
        for (key, value, says) in [
            ("queue", "many", "queue: \"many\" is not a whole number"),
            ("passive_threshold", "high", "is not a number"),
            ("liveness_privacy", "yes", "neither true nor false"),
            ("open_routes", "facelock_delete", "facelock_delete"),
            ("listen", "nowhere", "listen"),
        ] {
            match ServerConfig::layered(None, &[text(key, value)]) {
                Err(ConfigError::Text { origin, message }) => {
                    assert_eq!(origin, ServerConfig::env_name(key));
                    assert!(message.contains(says), "{message}");
                }
                other => panic!("{key}={value}: {other:?}"),
            }
        }
        assert_eq!(ServerConfig::close_keys("passive_treshold"), vec!["passive_threshold"]);
        assert!(ServerConfig::close_keys("zzz").is_empty());
    }

    #[test]
    fn text_lies_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facegate.toml");
        std::fs::write(&path, "queue = 5\nmatch_threshold = 70.0\n").unwrap();
        let c = ServerConfig::layered(Some(&path), &[text("queue", "9")]).unwrap();
        assert_eq!((c.queue, c.match_threshold), (9, 70.0));
        std::fs::write(&path, "queue = \"x\"\n").unwrap();
        assert!(matches!(ServerConfig::layered(Some(&path), &[]), Err(ConfigError::Parse { .. })));
    }
}
