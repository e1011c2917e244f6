//! Process settings: read once from the environment (and an optional `.env` file), validated,
//! and turned into typed values.
//!
//! Owns: the names of every setting, their defaults, and the error a bad value produces.
//! Must not: print a setting's value in an error (private keys, secrets and database URLs with
//! passwords pass through here), or open sockets and databases — it only parses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use url::Url;

use crate::github::credentials::{AppCredentials, AppKey};

/// Default database: an SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://shipgate.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITHUB_URL: &str = "https://github.com";
pub const DEFAULT_ENV_FILE: &str = ".env";
pub const DEFAULT_RESYNC_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// How long and how much one client may hold of the HTTP intake (README, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    /// `SHIPGATE_HEADER_TIMEOUT` (default 5s): the time a client has to send a request's
    /// headers, counted from when the connection opens or its previous answer was sent, so
    /// also how long a connection may sit idle; and the longest pause inside a body.
    pub header_timeout: std::time::Duration,
    /// `SHIPGATE_BODY_TIMEOUT` (default 30s): the time a whole webhook body has to arrive.
    pub body_timeout: std::time::Duration,
    /// `SHIPGATE_MAX_CONNECTIONS` (default 4096): connections open at once; lowered at start
    /// to fit under the process's descriptor limit.
    pub max_connections: usize,
    /// `SHIPGATE_MAX_CONNECTIONS_PER_CLIENT` (default 512): connections open at once from one
    /// IPv4 address or IPv6 /64. Behind a reverse proxy every client has the proxy's address:
    /// raise this there and let the proxy limit its clients.
    pub max_connections_per_client: usize,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        Self {
            header_timeout: std::time::Duration::from_secs(5),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 512,
        }
    }
}

/// A setting that could not be used. Its `Display` names the setting and the problem, never
/// the value.
#[derive(Debug, thiserror::Error)]
#[error("setting {setting}: {problem}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub problem: String,
}

fn bad(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        setting,
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which database back end a `DATABASE_URL` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// A validated database URL. Kept secret because PostgreSQL URLs carry passwords.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub kind: DatabaseKind,
    pub url: SecretString,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({:?}, [redacted])", self.kind)
    }
}

impl DatabaseUrl {
    pub fn parse(value: &str) -> Result<Self, SettingsError> {
        let kind = if value.starts_with("sqlite:") {
            sqlx::sqlite::SqliteConnectOptions::from_str(value)
                .map_err(|_| bad("DATABASE_URL", "is not a valid sqlite: URL"))?;
            DatabaseKind::Sqlite
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            sqlx::postgres::PgConnectOptions::from_str(value)
                .map_err(|_| bad("DATABASE_URL", "is not a valid postgres:// URL"))?;
            DatabaseKind::Postgres
        } else {
            return Err(bad(
                "DATABASE_URL",
                "must start with sqlite: or postgres:// (e.g. sqlite://shipgate.db)",
            ));
        };
        Ok(Self {
            kind,
            url: SecretString::from(value.to_owned()),
        })
    }
}

/// The body a notification receiver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// Slack's incoming-webhook shape `{"text": …}`, escaped for Slack's mrkdwn (a Slack
    /// webhook, or one behind a relay on another host).
    Slack,
    /// The whole notification as JSON, signed.
    Json,
}

/// Where notifications go.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    pub url: Url,
    /// Signs each body (`X-Shipgate-Signature-256`); required for [`NotifyFormat::Json`].
    pub secret: Option<SecretString>,
    pub format: NotifyFormat,
}

/// Everything shipgate needs to start. `app` is `None` until a GitHub App is configured, in
/// which case shipgate serves the first-run setup page.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseUrl,
    pub bind: SocketAddr,
    /// The URL GitHub and browsers reach shipgate at; defaults to `http://<bind>`.
    pub public_url: Url,
    pub github_api_url: Url,
    /// The GitHub web host, where the App manifest form is posted.
    pub github_url: Url,
    pub app: Option<AppCredentials>,
    /// Where `/setup` writes the App's credentials.
    pub env_file: PathBuf,
    pub log_format: LogFormat,
    /// `SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS`: probe http:// and internal addresses too
    /// (tests, private networks). Off by default (DESIGN.md §7).
    pub allow_private_health_urls: bool,
    /// `SHIPGATE_NOTIFY_URL`, `SHIPGATE_NOTIFY_FORMAT` and `SHIPGATE_NOTIFY_SECRET`: where
    /// notifications go, in which shape, and the key that signs them.
    pub notify: Option<NotifyTarget>,
    /// How long a pipeline waiting on GitHub may hear nothing before shipgate reads its pull
    /// request and reviews again (`SHIPGATE_RESYNC_AFTER`, default 10m).
    pub resync_after: std::time::Duration,
    pub intake: IntakeLimits,
    /// `SHIPGATE_CONTENT_PACING` (default on): space requests that create content on GitHub
    /// per installation, as GitHub's secondary limits ask. Off only for a GitHub without
    /// them (the simulator in benchmarks; some GitHub Enterprise Server setups).
    pub content_pacing: bool,
    /// `SHIPGATE_METRICS_TOKEN`: when set, `/metrics` answers only requests with
    /// `Authorization: Bearer <token>` (otherwise anyone who reaches the port may scrape).
    pub metrics_token: Option<SecretString>,
    /// `SHIPGATE_OIDC_ISSUER`: the issuer of the Actions OIDC tokens `POST /api/v1/evidence`
    /// accepts (default GitHub.com's, `https://token.actions.githubusercontent.com`; GitHub
    /// Enterprise Server: `https://HOST/_services/token`).
    pub oidc_issuer: Url,
    /// `SHIPGATE_OIDC_AUDIENCE`: the `aud` those tokens must carry (default the public URL,
    /// without a trailing slash — what the action asks for by default).
    pub oidc_audience: Option<String>,
}

impl Settings {
    /// Reads the process environment, after loading `SHIPGATE_ENV_FILE` (default `.env`) if it
    /// exists. Variables already set in the environment win over the file.
    pub fn from_env() -> Result<Self, SettingsError> {
        let env_file =
            std::env::var("SHIPGATE_ENV_FILE").unwrap_or_else(|_| DEFAULT_ENV_FILE.into());
        match dotenvy::from_path(&env_file) {
            Ok(()) => {}
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                return Err(bad(
                    "SHIPGATE_ENV_FILE",
                    "the file exists but could not be read as KEY=value lines",
                ));
            }
        }
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Builds settings from any lookup function (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let database = DatabaseUrl::parse(
            &get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
        )?;
        let bind_text = get("SHIPGATE_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let bind = SocketAddr::from_str(&bind_text).map_err(|_| {
            bad(
                "SHIPGATE_BIND",
                "must be an address and port, e.g. 127.0.0.1:3000",
            )
        })?;
        let public_url = match get("SHIPGATE_PUBLIC_URL") {
            Some(v) => parse_http_url("SHIPGATE_PUBLIC_URL", &v)?,
            None => {
                Url::parse(&format!("http://{bind}")).expect("a socket address is a valid host")
            }
        };
        let github_api_url = parse_http_url(
            "GITHUB_API_URL",
            &get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into()),
        )?;
        let github_url = parse_http_url(
            "GITHUB_URL",
            &get("GITHUB_URL").unwrap_or_else(|| DEFAULT_GITHUB_URL.into()),
        )?;
        let log_format = match get("SHIPGATE_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(bad("SHIPGATE_LOG_FORMAT", "must be text or json")),
        };
        let env_file =
            PathBuf::from(get("SHIPGATE_ENV_FILE").unwrap_or_else(|| DEFAULT_ENV_FILE.into()));
        let allow_private_health_urls = match get("SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS").as_deref() {
            None | Some("false") | Some("0") | Some("") => false,
            Some("true") | Some("1") => true,
            Some(_) => {
                return Err(bad(
                    "SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS",
                    "must be true or false",
                ));
            }
        };
        let notify = match get("SHIPGATE_NOTIFY_URL") {
            None => None,
            Some(text) => {
                let url = parse_http_url("SHIPGATE_NOTIFY_URL", &text)?;
                let secret = get("SHIPGATE_NOTIFY_SECRET").map(SecretString::from);
                let format = match get("SHIPGATE_NOTIFY_FORMAT").as_deref() {
                    Some("slack") => NotifyFormat::Slack,
                    Some("json") => NotifyFormat::Json,
                    None if url.host_str() == Some("hooks.slack.com") => NotifyFormat::Slack,
                    None => NotifyFormat::Json,
                    Some(_) => return Err(bad("SHIPGATE_NOTIFY_FORMAT", "must be slack or json")),
                };
                if secret.is_none() && format == NotifyFormat::Json {
                    return Err(bad(
                        "SHIPGATE_NOTIFY_SECRET",
                        "is needed to sign JSON notifications (SHIPGATE_NOTIFY_FORMAT=slack sends Slack's shape, unsigned)",
                    ));
                }
                Some(NotifyTarget {
                    url,
                    secret,
                    format,
                })
            }
        };
        let resync_after = duration(&get, "SHIPGATE_RESYNC_AFTER", DEFAULT_RESYNC_AFTER)?;
        let defaults = IntakeLimits::default();
        let intake = IntakeLimits {
            header_timeout: duration(&get, "SHIPGATE_HEADER_TIMEOUT", defaults.header_timeout)?,
            body_timeout: duration(&get, "SHIPGATE_BODY_TIMEOUT", defaults.body_timeout)?,
            max_connections: count(&get, "SHIPGATE_MAX_CONNECTIONS", defaults.max_connections)?,
            max_connections_per_client: count(
                &get,
                "SHIPGATE_MAX_CONNECTIONS_PER_CLIENT",
                defaults.max_connections_per_client,
            )?,
        };
        let content_pacing = match get("SHIPGATE_CONTENT_PACING").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => return Err(bad("SHIPGATE_CONTENT_PACING", "must be on or off")),
        };
        let oidc_issuer = parse_http_url(
            "SHIPGATE_OIDC_ISSUER",
            &get("SHIPGATE_OIDC_ISSUER")
                .unwrap_or_else(|| crate::github::oidc::GITHUB_ACTIONS_ISSUER.into()),
        )?;
        Ok(Self {
            oidc_issuer,
            oidc_audience: get("SHIPGATE_OIDC_AUDIENCE"),
            metrics_token: get("SHIPGATE_METRICS_TOKEN").map(SecretString::from),
            resync_after,
            intake,
            content_pacing,
            notify,
            database,
            bind,
            public_url,
            github_api_url,
            github_url,
            app: app_credentials(&get)?,
            env_file,
            log_format,
            allow_private_health_urls,
        })
    }
}

/// A duration setting such as `10m`, `1h` or `30s`; more than zero.
fn duration(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    default: std::time::Duration,
) -> Result<std::time::Duration, SettingsError> {
    let Some(text) = get(setting) else {
        return Ok(default);
    };
    crate::pipeline::config::parse_duration(&text)
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| bad(setting, "must be a duration such as 10m, 1h or 30s"))
}

/// A count setting: a whole number, at least 1.
fn count(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    default: usize,
) -> Result<usize, SettingsError> {
    let Some(text) = get(setting) else {
        return Ok(default);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(setting, "must be a whole number, at least 1"))
}

fn parse_http_url(setting: &'static str, value: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(value).map_err(|_| bad(setting, "is not a valid URL"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad(setting, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// The App credentials are all-or-nothing: none set means "not configured yet" (setup mode),
/// some set means a mistake worth stopping for.
fn app_credentials(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AppCredentials>, SettingsError> {
    let app_id = get("GITHUB_APP_ID");
    let key_text = get("GITHUB_PRIVATE_KEY");
    let key_path = get("GITHUB_PRIVATE_KEY_PATH");
    let secret = get("GITHUB_WEBHOOK_SECRET");
    if app_id.is_none() && key_text.is_none() && key_path.is_none() && secret.is_none() {
        return Ok(None);
    }
    let app_id = app_id.ok_or_else(|| {
        bad(
            "GITHUB_APP_ID",
            "is missing (the other GitHub App settings are set)",
        )
    })?;
    let app_id: u64 = app_id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad("GITHUB_APP_ID", "must be the App's numeric ID"))?;
    let (pem, setting) = match (key_text, key_path) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "GITHUB_PRIVATE_KEY",
                "set either GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both",
            ));
        }
        // Keys pasted into a single-line variable usually carry literal `\n`.
        (Some(text), None) => (text.replace("\\n", "\n"), "GITHUB_PRIVATE_KEY"),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                bad(
                    "GITHUB_PRIVATE_KEY_PATH",
                    format!("the file could not be read ({})", e.kind()),
                )
            })?;
            (text, "GITHUB_PRIVATE_KEY_PATH")
        }
        (None, None) => {
            return Err(bad(
                "GITHUB_PRIVATE_KEY",
                "is missing: set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH",
            ));
        }
    };
    let key = AppKey::from_pem(&pem)
        .map_err(|_| bad(setting, "is not an RSA private key in PEM format"))?;
    let secret = secret.ok_or_else(|| {
        bad(
            "GITHUB_WEBHOOK_SECRET",
            "is missing (the other GitHub App settings are set)",
        )
    })?;
    Ok(Some(AppCredentials {
        app_id,
        key,
        webhook_secret: SecretString::from(secret),
        client_id: get("GITHUB_CLIENT_ID"),
        client_secret: get("GITHUB_CLIENT_SECRET").map(SecretString::from),
        slug: get("GITHUB_APP_SLUG"),
    }))
}
