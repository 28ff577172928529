//! A throwaway PostgreSQL cluster on 127.0.0.1 in a temporary directory, for tests and
//! benchmarks. Stopped and removed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The variable through which tests find the server.
pub const URL_VAR: &str = "ENGAGE_TEST_PG_URL";

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_user: Option<String>,
}

impl Cluster {
    /// Starts a cluster tuned for tests (`fsync` off).
    pub fn start() -> Result<Cluster> {
        Cluster::start_with(&[
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
    }

    /// Starts a cluster with PostgreSQL's default durability, for benchmarks.
    pub fn start_durable() -> Result<Cluster> {
        Cluster::start_with(&[])
    }

    fn start_with(settings: &[&str]) -> Result<Cluster> {
        let bin = find_bin_dir().context("no `initdb`/`pg_ctl` found (Debian package `postgresql`)")?;
        // PostgreSQL refuses to run as root: use the `postgres` account when we are root.
        let as_user = is_root().then(|| "postgres".to_owned());
        let dir = std::env::temp_dir().join(format!("engage-pg-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        if let Some(user) = &as_user {
            crate::run(Command::new("chown").arg(user).arg(&dir))?;
        }
        let port = free_port()?;
        let cluster = Cluster { dir, port, bin, as_user };
        let data = cluster.dir.join("data");
        let log = cluster.dir.join("log");
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )?;
        let mut options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", cluster.dir.display());
        for pair in settings.chunks(2) {
            options.push_str(&format!(" {} {}", pair[0], pair[1]));
        }
        cluster.pg(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-o", &options, "-l", &log.to_string_lossy(), "-w", "start"],
        )?;
        eprintln!("PostgreSQL cluster running at {}", cluster.url());
        Ok(cluster)
    }

    /// URL of the cluster's maintenance database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg(&self, program: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(program);
        let mut cmd = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(args).stdout(std::process::Stdio::null());
        crate::run(&mut cmd)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.pg("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, or Debian's `/usr/lib/postgresql/N/bin`.
fn find_bin_dir() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.sort();
    match versions.into_iter().rev().find(|d| d.join("initdb").is_file()) {
        Some(dir) => Ok(dir),
        None => bail!("initdb not found on PATH nor under /usr/lib/postgresql"),
    }
}
