//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` in a temporary folder, on a
//! free port of 127.0.0.1, as an unprivileged user when the tests run as root. Dropping the
//! guard stops the server (`pg_ctl stop -m immediate`) and removes the folder. A server that
//! cannot start panics: tests that need one fail, never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running test server; stopped and deleted on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
}

/// The folder holding `initdb`, `pg_ctl` and `createdb`: the one on `PATH` (links
/// followed), else the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // `initdb` may be a link into the real folder, which also holds `createdb`.
            if let Ok(real) = dir.join("initdb").canonicalize() {
                if let Some(bin) = real.parent().filter(|b| b.join("pg_ctl").is_file()) {
                    return Some(bin.to_path_buf());
                }
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The unprivileged user to run the server as when we are root: `postgres` if it exists,
/// else `mlprov-test` (created with `useradd` if missing).
fn server_user() -> String {
    let exists = |u: &str| {
        Command::new("id")
            .arg("-u")
            .arg(u)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if exists("postgres") {
        return "postgres".to_string();
    }
    if !exists("mlprov-test") {
        let status = Command::new(system_tool("useradd"))
            .args(["--system", "--no-create-home", "mlprov-test"])
            .status();
        // Another test may have created it meanwhile; only the final check counts.
        let _ = status;
        assert!(
            exists("mlprov-test"),
            "cannot create the unprivileged user mlprov-test for the PostgreSQL test server"
        );
    }
    "mlprov-test".to_string()
}

/// A system tool by name, also found in the sbin folders a minimal `PATH` leaves out.
fn system_tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1 for PostgreSQL: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

impl PgServer {
    /// Starts a server (panics, with the server's log, when it cannot).
    pub fn start() -> PgServer {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl) are not installed: not on PATH, \
                 not in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
            )
        });
        let user = is_root().then(server_user);
        // The server's user must reach the folder: under /tmp, whatever TMPDIR says.
        let dir = if user.is_some() {
            tempfile::Builder::new()
                .prefix("mlprov-pg")
                .tempdir_in("/tmp")
                .unwrap_or_else(|e| panic!("cannot create a folder in /tmp: {e}"))
        } else {
            crate::tempdir()
        };
        if let Some(u) = &user {
            let status = Command::new("chown")
                .arg(u)
                .arg(dir.path())
                .status()
                .unwrap_or_else(|e| panic!("chown: {e}"));
            assert!(
                status.success(),
                "cannot give {} to {u}",
                dir.path().display()
            );
        }
        let mut server = PgServer {
            dir,
            bin,
            user,
            port: 0,
        };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "mlprov",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let log = server.dir.path().join("server.log");
        let mut last = String::new();
        for _ in 0..3 {
            server.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
                server.port,
                path_str(server.dir.path())
            );
            let out = server.command(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &options,
                    "start",
                ],
            );
            if out.status.success() {
                return server;
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("the PostgreSQL test server did not start:\n{last}");
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of a database on the server.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://mlprov@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, db: &str) -> String {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "mlprov", db],
        );
        self.url_of(db)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn try_command(&self, tool: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new(system_tool("runuser"));
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // The server's user cannot enter root's working directory.
        cmd.args(args).current_dir(self.dir.path());
        cmd.output()
    }

    fn command(&self, tool: &str, args: &[&str]) -> std::process::Output {
        self.try_command(tool, args)
            .unwrap_or_else(|e| panic!("cannot run {tool} (in {}): {e}", self.bin.display()))
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", p.display()))
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "immediate", "stop"],
        );
        // The TempDir removes the folder after this.
    }
}
