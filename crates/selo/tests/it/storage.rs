//! A full disk (CONTRACT §14, §19): writes are refused with 507 naming the full storage,
//! `/readyz` answers 503 while they are, reads and acknowledged data survive, and writes work
//! again once space is freed, without a restart. Runs on a size-limited tmpfs, which needs
//! root: elsewhere it prints SKIPPED (and fails under `CI=true`, where CI runs as root).

use crate::support::receiver::Receiver;
use crate::support::{Opts, Server};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size` mounted on `dir` until dropped (then the folder is removed).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str, test: &str) -> Option<Tmpfs> {
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            crate::support::skipped(test, "mounting a tmpfs needs root, which CI has");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fills the file system of `dir` with `dir/filler` until a write fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test]
async fn a_full_disk_is_507_and_readyz_503_and_writes_resume_when_space_is_freed() {
    let test = "a_full_disk_is_507_and_readyz_503_and_writes_resume_when_space_is_freed";
    if crate::support::suite_on_postgres() && crate::support::blobs::suite_on_s3() {
        println!("NOT APPLICABLE {test}: nothing is written to the data directory's disk");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount(data.path(), "12m", test) else {
        return;
    };
    let path = data.path().to_path_buf();
    let s = Server::start_in(data, Opts::default());
    let t = s.tenant();
    let token = s.token(&t).await;
    let kept = s.api_process(&t, &token, "00000000191").await;

    fill(&path);
    let res = s
        .http
        .post(s.url("/processes/v1"))
        .header("authorization", format!("Bearer {token}"))
        .header("apikey", &t.api_key)
        .header("idempotency-key", "full-1")
        .json(&serde_json::json!({"subject": {"code": "00000000191", "name": "Maria Silva"}, "imageBase64": crate::support::images::selfie()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 507);
    assert_eq!(
        res.headers()["should-retry"],
        "true",
        "a keyed create may be retried"
    );
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "50701", "{v}");
    assert!(
        v["error"]["description"]
            .as_str()
            .unwrap()
            .contains("storage is full"),
        "{v}"
    );
    // A small write that still fits (a token's replay record, say) does not make the storage
    // look healthy again.
    let _ = s
        .exchange("sandbox", &t.assertion(&s.sandbox().audience))
        .await;
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(
        ready["reason"].as_str().unwrap().contains("full"),
        "{ready}"
    );
    // Reads still work, and what was acknowledged is there.
    let read = s.get_process(&t, &token, &kept["id"]).await;
    assert_eq!(read.status(), 200);

    // Space freed: the same server takes writes again, and /readyz says so.
    std::fs::remove_file(path.join("filler")).unwrap();
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let created = s.api_process(&t, &token, "00000000191").await;
    assert_eq!(created["status"], 3, "{created}");
}

/// A write refused for space outside any request (here the webhook worker recording a failed
/// delivery) also makes `/readyz` answer 503, until space is freed.
#[tokio::test]
async fn a_full_disk_met_by_the_webhook_worker_makes_readyz_503() {
    let test = "a_full_disk_met_by_the_webhook_worker_makes_readyz_503";
    let data = tempfile::tempdir().unwrap();
    if crate::support::suite_on_postgres() {
        println!("NOT APPLICABLE {test}: the webhook worker writes to PostgreSQL, not the disk");
        return;
    }
    let Some(_mount) = Tmpfs::mount(data.path(), "12m", test) else {
        return;
    };
    let path = data.path().to_path_buf();
    let s = Server::start_in(
        data,
        Opts {
            manual_clock: true,
            ..Opts::default()
        },
    );
    let r = Receiver::start().await;
    r.script(&[(500, Duration::ZERO), (500, Duration::ZERO)]);
    let t = s.tenant();
    s.admin(&[
        "webhook",
        "set",
        "--tenant",
        &t.id,
        "--url",
        &r.url,
        "--retry-interval",
        "10",
    ]);
    let token = s.token(&t).await;
    let id = s.api_process(&t, &token, "00000000191").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.delivery_when(&t, &id, |e| {
        e["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;

    fill(&path);
    s.advance(10).await;
    // The worker's claim of the retry is refused (so no delivery goes out that could not be
    // recorded); no request wrote meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.http.get(s.url("/readyz")).send().await.unwrap().status() != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never said the storage is full"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::remove_file(path.join("filler")).unwrap();
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
