//! Rendering of one run: plain text for a terminal, or a Markdown section for BENCHMARKS.md.

use crate::ceilings::Ceilings;
use crate::stats;
use crate::workloads::Measured;
use std::fmt::Write as _;

/// Everything one run measured, plus what is needed to reproduce it.
pub struct Report {
    /// The command line, as typed.
    pub command: String,
    /// Date and time (UTC).
    pub date: String,
    /// Logical CPUs.
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal`, GiB.
    pub mem_gib: f64,
    /// Concurrent client tasks.
    pub connections: usize,
    /// Seconds per workload.
    pub duration_s: f64,
    /// Selfie JPEG size and create body size, bytes.
    pub selfie_bytes: (usize, usize),
    /// In-process ceilings.
    pub ceilings: Ceilings,
    /// token, create, get against selo.
    pub workloads: Vec<Measured>,
    /// token, create, get against the bare routes.
    pub bare: Vec<Measured>,
    /// token against the bare route that also does CONTRACT §2's mandatory work.
    pub contract_token: Measured,
}

/// This machine's CPU model and memory, from `/proc`.
pub fn machine() -> (String, f64) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown".into(), |(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = stats::kib_field(&meminfo, "MemTotal").unwrap_or(0) as f64 / 1024.0 / 1024.0;
    (model, mem)
}

/// A table as aligned text or as Markdown.
fn table(out: &mut String, md: bool, head: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        if md {
            format!("| {} |\n", padded.join(" | "))
        } else {
            format!("  {}\n", padded.join("  ").trim_end())
        }
    };
    out.push_str(&line(head.to_vec()));
    if md {
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(rule.iter().map(String::as_str).collect()));
    }
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out.push('\n');
}

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

/// The workload called `name`.
fn find<'a>(workloads: &'a [Measured], name: &str) -> &'a Measured {
    workloads.iter().find(|w| w.name == name).expect("workload")
}

/// One table of workloads, then its exhausted runs and non-2xx responses.
fn workloads_table(o: &mut String, md: bool, workloads: &[Measured]) {
    let rows: Vec<Vec<String>> = workloads
        .iter()
        .map(|w| {
            let l = w.latency();
            let secs = w.outcome.elapsed.as_secs_f64();
            vec![
                w.name.to_string(),
                w.outcome.requests().to_string(),
                format!("{:.0}", w.outcome.per_sec()),
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us),
                w.outcome.failed().to_string(),
                format!("{:.1}", w.server_us_per_req()),
                format!("{:.0} %", 100.0 * w.server_sys_s / w.server_cpu_s.max(1e-9)),
                format!("{:.0}", 1e6 / w.server_us_per_req()),
                format!("{:.2}", w.server_cpu_s / secs),
                format!("{:.2}", w.client_cpu_s / secs),
                format!("{:.1}", w.peak_rss_kib as f64 / 1024.0),
            ]
        })
        .collect();
    table(
        o,
        md,
        &[
            "workload",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "non-2xx",
            "server CPU µs/req",
            "of which kernel",
            "req/s per server core",
            "server cores busy",
            "client cores busy",
            "server VmHWM MiB",
        ],
        &rows,
    );
    for w in workloads {
        if w.outcome.exhausted {
            let _ = writeln!(
                o,
                "Note: {} ran out of prepared requests after {:.1} s.\n",
                w.name,
                w.outcome.elapsed.as_secs_f64()
            );
        }
        for (kind, (n, sample)) in &w.outcome.failures {
            let _ = writeln!(o, "Non-2xx in {}: {n} × {kind}, e.g. `{sample}`\n", w.name);
        }
    }
    if workloads.iter().all(|w| w.outcome.failed() == 0) {
        let _ = writeln!(o, "Non-2xx responses: 0 in every workload.\n");
    }
}

/// One row of the goals table: what is compared, selo's figure (shown with `decimals`), the
/// reference it is divided by (shown as `shown`), and the target for the quotient.
fn goal(
    what: &str,
    (selo, decimals): (f64, usize),
    reference: f64,
    shown: String,
    target: f64,
) -> Vec<String> {
    let ratio = selo / reference;
    vec![
        what.into(),
        format!("{selo:.decimals$}"),
        shown,
        format!("{ratio:.2}×"),
        format!("≤ {target}×"),
        if ratio <= target { "yes" } else { "no" }.into(),
    ]
}

impl Report {
    /// The report as text (`md = false`) or as a Markdown section (`md = true`).
    pub fn render(&self, md: bool) -> String {
        let mut o = String::new();
        let (h, em) = if md { ("### ", "**") } else { ("", "") };
        let _ = writeln!(o, "{h}selo-bench, {}\n", self.date);
        let _ = writeln!(
            o,
            "{em}Machine:{em} {} logical CPUs ({}), {:.1} GiB RAM. {em}Command:{em} `{}`.",
            self.cores, self.cpu_model, self.mem_gib, self.command
        );
        let _ = writeln!(
            o,
            "Loopback HTTP/1.1 keep-alive, {} client tasks, {} s per workload after a 1 s warm-up. \
             {em}The client shares the {} cores with the server{em}, so rates are lower bounds; \
             server CPU per request (from /proc/<pid>/stat) is the figure to compare. Selfie: \
             640×480 JPEG of {} KiB, create body {} KiB.\n",
            self.connections,
            self.duration_s,
            self.cores,
            self.selfie_bytes.0 / 1024,
            self.selfie_bytes.1 / 1024
        );

        let _ = writeln!(o, "{h}Workloads (real selo binary over loopback)\n");
        workloads_table(&mut o, md, &self.workloads);
        let _ = writeln!(
            o,
            "{h}Bare routes (same run and client; minimal axum server doing only the essential work)\n"
        );
        workloads_table(&mut o, md, &self.bare);
        let _ = writeln!(
            o,
            "{h}Bare token route doing the contract's work too (same run; replay record \
             committed to SQLite, Ed25519-signed JWT access token)\n"
        );
        workloads_table(&mut o, md, std::slice::from_ref(&self.contract_token));
        o.push_str(&self.goals(md, h));

        let _ = writeln!(
            o,
            "{h}Ceilings (same run, in-process loops, one thread, server not running)\n"
        );
        let rows: Vec<Vec<String>> = self
            .ceilings
            .all()
            .iter()
            .map(|c| {
                vec![
                    c.name.to_string(),
                    format!("{:.0}", c.per_sec),
                    format!("{:.1}", c.us()),
                ]
            })
            .collect();
        table(
            &mut o,
            md,
            &["operation", "ops/s on one core", "µs/op"],
            &rows,
        );

        let c = &self.ceilings;
        let (token, create, get) = (
            find(&self.workloads, "token"),
            find(&self.workloads, "create"),
            find(&self.workloads, "get"),
        );
        let x = |a: f64, b: f64| format!("{:.2}×", a / b);
        let pct = |a: f64, b: f64| match 100.0 * a / b {
            p if p < 10.0 => format!("{p:.1} %"),
            p => format!("{p:.0} %"),
        };
        let floor = c.rs256_verify.us() + c.ed25519_sign.us();
        let rows = vec![
            vec![
                "token: server CPU/req ÷ one RS256 verify".into(),
                x(token.server_us_per_req(), c.rs256_verify.us()),
            ],
            vec![
                "token: (RS256 verify + Ed25519 sign) as a share of server CPU/req".into(),
                pct(floor, token.server_us_per_req()),
            ],
            vec![
                "token: req/s ÷ RS256 verifies/s on one core".into(),
                pct(token.outcome.per_sec(), c.rs256_verify.per_sec),
            ],
            vec![
                "create: server CPU/req ÷ one image check (full decode)".into(),
                x(create.server_us_per_req(), c.image_check.us()),
            ],
            vec![
                "create: req/s ÷ SQLite commits/s".into(),
                pct(create.outcome.per_sec(), c.sqlite_commit.per_sec),
            ],
            vec![
                "create: req/s ÷ selfie write+fsync/s".into(),
                pct(create.outcome.per_sec(), c.selfie_fsync.per_sec),
            ],
            vec![
                "get: server CPU/req ÷ one Ed25519 verify (bearer check)".into(),
                x(get.server_us_per_req(), c.ed25519_verify.us()),
            ],
        ];
        let _ = writeln!(o, "{h}Ratios to the in-process ceilings\n");
        table(&mut o, md, &["comparison", "value"], &rows);
        o
    }

    /// The goals of perf-limits.md §6 and §7: selo against the bare routes of the same run (the
    /// token route against the bare route doing the contract's work, §7), and the peak RSS
    /// against 128 MiB.
    fn goals(&self, md: bool, h: &str) -> String {
        let selo = |name| find(&self.workloads, name);
        let bare = |name| find(&self.bare, name);
        let cpu = |name, target| {
            let (s, b) = (
                selo(name).server_us_per_req(),
                bare(name).server_us_per_req(),
            );
            goal(
                &format!("{name}: server CPU µs/req"),
                (s, 1),
                b,
                format!("{b:.1}"),
                target,
            )
        };
        let p99 = |name| {
            let ms = |w: &Measured| f64::from(w.latency().p99_us) / 1000.0;
            let (s, b) = (ms(selo(name)), ms(bare(name)));
            goal(
                &format!("{name}: p99 ms"),
                (s, 2),
                b,
                format!("{b:.2}"),
                2.0,
            )
        };
        let create = bare("create").server_us_per_req();
        let peak = self
            .workloads
            .iter()
            .map(|w| w.peak_rss_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0;
        let (token, contract_token) = (
            selo("token").server_us_per_req(),
            self.contract_token.server_us_per_req(),
        );
        let rows = vec![
            goal(
                "token: server CPU µs/req (the bare route doing the contract's work, §7)",
                (token, 1),
                contract_token,
                format!("{contract_token:.1}"),
                1.15,
            ),
            cpu("get", 1.5),
            goal(
                "create: server CPU µs/req (the bare route decodes the image once)",
                (selo("create").server_us_per_req(), 1),
                create,
                format!("{create:.1}"),
                1.2,
            ),
            p99("token"),
            p99("create"),
            p99("get"),
            goal(
                "server peak RSS (VmHWM) MiB",
                (peak, 1),
                128.0,
                "128 (absolute)".into(),
                1.0,
            ),
        ];
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{h}Goals (perf-limits.md §6, token §7: selo ÷ the reference route of the same run)\n"
        );
        table(
            &mut o,
            md,
            &["goal", "selo", "reference", "ratio", "target", "met"],
            &rows,
        );
        let bare_token = bare("token").server_us_per_req();
        let minimal = vec![
            "token: server CPU µs/req ÷ the bare route without the contract's work".into(),
            format!("{token:.1}"),
            format!("{bare_token:.1}"),
            format!("{:.2}×", token / bare_token),
        ];
        let _ = writeln!(
            o,
            "{h}Against the bare token route (§6's old reference, not a goal)\n"
        );
        table(
            &mut o,
            md,
            &["comparison", "selo", "reference", "ratio"],
            &[minimal],
        );
        o
    }
}
