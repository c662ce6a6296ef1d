//! The server under test: the real `selo` binary on a temporary data directory, provisioned
//! with the real `selo admin`, observed through `/proc/<pid>`.

use crate::stats;
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `selo serve`, killed when dropped.
pub struct Server {
    selo: PathBuf,
    child: Child,
    /// The temporary data directory (removed when dropped, after the server is killed).
    pub data: tempfile::TempDir,
    /// The sandbox environment's base URL.
    pub url: String,
    /// The audience assertions must name.
    pub audience: String,
}

/// A provisioned tenant: one service account (with its private key) and an API key.
pub struct Tenant {
    /// The account's `iss`.
    pub iss: String,
    /// The account's private key, PEM.
    pub key_pem: Vec<u8>,
    /// The API key secret.
    pub api_key: String,
}

impl Server {
    /// Starts `selo serve --json --listen 127.0.0.1:0 --data <tempdir>` and waits for its
    /// first line, which names the sandbox environment's URL and audience.
    pub fn start(selo: &Path) -> Result<Server> {
        let data = tempfile::tempdir()?;
        let mut child = Command::new(selo)
            .args(["serve", "--json", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", selo.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let Some(line) = lines.next().transpose()? else {
            let _ = child.kill();
            bail!("selo serve exited before printing its environment");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let env: Value = serde_json::from_str(&line).context("serve --json line")?;
        let field = |k: &str| {
            env[k]
                .as_str()
                .map(String::from)
                .context("serve --json field")
        };
        Ok(Server {
            selo: selo.to_path_buf(),
            url: field("publicUrl")?,
            audience: field("audience")?,
            child,
            data,
        })
    }

    /// Runs `selo admin ARGS --json --data DIR` and returns its JSON output.
    pub fn admin(&self, args: &[&str]) -> Result<Value> {
        let out = Command::new(&self.selo)
            .arg("admin")
            .args(args)
            .arg("--json")
            .arg("--data")
            .arg(self.data.path())
            .output()?;
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
        let key = self.data.path().join("bench.pem");
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
            iss: a["iss"].as_str().context("iss")?.into(),
            key_pem: std::fs::read(&key)?,
            api_key: k["apiKey"].as_str().context("apiKey")?.into(),
        })
    }

    /// The server's CPU time so far, seconds.
    pub fn cpu(&self) -> Result<Cpu> {
        process_cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The server's peak resident set size (`VmHWM`), KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        stats::kib_field(&status, "VmHWM").context("VmHWM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
