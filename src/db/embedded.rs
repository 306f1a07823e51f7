//! The embedded default database: a private PostgreSQL cluster under the portal's data
//! directory, made with the PostgreSQL server binaries found on `PATH` or under
//! `/usr/lib/postgresql/*/bin`. `initdb` runs on first start; the server is started with
//! the portal and stopped on shutdown. The test suite uses the same code.
//!
//! PostgreSQL refuses to run as root, so when the portal runs as root the cluster is
//! created and run as the unprivileged `postgres` account.
//!
//! The server listens on 127.0.0.1 only, on a port chosen at start, with password
//! authentication; the password is generated at `initdb` and kept in the data directory
//! (mode 0600).
//!
//! Several portal processes may share one data directory (issue 9, item 5): each holds a
//! shared lock on `.cluster.users` while it uses the cluster, and [`Cluster::stop`] stops
//! the server only when it can take that lock exclusively, that is when no other process
//! uses it; otherwise the server is left running for the others. Starting and stopping are
//! serialised by `.cluster.lock`. A process that dies loses its lock with it, so the next
//! one to stop is not held back by it.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, anyhow, bail};
use fs4::fs_std::FileExt;
use rand::RngCore;

/// A running private cluster.
#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<(u32, u32)>,
    password: String,
    port: u16,
    /// `.cluster.users`, shared-locked while this user of the cluster lives; taken out
    /// (and unlocked) by [`Cluster::stop`].
    share: Mutex<Option<fs::File>>,
}

const SUPERUSER: &str = "postgres";

impl Cluster {
    /// Starts (or joins, if already running) the cluster under `data_dir`, creating it on
    /// first use. Blocking: call from `spawn_blocking`.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let run_as = unprivileged_user_if_root()?;

        // One process at a time creates, starts or stops the cluster.
        let lock_file = exclusive_lock(&data_dir)?;
        // This process uses the cluster until it stops (or dies).
        let share = open_lock_file(&data_dir.join(USERS_FILE))?;
        FileExt::lock_shared(&share).context("locking the cluster users file")?;

        let pgdata = data_dir.join("pg");
        let password_file = data_dir.join("pg-password");
        if !pgdata.join("PG_VERSION").exists() {
            init_cluster(&bin_dir, &pgdata, &password_file, run_as)?;
        }
        let password = fs::read_to_string(&password_file)
            .with_context(|| format!("reading {}", password_file.display()))?
            .trim()
            .to_owned();

        let mut cluster = Cluster {
            bin_dir,
            data_dir,
            pgdata,
            run_as,
            password,
            port: 0,
            share: Mutex::new(Some(share)),
        };
        match cluster.running_port() {
            Some(port) => cluster.port = port,
            None => {
                cluster.port = free_port()?;
                cluster.pg_ctl_start()?;
            }
        }
        drop(lock_file);
        Ok(cluster)
    }

    /// The URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Creates database `db` unless it exists.
    pub async fn ensure_database(&self, db: &str) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .context("connecting to the embedded PostgreSQL")?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(db)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            // The name is ours, not user input; identifiers cannot be bound.
            sqlx::query(&format!("create database \"{db}\""))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// This user leaves the cluster: the server is stopped if no other portal process
    /// uses it, else left running for them. A second call does nothing. Blocking.
    pub fn stop(&self) -> anyhow::Result<()> {
        let Some(share) = self.share.lock().map_err(|_| anyhow!("poisoned"))?.take() else {
            return Ok(());
        };
        let _serialised = exclusive_lock(&self.data_dir)?;
        let last = FileExt::try_lock_exclusive(&share).context("checking for other users")?;
        if !last {
            tracing::info!(
                "the embedded PostgreSQL is used by another portal process: left running"
            );
            return Ok(());
        }
        let stopped = if self.running_port().is_some() {
            self.stop_server()
        } else {
            Ok(())
        };
        // Unlocked before `.cluster.lock` is released, so a process starting next can
        // take its shared lock.
        FileExt::unlock(&share).context("unlocking the cluster users file")?;
        stopped
    }

    /// Whether the server on this data directory is running (whoever started it).
    pub fn is_running(&self) -> bool {
        self.running_port().is_some()
    }

    /// Stops the server whoever started it (tests use this to take the database away).
    pub fn stop_server(&self) -> anyhow::Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.pgdata)
            .args(["-m", "fast", "-w"])
            .status()
            .context("running pg_ctl stop")?;
        if !status.success() {
            bail!("pg_ctl stop failed with {status}");
        }
        Ok(())
    }

    /// Starts the server again on the same port (after [`Cluster::stop_server`]).
    pub fn start_server(&self) -> anyhow::Result<()> {
        self.pg_ctl_start()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        // Messages in English whatever the machine's locale, so logs read the same.
        cmd.env("LC_MESSAGES", "C");
        cmd
    }

    /// The port of a server already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let status = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.pgdata)
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid: line 4 is the port.
        let pid_file = fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let output = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.pgdata)
            .arg("-l")
            .arg(self.pgdata.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .output()
            .context("running pg_ctl start")?;
        if !output.status.success() {
            let log = fs::read_to_string(self.pgdata.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            bail!(
                "the embedded PostgreSQL did not start: {}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }
}

fn init_cluster(
    bin_dir: &Path,
    pgdata: &Path,
    password_file: &Path,
    run_as: Option<(u32, u32)>,
) -> anyhow::Result<()> {
    // A half-made directory from an interrupted initdb is removed and made again.
    if pgdata.exists() {
        fs::remove_dir_all(pgdata).context("removing a half-initialised cluster")?;
    }
    fs::create_dir_all(pgdata)?;
    fs::set_permissions(pgdata, fs::Permissions::from_mode(0o700))?;

    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(password_file)?;
        f.write_all(password.as_bytes())?;
    }
    if let Some((uid, gid)) = run_as {
        chown(pgdata, Some(uid), Some(gid)).context("handing the data directory to postgres")?;
        chown(password_file, Some(uid), Some(gid))?;
    }

    let mut cmd = Command::new(bin_dir.join("initdb"));
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    let output = cmd
        .arg("-D")
        .arg(pgdata)
        .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8"])
        .args(["--auth=scram-sha-256"])
        .arg(format!("--pwfile={}", password_file.display()))
        .env("LC_MESSAGES", "C")
        .output()
        .context("running initdb")?;
    if !output.status.success() {
        let hint = if run_as.is_some() {
            "\nhint: as root, the cluster runs as the `postgres` user, who must be able to \
             reach the data directory (set PORTAL_DATA_DIR to a path it can reach)"
        } else {
            ""
        };
        bail!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stderr),
            hint
        );
    }
    let mut conf = fs::OpenOptions::new()
        .append(true)
        .open(pgdata.join("postgresql.conf"))?;
    writeln!(
        conf,
        "\n# school-portal: private cluster\nlisten_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\nmax_connections = 300\nfsync = on\n"
    )?;
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if let Ok(real) = initdb.canonicalize()
                && let Some(real_dir) = real.parent()
                && has_all(real_dir)
            {
                return Ok(real_dir.to_path_buf());
            }
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, dir)| dir).ok_or_else(|| {
        anyhow!(
            "no PostgreSQL server binaries found (initdb, pg_ctl, postgres on PATH or under \
             /usr/lib/postgresql/*/bin): install them (Debian: apt-get install postgresql) \
             or set DATABASE_URL"
        )
    })
}

fn unprivileged_user_if_root() -> anyhow::Result<Option<(u32, u32)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name(SUPERUSER)
        .context("looking up the postgres user")?
        .ok_or_else(|| {
            anyhow!(
                "running as root, the embedded PostgreSQL needs an unprivileged `postgres` \
                 account to run as; create it or set DATABASE_URL"
            )
        })?;
    Ok(Some((user.uid.as_raw(), user.gid.as_raw())))
}

const USERS_FILE: &str = ".cluster.users";

fn open_lock_file(path: &Path) -> anyhow::Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// `.cluster.lock`, exclusively locked: held while creating, starting or stopping.
fn exclusive_lock(data_dir: &Path) -> anyhow::Result<fs::File> {
    let file = open_lock_file(&data_dir.join(".cluster.lock"))?;
    FileExt::lock_exclusive(&file).context("locking the cluster lock file")?;
    Ok(file)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
