//! A real PostgreSQL for a test: `initdb` and `pg_ctl` in a temporary folder,
//! listening on 127.0.0.1 at a free port, run as an unprivileged user
//! (`nobody` when the tests run as root, as CI does), stopped when dropped.
//! A test that needs it fails with the reason when it cannot start; it is
//! never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// The superuser initdb made (the unprivileged user's name).
    pub user: String,
}

/// Where the server programs are: on PATH, else Debian's
/// /usr/lib/postgresql/<version>/bin (the newest).
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("sh").args(["-c", "command -v pg_ctl"]).output() {
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !found.is_empty() {
            let real = std::fs::canonicalize(&found).unwrap_or_else(|_| PathBuf::from(&found));
            if let Some(dir) = real.parent() {
                return dir.to_path_buf();
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("pg_ctl").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no pg_ctl on PATH or in /usr/lib/postgresql/*/bin): apt-get install postgresql")
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Postgres {
    /// Start a fresh server; panics with the reason if it cannot.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("newsdesk-pg").tempdir().expect("temporary folder");
        let user = if is_root() { "nobody".to_string() } else { whoami() };
        if is_root() {
            chown_nobody(dir.path());
        }
        let data = dir.path().join("data");
        let pg = Postgres { port: super::free_port(), bin, dir, user };
        pg.run("initdb", &["-D", path_str(&data), "-A", "trust", "-U", &pg.user.clone(), "--no-sync", "-E", "UTF8"]);
        pg.restart();
        pg
    }

    /// Run one of the server programs as the server's user; panics with its
    /// output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "PostgreSQL could not start: {program} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// A new, empty database and its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", &self.user, name])
            .output()
            .expect("createdb runs");
        assert!(out.status.success(), "createdb {name}: {}", String::from_utf8_lossy(&out.stderr));
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{db}", self.user, self.port)
    }

    /// Run SQL through psql as the superuser; its output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", &self.user, "-d", db, "-tAc", sql])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stop the server (fast shutdown: clients are disconnected).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run("pg_ctl", &["-D", path_str(&data), "-m", "fast", "-w", "stop"]);
    }

    /// Start the server (again, after [`Postgres::stop`]), on its port.
    pub fn restart(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-k {} -p {} -h 127.0.0.1 -c fsync=off -c max_connections=200",
            path_str(self.dir.path()),
            self.port
        );
        let log = self.dir.path().join("server.log");
        self.run("pg_ctl", &["-D", path_str(&data), "-l", path_str(&log), "-o", &opts, "-w", "-t", "60", "start"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", path_str(&data), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            Command::new("runuser").args(["-u", "nobody", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn chown_nobody(dir: &Path) {
    let ok =
        Command::new("chown").args(["nobody:nogroup", path_str(dir)]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "cannot hand {} to the user nobody", dir.display());
}
