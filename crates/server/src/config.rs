//! Settings: defaults, then an optional `amity.toml`, then `AMITY_*` environment variables, then
//! command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amity_domain::accounts::sessions::SessionSettings;
use amity_domain::friends::FriendLimits;
use amity_domain::presence::PresenceSettings;
use amity_graphql::edge::address::TrustedProxies;
use amity_graphql::edge::rate::RateSettings;
use amity_graphql::edge::{CorsOrigins, EdgeSettings};
use amity_graphql::websocket::WebSocketSettings;
use amity_passwords::HashCost;
use amity_persistence::PoolSettings;
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://amity.db";
/// The default address.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";

/// Every setting of the server and the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where to listen; port 0 picks a free port (the bound address is logged).
    pub listen_addr: SocketAddr,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// Connections in the database pool (`None`: 8 on SQLite, 16 on PostgreSQL).
    pub database_pool_size: Option<u32>,
    /// How long a statement waits for a database connection before the request fails as
    /// UNAVAILABLE, in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// Secret that signs session tokens and cursors. Generated and kept beside a SQLite
    /// database when unset; required with PostgreSQL (all nodes must share it).
    pub jwt_secret: Option<String>,
    /// Lifetime of an access token, in seconds (a client refreshes it with its refresh token).
    pub token_ttl_secs: u64,
    /// How long a session lives past its last sign-in or refresh, in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Most live sessions per user; a sign-in past it ends the least recently used one.
    pub max_sessions_per_user: u32,
    /// Most friends per user.
    pub max_friends: u32,
    /// Most outgoing pending friend requests per user.
    pub max_pending_invites: u32,
    /// Most blocked users per user.
    pub max_blocks: u32,
    /// argon2id memory cost in KiB.
    pub password_hash_memory_kib: u32,
    /// argon2id passes.
    pub password_hash_iterations: u32,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `amity=debug,info`.
    pub log: String,
    /// How log lines are written: `text` for people, `json` (one object a line) for machines.
    pub log_format: LogFormat,
    /// Whether `__schema` and `__type` answer (anonymously): GraphiQL's docs, codegen and
    /// other tools read the schema that way.
    pub introspection: bool,
    /// How often a node renews its presence heartbeat, in milliseconds.
    pub presence_heartbeat_ms: u64,
    /// How old a node's heartbeat may be before its users count as offline, in milliseconds.
    pub presence_ttl_ms: u64,
    /// How long after a user's last connection closes before friends see them offline, in
    /// milliseconds (a reconnection within it is invisible).
    pub presence_offline_grace_ms: u64,
    /// How often websockets are pinged, in milliseconds; a peer silent for two intervals is
    /// dropped.
    pub websocket_keepalive_ms: u64,
    /// How long a websocket may take to send `connection_init`, in milliseconds.
    pub websocket_init_timeout_ms: u64,
    /// The Facebook Graph API base URL (`None`: Facebook's own).
    pub facebook_graph_url: Option<String>,
    /// The Steam Web API base URL (`None`: Steam's own).
    pub steam_api_url: Option<String>,
    /// The Steam publisher Web API key (Steam is off without it).
    pub steam_publisher_key: Option<String>,
    /// The Steam app id tickets are issued for (Steam is off without it).
    pub steam_app_id: Option<u32>,
    /// Timeout of each request to Facebook or Steam, in milliseconds.
    pub import_timeout_ms: u64,
    /// Requests running longer are cancelled, in milliseconds.
    pub request_timeout_ms: u64,
    /// Failed sign-ins per handle and client address per 15 minutes (0: no limit).
    pub rate_signin_failures_per_handle: u32,
    /// Sign-in, sign-up and authenticate attempts per client address per minute (0: no limit).
    pub rate_auth_per_address: u32,
    /// Mutations per signed-in user per second (0: no limit).
    pub rate_mutations_per_user: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated IPs or CIDRs.
    pub trusted_proxies: String,
    /// Web origins whose pages may call the API from a browser: comma-separated
    /// `scheme://host[:port]`, or `*`; empty: same origin only.
    pub cors_allowed_origins: String,
    /// Most open HTTP and websocket connections.
    pub max_connections: u32,
    /// How long a client may take to send a request's headers, in milliseconds (also while a
    /// kept-alive connection waits for its next request).
    pub http_header_timeout_ms: u64,
    /// How long an HTTP connection may move no byte before it is closed, in milliseconds.
    pub http_idle_timeout_ms: u64,
    /// Most live subscriptions per websocket.
    pub websocket_max_subscriptions: u32,
    /// Most websockets per user on this node.
    pub max_connections_per_user: u32,
    /// After SIGTERM or SIGINT, how long requests in flight may take before the process
    /// exits anyway, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Memory for the graph cache (friend lists, profiles, presence), in MiB; 0 turns it off
    /// and every read goes to the database.
    pub cache_memory_mb: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let limits = FriendLimits::default();
        let cost = HashCost::default();
        let presence = PresenceSettings::default();
        let websockets = WebSocketSettings::default();
        let edge = EdgeSettings::default();
        Self {
            listen_addr: DEFAULT_LISTEN_ADDR
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            database_pool_size: None,
            database_acquire_timeout_ms: duration_ms(PoolSettings::default().acquire_timeout),
            jwt_secret: None,
            // One hour: a leaked access token is good for at most that long, and a client
            // refreshes it once an hour at the cost of one small transaction.
            token_ttl_secs: 3600,
            refresh_token_ttl_secs: SessionSettings::default().refresh_ttl.as_secs(),
            max_sessions_per_user: SessionSettings::default().max_per_user,
            max_friends: limits.max_friends,
            max_pending_invites: limits.max_pending_invites,
            max_blocks: limits.max_blocks,
            password_hash_memory_kib: cost.memory_kib,
            password_hash_iterations: cost.iterations,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            introspection: true,
            presence_heartbeat_ms: duration_ms(presence.heartbeat),
            presence_ttl_ms: duration_ms(presence.ttl),
            presence_offline_grace_ms: duration_ms(presence.offline_grace),
            websocket_keepalive_ms: duration_ms(websockets.keepalive),
            websocket_init_timeout_ms: duration_ms(websockets.init_timeout),
            facebook_graph_url: None,
            steam_api_url: None,
            steam_publisher_key: None,
            steam_app_id: None,
            import_timeout_ms: 10_000,
            request_timeout_ms: duration_ms(edge.request_timeout),
            rate_signin_failures_per_handle: edge.rates.signin_failures_per_handle,
            rate_auth_per_address: edge.rates.auth_per_address,
            rate_mutations_per_user: edge.rates.mutations_per_user,
            trusted_proxies: String::new(),
            cors_allowed_origins: String::new(),
            max_connections: u32::try_from(edge.max_connections).unwrap_or(u32::MAX),
            http_header_timeout_ms: duration_ms(edge.header_read_timeout),
            http_idle_timeout_ms: duration_ms(edge.idle_timeout),
            websocket_max_subscriptions: u32::try_from(websockets.max_subscriptions)
                .unwrap_or(u32::MAX),
            max_connections_per_user: u32::try_from(websockets.max_per_user).unwrap_or(u32::MAX),
            shutdown_grace_ms: 10_000,
            cache_memory_mb: amity_cache::DEFAULT_MEMORY_MB,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    Text,
    /// One JSON object per line, with the span's fields (operation, user id) in it.
    Json,
}

/// `" (did you mean X?)"` for the known name closest to `name`, shown by `show`.
fn suggestion(name: &str, known: &[String], show: impl Fn(&str) -> String) -> String {
    known
        .iter()
        .min_by_key(|candidate| strsim::levenshtein(name, candidate))
        .map(|closest| format!(" (did you mean {}?)", show(closest)))
        .unwrap_or_default()
}

/// Environment variables that belong to the test suite and CI, not to the server.
const FOREIGN_PREFIXES: [&str; 2] = ["test_", "ci_"];

/// Whether a variable (its name without `AMITY_`, any case) is the test suite's or CI's.
fn is_foreign(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    FOREIGN_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Settings given as command-line flags (only those set override).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<String>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--jwt-secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
}

impl Settings {
    /// Loads settings from `config_file` (default `amity.toml`, optional), the environment and
    /// the flags. A key of the file or an `AMITY_*` variable that names no setting is refused
    /// with the closest one that does (`AMITY_TEST_*` and `AMITY_CI_*` are left to the test
    /// suite and CI), and every value is checked, before anything is opened.
    pub fn load(config_file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let file = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("amity.toml"));
        if config_file.is_some() && !file.exists() {
            bail!("the configuration file {} does not exist", file.display());
        }
        let known = Settings::names();
        if file.exists() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let table: toml::Table = text
                .parse()
                .with_context(|| format!("{} is not valid TOML", file.display()))?;
            for key in table.keys() {
                if !known.iter().any(|k| k == key.as_str()) {
                    bail!(
                        "{}: unknown setting `{key}`{}",
                        file.display(),
                        suggestion(key, &known, |name| format!("`{name}`"))
                    );
                }
            }
        }
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let Some(key) = name.strip_prefix("AMITY_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if is_foreign(&key) {
                continue;
            }
            if !known.iter().any(|k| k == key.as_str()) {
                bail!(
                    "unknown environment variable {name}{}",
                    suggestion(&key, &known, |name| format!(
                        "AMITY_{}",
                        name.to_ascii_uppercase()
                    ))
                );
            }
        }
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("AMITY_").filter(|key| !is_foreign(key.as_str())))
            .merge(Serialized::defaults(flags))
            .extract()
            .context("invalid settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// The name of every setting (as `amity.toml` keys; `AMITY_` and upper case in the
    /// environment), read off the fields of [`Settings`].
    pub fn names() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        tracing_subscriber::EnvFilter::try_new(&self.log).map_err(|e| {
            anyhow::anyhow!(
                "AMITY_LOG \"{}\" is not a log filter ({e}); write e.g. info, warn or \
                 amity=debug,info",
                self.log
            )
        })?;
        amity_persistence::Database::backend_of(&self.database_url)?;
        if self.token_ttl_secs == 0 {
            bail!("token_ttl_secs must be at least 1");
        }
        if self.refresh_token_ttl_secs == 0 || self.refresh_token_ttl_secs > 10 * 365 * 86_400 {
            bail!("refresh_token_ttl_secs must be between 1 and 315360000 (ten years)");
        }
        if !(1..=10_000).contains(&self.max_sessions_per_user) {
            bail!("max_sessions_per_user must be between 1 and 10000");
        }
        if let Some(size) = self.database_pool_size
            && !(1..=1000).contains(&size)
        {
            bail!("database_pool_size must be between 1 and 1000, not {size}");
        }
        for (name, value) in [
            ("presence_heartbeat_ms", self.presence_heartbeat_ms),
            ("presence_ttl_ms", self.presence_ttl_ms),
            ("websocket_keepalive_ms", self.websocket_keepalive_ms),
            ("websocket_init_timeout_ms", self.websocket_init_timeout_ms),
            ("import_timeout_ms", self.import_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "database_acquire_timeout_ms",
                self.database_acquire_timeout_ms,
            ),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
            ("http_header_timeout_ms", self.http_header_timeout_ms),
            ("http_idle_timeout_ms", self.http_idle_timeout_ms),
            ("max_connections", u64::from(self.max_connections)),
            (
                "websocket_max_subscriptions",
                u64::from(self.websocket_max_subscriptions),
            ),
            (
                "max_connections_per_user",
                u64::from(self.max_connections_per_user),
            ),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.presence_ttl_ms <= self.presence_heartbeat_ms {
            bail!(
                "presence_ttl_ms ({}) must be longer than presence_heartbeat_ms ({}), or live \
                 nodes would look dead",
                self.presence_ttl_ms,
                self.presence_heartbeat_ms
            );
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < 32
        {
            bail!("AMITY_JWT_SECRET must be at least 32 characters long");
        }
        if self.http_idle_timeout_ms <= self.request_timeout_ms {
            bail!(
                "http_idle_timeout_ms ({}) must be longer than request_timeout_ms ({}), or a \
                 request still running would lose its connection",
                self.http_idle_timeout_ms,
                self.request_timeout_ms
            );
        }
        self.trusted_proxies()?;
        self.cors()?;
        Ok(())
    }

    /// The web origins allowed to call the API from a browser.
    pub fn cors(&self) -> anyhow::Result<CorsOrigins> {
        self.cors_allowed_origins
            .parse()
            .map_err(|e| anyhow::anyhow!("cors_allowed_origins: {e}"))
    }

    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> anyhow::Result<TrustedProxies> {
        self.trusted_proxies
            .parse()
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))
    }

    /// The public edge's limits.
    pub fn edge(&self) -> anyhow::Result<EdgeSettings> {
        Ok(EdgeSettings {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            rates: RateSettings {
                signin_failures_per_handle: self.rate_signin_failures_per_handle,
                auth_per_address: self.rate_auth_per_address,
                mutations_per_user: self.rate_mutations_per_user,
            },
            trusted_proxies: self.trusted_proxies()?,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_millis(self.http_header_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            cors: self.cors()?,
        })
    }

    /// The database pool.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            size: self.database_pool_size,
            acquire_timeout: Duration::from_millis(self.database_acquire_timeout_ms),
        }
    }

    /// How long a stopping server waits for requests in flight.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The friend limits.
    pub fn limits(&self) -> FriendLimits {
        FriendLimits {
            max_friends: self.max_friends,
            max_pending_invites: self.max_pending_invites,
            max_blocks: self.max_blocks,
        }
    }

    /// The password hashing cost.
    pub fn hash_cost(&self) -> HashCost {
        HashCost {
            memory_kib: self.password_hash_memory_kib,
            iterations: self.password_hash_iterations,
        }
    }

    /// Presence timings.
    pub fn presence(&self) -> PresenceSettings {
        PresenceSettings {
            heartbeat: Duration::from_millis(self.presence_heartbeat_ms),
            ttl: Duration::from_millis(self.presence_ttl_ms),
            offline_grace: Duration::from_millis(self.presence_offline_grace_ms),
        }
    }

    /// Websocket timings.
    pub fn websockets(&self) -> WebSocketSettings {
        WebSocketSettings {
            keepalive: Duration::from_millis(self.websocket_keepalive_ms),
            init_timeout: Duration::from_millis(self.websocket_init_timeout_ms),
            max_subscriptions: usize::try_from(self.websocket_max_subscriptions)
                .unwrap_or(usize::MAX),
            max_per_user: usize::try_from(self.max_connections_per_user).unwrap_or(usize::MAX),
        }
    }

    /// The Facebook and Steam clients' settings.
    pub fn importers(&self) -> amity_importers::ImporterSettings {
        amity_importers::ImporterSettings {
            facebook_graph_url: self.facebook_graph_url.clone(),
            steam_api_url: self.steam_api_url.clone(),
            steam_publisher_key: self.steam_publisher_key.clone(),
            steam_app_id: self.steam_app_id,
            timeout: Duration::from_millis(self.import_timeout_ms),
            ..amity_importers::ImporterSettings::default()
        }
    }

    /// The graph cache's budget.
    pub fn cache(&self) -> amity_cache::CacheSettings {
        amity_cache::CacheSettings::megabytes(self.cache_memory_mb)
    }

    /// Access-token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// How sessions behave.
    pub fn sessions(&self) -> SessionSettings {
        SessionSettings {
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
            max_per_user: self.max_sessions_per_user,
        }
    }

    /// The path of the SQLite file, if the database is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
    }

    /// The token secret: the configured one, or for SQLite one generated once and kept in a
    /// file beside the database (`<database>.jwt-secret`, readable by the owner only).
    pub fn resolve_secret(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.as_bytes().to_vec());
        }
        let Some(db_path) = self.sqlite_path() else {
            bail!(
                "set AMITY_JWT_SECRET (at least 32 characters): with PostgreSQL every node must \
                 share the same secret, so none is generated"
            );
        };
        let mut file = db_path.into_os_string();
        file.push(".jwt-secret");
        let file = PathBuf::from(file);
        if file.exists() {
            let secret = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let secret = secret.trim();
            if secret.len() < 32 {
                bail!(
                    "{} holds a secret shorter than 32 characters",
                    file.display()
                );
            }
            return Ok(secret.as_bytes().to_vec());
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&file, &secret).with_context(|| format!("writing {}", file.display()))?;
        tracing::info!(file = %file.display(), "generated a token secret");
        Ok(secret.into_bytes())
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let s = Settings::default();
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sqlite_path(), Some(PathBuf::from("amity.db")));
    }

    #[test]
    fn unknown_names_get_the_closest_known_one() {
        let known = Settings::names();
        assert!(known.iter().any(|n| n == "listen_addr"));
        assert!(known.iter().any(|n| n == "log_format"));
        assert!(known.iter().any(|n| n == "database_pool_size"));
        assert_eq!(
            suggestion("listen_adr", &known, |n| n.to_owned()),
            " (did you mean listen_addr?)"
        );
        assert_eq!(
            suggestion("max_frends", &known, |n| n.to_owned()),
            " (did you mean max_friends?)"
        );
        assert!(is_foreign("TEST_DATABASE_URL") && is_foreign("ci_proptest_cases"));
        assert!(!is_foreign("log"));
    }

    #[test]
    fn log_filters_are_checked() {
        let s = Settings {
            log: "amity=loud".to_owned(),
            ..Settings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("AMITY_LOG"));
    }

    #[test]
    fn pool_sizes_are_checked() {
        let mut s = Settings {
            database_pool_size: Some(0),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        s.database_pool_size = Some(4);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn edge_settings_are_checked() {
        let s = Settings::default();
        let edge = s.edge().unwrap();
        assert_eq!(edge.request_timeout, Duration::from_secs(10));
        assert_eq!(edge.rates.auth_per_address, 30);
        assert!(edge.trusted_proxies.is_empty());
        let proxies = Settings {
            trusted_proxies: "10.0.0.0/8, ::1".into(),
            ..Settings::default()
        };
        assert!(proxies.validate().is_ok());
        assert!(!proxies.edge().unwrap().trusted_proxies.is_empty());
        let bad = Settings {
            trusted_proxies: "10.0.0.0/8, the-proxy".into(),
            ..Settings::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("the-proxy")
        );
        let idle_first = Settings {
            http_idle_timeout_ms: 5_000,
            ..Settings::default()
        };
        assert!(idle_first.validate().is_err());
        for zeroed in [
            Settings {
                request_timeout_ms: 0,
                ..Settings::default()
            },
            Settings {
                max_connections: 0,
                ..Settings::default()
            },
            Settings {
                database_acquire_timeout_ms: 0,
                ..Settings::default()
            },
        ] {
            assert!(zeroed.validate().is_err());
        }
        // 0 turns a rate limit off and is allowed.
        let off = Settings {
            rate_auth_per_address: 0,
            ..Settings::default()
        };
        assert!(off.validate().is_ok());
    }

    #[test]
    fn sqlite_paths() {
        let mut s = Settings {
            database_url: "sqlite:///var/lib/amity/a.db?mode=rwc".into(),
            ..Settings::default()
        };
        assert_eq!(s.sqlite_path(), Some(PathBuf::from("/var/lib/amity/a.db")));
        s.database_url = "postgres://x@y/z".into();
        assert_eq!(s.sqlite_path(), None);
        assert!(s.resolve_secret().is_err());
    }

    #[test]
    fn secret_is_generated_once_and_kept() {
        let dir = tempfile_dir();
        let s = Settings {
            database_url: format!("sqlite://{}/x.db", dir.display()),
            ..Settings::default()
        };
        let first = s.resolve_secret().unwrap();
        let second = s.resolve_secret().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("amity-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
