//! Every setting of the portal, from command-line flags or environment variables (a `.env`
//! file is read in development). `.env.example` documents each one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection URL. When unset, the portal runs its own private PostgreSQL
    /// cluster under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where the embedded PostgreSQL cluster keeps its data (used when DATABASE_URL is unset).
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Maximum number of database connections of this process.
    #[arg(long, env = "PORTAL_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// How long a request waits for a free database connection before answering 503.
    #[arg(long, env = "PORTAL_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3)]
    pub db_acquire_timeout_secs: u64,

    /// Upper bound on any one SQL statement.
    #[arg(long, env = "PORTAL_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 15)]
    pub db_statement_timeout_secs: u64,

    /// How long a statement waits for a lock (a row or table another transaction holds)
    /// before it gives up and the request answers 503; 0: as long as the statement timeout.
    #[arg(long, env = "PORTAL_DB_LOCK_TIMEOUT_SECS", default_value_t = 5)]
    pub db_lock_timeout_secs: u64,

    /// PostgreSQL's `plan_cache_mode` for the portal's connections. The portal's
    /// statements are prepared once per connection; with `force_generic_plan` they are
    /// planned once, not on every execution (measured at 2,000 schools: the start page,
    /// the audit log, join requests and the operator's list 20–65% faster; see
    /// docs/operations.md). `auto` is PostgreSQL's default.
    #[arg(long, env = "PORTAL_DB_PLAN_CACHE_MODE", default_value = "force_generic_plan",
          value_parser = ["auto", "force_generic_plan", "force_custom_plan"])]
    pub db_plan_cache_mode: String,
}

/// Settings of the web server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "PORTAL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The address people use to reach the portal (used in links the portal prints).
    /// Defaults to http://PORTAL_ADDR.
    #[arg(long, env = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub web: WebConfig,
}

/// Settings the web application itself reads (also built by tests).
#[derive(Debug, Clone, Args)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` and give it the `__Host-` prefix. Turn on whenever
    /// the portal is served over https.
    #[arg(long, env = "PORTAL_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// A session ends after this many minutes without a request.
    #[arg(long, env = "PORTAL_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u64,

    /// A session ends this many hours after login, however active.
    #[arg(long, env = "PORTAL_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: u64,

    /// Requests taking longer than this are answered 503.
    #[arg(long, env = "PORTAL_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Largest accepted request body, in kilobytes. 6 MB: an import file may be up to 5 MB
    /// (src/imports), and a file somewhat over that should reach the import page and get
    /// its own Russian message rather than a bare 413.
    #[arg(long, env = "PORTAL_BODY_LIMIT_KB", default_value_t = 6144)]
    pub body_limit_kb: usize,

    /// Login attempts allowed from one IP address per minute before 429.
    #[arg(long, env = "PORTAL_LOGIN_PER_IP_PER_MINUTE", default_value_t = 30)]
    pub login_per_ip_per_minute: i32,

    /// Take the client's address from X-Forwarded-For and keep the proxy's X-Request-Id
    /// (only behind a trusted proxy; else the portal generates every request id).
    #[arg(long, env = "PORTAL_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// Concurrent password hashes (each takes ~19 MiB and a core for a moment).
    #[arg(long, env = "PORTAL_HASH_CONCURRENCY", default_value_t = 2)]
    pub hash_concurrency: usize,

    /// After SIGTERM, seconds during which /readyz answers 503 before the server stops
    /// accepting connections (lets a load balancer move traffic away).
    #[arg(long, env = "PORTAL_SHUTDOWN_GRACE_SECS", default_value_t = 0)]
    pub shutdown_grace_secs: u64,

    /// Requests to `/join/...` allowed from one IP address per minute before 429.
    #[arg(long, env = "PORTAL_JOIN_PER_IP_PER_MINUTE", default_value_t = 30)]
    pub join_per_ip_per_minute: i32,

    /// Invite links (or slip sheets) one person may create per minute before 429.
    #[arg(long, env = "PORTAL_INVITES_PER_MINUTE", default_value_t = 20)]
    pub invites_per_minute: i32,

    /// A live link unused for this many days counts as stale (start-page warning).
    #[arg(long, env = "PORTAL_STALE_INVITE_DAYS", default_value_t = 30)]
    pub stale_invite_days: i32,

    /// Seconds between runs of the janitor (SECURITY.md 40).
    #[arg(long, env = "PORTAL_JANITOR_INTERVAL_SECS", default_value_t = 3600)]
    pub janitor_interval_secs: u64,

    /// Days after leaving a school after which the janitor removes a membership (and the
    /// account, when it belongs to no other school) (R4.3).
    #[arg(long, env = "PORTAL_LEFT_RETENTION_DAYS", default_value_t = 1095)]
    pub left_retention_days: i32,

    /// While the database is known to be down, how long (milliseconds) a request waits for
    /// a connection before answering 503, instead of the whole acquire timeout.
    #[arg(long, env = "PORTAL_DB_DOWN_ACQUIRE_TIMEOUT_MS", default_value_t = 500)]
    pub db_down_acquire_timeout_ms: u64,

    #[command(flatten)]
    pub smtp: SmtpConfig,

    #[command(flatten)]
    pub help: HelpConfig,

    #[command(flatten)]
    pub connector: ConnectorConfig,
}

/// The SMTP server the portal sends its e-mail through (invites, outcomes of join
/// requests). Without a host, messages wait in the outbox.
#[derive(Debug, Clone, Args)]
pub struct SmtpConfig {
    /// SMTP server host name; unset: no e-mail is sent (messages stay queued).
    #[arg(long, env = "PORTAL_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (587 for STARTTLS submission).
    #[arg(long, env = "PORTAL_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,

    /// Login at the SMTP server, if it wants one.
    #[arg(long, env = "PORTAL_SMTP_USER")]
    pub smtp_user: Option<String>,

    /// Password at the SMTP server.
    #[arg(long, env = "PORTAL_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Require STARTTLS (turn off only for a server on this machine).
    #[arg(long, env = "PORTAL_SMTP_STARTTLS", default_value_t = true, action = clap::ArgAction::Set)]
    pub smtp_starttls: bool,

    /// The sender address of the portal's e-mail.
    #[arg(
        long,
        env = "PORTAL_SMTP_FROM",
        default_value = "Школьный портал <portal@localhost>"
    )]
    pub smtp_from: String,

    /// Seconds between passes of the background sender.
    #[arg(long, env = "PORTAL_MAIL_INTERVAL_SECS", default_value_t = 15)]
    pub mail_interval_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_user: None,
            smtp_password: None,
            smtp_starttls: true,
            smtp_from: "Школьный портал <portal@localhost>".to_owned(),
            mail_interval_secs: 15,
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            request_timeout_secs: 30,
            body_limit_kb: 6144,
            login_per_ip_per_minute: 30,
            trust_proxy: false,
            hash_concurrency: 2,
            shutdown_grace_secs: 0,
            join_per_ip_per_minute: 30,
            invites_per_minute: 20,
            stale_invite_days: 30,
            janitor_interval_secs: 3600,
            left_retention_days: 1095,
            db_down_acquire_timeout_ms: 500,
            smtp: SmtpConfig::default(),
            help: HelpConfig::default(),
            connector: ConnectorConfig::default(),
        }
    }
}

impl WebConfig {
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_minutes * 60)
    }
    pub fn session_absolute(&self) -> Duration {
        Duration::from_secs(self.session_absolute_hours * 3600)
    }
    /// The session cookie's name: `__Host-` prefixed when served over https.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-portal_session"
        } else {
            "portal_session"
        }
    }
}

/// Helping people (issue 13): password recovery, the platform's support and registration
/// addresses (R2.1.a, R2.1.p, R3.2).
#[derive(Debug, Clone, Args)]
pub struct HelpConfig {
    /// Password-recovery requests allowed from one IP address per minute before 429.
    #[arg(long, env = "PORTAL_RESET_PER_IP_PER_MINUTE", default_value_t = 5)]
    pub reset_per_ip_per_minute: i32,

    /// Minutes a password-recovery link stays valid.
    #[arg(long, env = "PORTAL_RESET_LINK_MINUTES", default_value_t = 30)]
    pub reset_link_minutes: i64,

    /// The platform's technical support address, shown in every page's footer and used by
    /// support requests (the regulation names the vendor's address).
    #[arg(long, env = "PORTAL_SUPPORT_EMAIL", default_value = "info@sferum.ru")]
    pub support_email: String,

    /// Where the school's registration application goes (R2.1.a).
    #[arg(
        long,
        env = "PORTAL_REGISTRATION_EMAIL",
        default_value = "info@sferum.ru"
    )]
    pub registration_email: String,
}

impl Default for HelpConfig {
    fn default() -> Self {
        Self {
            reset_per_ip_per_minute: 5,
            reset_link_minutes: 30,
            support_email: "info@sferum.ru".to_owned(),
            registration_email: "info@sferum.ru".to_owned(),
        }
    }
}

/// The platform connector (issue 15): optional, per school, off by default.
#[derive(Clone, Args)]
pub struct ConnectorConfig {
    /// The key the schools' bot tokens are encrypted with: 32 random bytes in base64
    /// (`openssl rand -base64 32`). Unset: no school can set up a bot.
    #[arg(long, env = "PORTAL_CONNECTOR_KEY", hide_env_values = true)]
    pub connector_key: Option<String>,

    /// Seconds between passes of the connector's worker (stored updates, due checks of
    /// the webhook subscriptions).
    #[arg(long, env = "PORTAL_CONNECTOR_INTERVAL_SECS", default_value_t = 5)]
    pub connector_interval_secs: u64,
}

impl std::fmt::Debug for ConnectorConfig {
    /// Never prints the key (SECURITY.md: no secret in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorConfig")
            .field(
                "connector_key",
                &self.connector_key.as_ref().map(|_| "«скрыт»"),
            )
            .field("connector_interval_secs", &self.connector_interval_secs)
            .finish()
    }
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            connector_key: None,
            connector_interval_secs: 5,
        }
    }
}
