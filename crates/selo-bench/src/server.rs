//! The servers under test as processes observed through `/proc/<pid>`, and the real `selo`
//! binary on a temporary data directory, provisioned with the real `selo admin`.

use crate::stats;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child server process that announces itself with one JSON line on stdout, observed
/// through `/proc/<pid>` and killed when dropped.
pub struct Process {
    child: Child,
    /// The command name of other processes whose CPU counts as this server's (`postgres`: the
    /// database server a selo on PostgreSQL makes work).
    companions: Option<&'static str>,
    /// Other processes whose CPU counts as this server's (the other nodes of one platform).
    peers: Vec<u32>,
}

impl Process {
    /// Spawns `cmd` with stdout piped and waits for its first line, which it returns parsed
    /// as JSON. The rest of stdout is drained so the server never blocks on a full pipe.
    pub fn spawn(cmd: &mut Command) -> Result<(Process, Value)> {
        let what = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        // From here on, dropping `process` kills the child on every early return.
        let process = Process {
            child,
            companions: None,
            peers: Vec::new(),
        };
        let Some(line) = lines.next().transpose()? else {
            bail!("{what} exited before printing its first line");
        };
        std::thread::spawn(move || lines.for_each(drop));
        let first = serde_json::from_str(&line).with_context(|| format!("{what}: first line"))?;
        Ok((process, first))
    }

    /// The process's CPU time so far, seconds, with its peers' and its companions' (every
    /// process of that command name on the machine).
    pub fn cpu(&self) -> Result<Cpu> {
        let mut cpu = process_cpu_seconds(&format!("/proc/{}/stat", self.child.id()))?;
        for peer in &self.peers {
            let more = process_cpu_seconds(&format!("/proc/{peer}/stat"))?;
            cpu.user += more.user;
            cpu.sys += more.sys;
        }
        if let Some(name) = self.companions {
            for entry in std::fs::read_dir("/proc")? {
                let pid = entry?.file_name();
                let Some(pid) = pid
                    .to_str()
                    .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim_end() != name {
                    continue;
                }
                // A process that ended meanwhile counts no more.
                if let Ok(more) = process_cpu_seconds(&format!("/proc/{pid}/stat")) {
                    cpu.user += more.user;
                    cpu.sys += more.sys;
                }
            }
        }
        Ok(cpu)
    }

    /// The process's peak resident set size (`VmHWM`), KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        stats::kib_field(&status, "VmHWM").context("VmHWM")
    }

    /// The process's resident set size now (`VmRSS`), KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        stats::kib_field(&status, "VmRSS").context("VmRSS")
    }

    /// Starts the peak resident set size afresh from the current one (Linux `clear_refs` 5),
    /// so a later [`Process::peak_rss_kib`] is the peak since now.
    pub fn reset_peak_rss(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("resetting the peak RSS (/proc/<pid>/clear_refs)")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `selo serve`, killed when dropped.
pub struct Server {
    selo: PathBuf,
    /// The server process (declared before `data`, so it is killed before `data` is removed).
    pub process: Process,
    /// The temporary data directory (removed when dropped, after the server is killed).
    pub data: tempfile::TempDir,
    /// The database (`--database`), when not the data directory's.
    database: Option<String>,
    /// The sandbox environment's base URL.
    pub url: String,
    /// This process's own address (the public URL may name another node's).
    pub listen_url: String,
    /// The audience assertions must name.
    pub audience: String,
}

/// A provisioned tenant: one service account (with its private key) and an API key.
pub struct Tenant {
    /// The tenant id.
    pub id: String,
    /// The account's `iss`.
    pub iss: String,
    /// The account's private key, PKCS#8 PEM.
    pub key_pem: Vec<u8>,
    /// The API key secret.
    pub api_key: String,
}

impl Tenant {
    /// The account's private key, parsed (once: parsing validates the key, which costs far
    /// more than a signature).
    pub fn private_key(&self) -> Result<aws_lc_rs::rsa::KeyPair> {
        let text = std::str::from_utf8(&self.key_pem).context("private key PEM is not UTF-8")?;
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        aws_lc_rs::rsa::KeyPair::from_pkcs8(&STANDARD.decode(b64)?)
            .map_err(|e| anyhow::anyhow!("not an RSA PKCS#8 private key: {e}"))
    }
}

impl Server {
    /// Starts `selo serve --json --listen 127.0.0.1:0 --data <tempdir>` and waits for its
    /// first line, which names the sandbox environment's URL and audience.
    pub fn start(selo: &Path) -> Result<Server> {
        Server::start_with(selo, &[])
    }

    /// [`Server::start`] on the PostgreSQL database `url`; the PostgreSQL server's processes'
    /// CPU counts as the server's.
    pub fn start_on_postgres(selo: &Path, url: &str) -> Result<Server> {
        let mut server = Server::start_with(
            selo,
            &[
                std::ffi::OsStr::new("--database"),
                std::ffi::OsStr::new(url),
            ],
        )?;
        server.process.companions = Some("postgres");
        server.database = Some(url.to_string());
        Ok(server)
    }

    /// A second node of this server's platform: `selo serve` on the same PostgreSQL database
    /// with a data directory of its own and the same public URL (hence audience), whose CPU
    /// counts as this server's from now on; its own base URL is [`Server::listen_url`].
    pub fn add_node(&mut self) -> Result<Server> {
        let database = self
            .database
            .clone()
            .context("a second node needs a shared database")?;
        let node = Server::start_with(
            &self.selo,
            &[
                std::ffi::OsStr::new("--database"),
                std::ffi::OsStr::new(&database),
                std::ffi::OsStr::new("--public-url"),
                std::ffi::OsStr::new(&self.url),
            ],
        )?;
        self.process.peers.push(node.process.child.id());
        Ok(node)
    }

    /// [`Server::start`] with more `serve` flags.
    pub fn start_with(selo: &Path, flags: &[&std::ffi::OsStr]) -> Result<Server> {
        let data = tempfile::tempdir()?;
        let (process, env) = Process::spawn(
            Command::new(selo)
                .args(["serve", "--json", "--listen", "127.0.0.1:0", "--data"])
                .arg(data.path())
                .args(flags)
                .stderr(Stdio::null()),
        )?;
        let field = |k: &str| {
            env[k]
                .as_str()
                .map(String::from)
                .context("serve --json field")
        };
        Ok(Server {
            selo: selo.to_path_buf(),
            listen_url: format!("http://{}", field("listen")?),
            url: field("publicUrl")?,
            audience: field("audience")?,
            process,
            data,
            database: None,
        })
    }

    /// Runs `selo admin ARGS --json --data DIR` and returns its JSON output.
    pub fn admin(&self, args: &[&str]) -> Result<Value> {
        let mut cmd = Command::new(&self.selo);
        cmd.arg("admin")
            .args(args)
            .arg("--json")
            .arg("--data")
            .arg(self.data.path());
        if let Some(database) = &self.database {
            cmd.env("SELO_DATABASE", database);
        }
        let out = cmd.output()?;
        ensure!(
            out.status.success(),
            "selo admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// A tenant without rate limiting, one account `bench` and an API key.
    pub fn provision(&self) -> Result<Tenant> {
        let t = self.admin(&["tenant", "create", "bench", "--rate-limit", "0"])?;
        let tenant = t["tenantId"].as_str().context("tenantId")?;
        let key = self.data.path().join(format!("{tenant}.pem"));
        let a = self.admin(&[
            "account",
            "create",
            "--tenant",
            tenant,
            "bench",
            "--key-out",
            key.to_str().context("utf-8 path")?,
        ])?;
        let k = self.admin(&[
            "apikey",
            "create",
            "--tenant",
            tenant,
            "--capabilities",
            "identity,liveness,riskscore",
        ])?;
        Ok(Tenant {
            id: tenant.to_string(),
            iss: a["iss"].as_str().context("iss")?.into(),
            key_pem: std::fs::read(&key)?,
            api_key: k["apiKey"].as_str().context("apiKey")?.into(),
        })
    }
}

/// CPU time of a process, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// User time.
    pub user: f64,
    /// System (kernel) time.
    pub sys: f64,
}

impl Cpu {
    /// User + system.
    pub fn total(self) -> f64 {
        self.user + self.sys
    }
}

/// CPU time of the process whose `stat` file is `path` (`/proc/self/stat` for this process).
pub fn process_cpu_seconds(path: &str) -> Result<Cpu> {
    let (user, sys) = stats::cpu_ticks(&std::fs::read_to_string(path)?).context("parse stat")?;
    // SAFETY: sysconf only reads a system constant.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    Ok(Cpu {
        user: user as f64 / hz,
        sys: sys as f64 / hz,
    })
}
