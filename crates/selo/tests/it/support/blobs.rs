//! A test server's stored images, wherever they are: files under the data directory, or, with
//! `SELO_TEST_BLOBS=s3` (or [`super::Opts::s3`]), objects in a fresh bucket of the
//! S3-compatible server `SELO_TEST_S3` names (`.ci/run` starts moto's). Objects are read over
//! plain HTTP from the S3 server itself, not through Selo's own client.

use super::Server;
use std::io::{Read, Write};

/// The prefix test servers keep their images under in their bucket (`s3://BUCKET/PREFIX`).
pub const PREFIX: &str = "selo";

/// The S3-compatible server the tests use (`SELO_TEST_S3`, e.g. `http://127.0.0.1:5070`).
pub fn s3_endpoint() -> Option<String> {
    std::env::var("SELO_TEST_S3").ok().filter(|e| !e.is_empty())
}

/// Whether the suite keeps every server's images in S3 (`SELO_TEST_BLOBS=s3`).
pub fn suite_on_s3() -> bool {
    std::env::var("SELO_TEST_BLOBS").as_deref() == Ok("s3")
}

/// Points a `selo` command at `bucket` on the S3 server `endpoint`, under [`PREFIX`].
pub fn on_bucket(cmd: &mut std::process::Command, endpoint: &str, bucket: &str) {
    cmd.env("SELO_BLOBS", format!("s3://{bucket}/{PREFIX}"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "selo-test")
        .env("AWS_SECRET_ACCESS_KEY", "selo-test");
}

/// A fresh bucket on the S3 server `SELO_TEST_S3` names: (endpoint, bucket).
pub fn new_bucket() -> (String, String) {
    let endpoint = s3_endpoint().expect("SELO_TEST_S3 names the S3 server (.ci/run starts one)");
    let bucket = format!("selo-{}", uuid_like());
    let (status, _) = raw(&endpoint, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "creating bucket {bucket} on {endpoint}");
    (endpoint, bucket)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the raw requests present as credentials: moto checks no signature, but answers an
/// anonymous read of a private object 403.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=selo-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// One plain HTTP/1.1 request to the S3 server: its status and body.
fn raw(endpoint: &str, method: &str, path: &str) -> (u16, Vec<u8>) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("the S3 server");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {AUTHORIZATION}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..head_end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response[head_end + 4..].to_vec();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(&body) } else { body })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 4 + size..];
    }
}

impl Server {
    /// The stored image `key` (`<tenant>/<file>`), if there is one.
    pub fn blob(&self, key: &str) -> Option<Vec<u8>> {
        match &self.s3 {
            None => std::fs::read(self.data.path().join("blobs").join(key)).ok(),
            Some((endpoint, bucket)) => {
                let (status, body) = raw(endpoint, "GET", &format!("/{bucket}/{PREFIX}/{key}"));
                match status {
                    200 => Some(body),
                    404 => None,
                    other => panic!("the S3 server answered {other} for {key}"),
                }
            }
        }
    }

    /// Stores `bytes` as `key` behind the server's back (what a crash leaves).
    pub fn put_blob(&self, key: &str, bytes: &[u8]) {
        match &self.s3 {
            None => {
                let path = self.data.path().join("blobs").join(key);
                std::fs::write(path, bytes).unwrap()
            }
            Some((endpoint, bucket)) => {
                let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
                let mut stream = std::net::TcpStream::connect(host).unwrap();
                write!(
                    stream,
                    "PUT /{bucket}/{PREFIX}/{key} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {AUTHORIZATION}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .unwrap();
                stream.write_all(bytes).unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            }
        }
    }

    /// The keys of a tenant's stored images.
    pub fn blob_keys(&self, tenant_id: &str) -> Vec<String> {
        match &self.s3 {
            None => std::fs::read_dir(self.data.path().join("blobs").join(tenant_id))
                .map(|d| {
                    d.map(|e| format!("{tenant_id}/{}", e.unwrap().file_name().to_string_lossy()))
                        .collect()
                })
                .unwrap_or_default(),
            Some((endpoint, bucket)) => {
                let (status, body) = raw(
                    endpoint,
                    "GET",
                    &format!("/{bucket}?list-type=2&prefix={PREFIX}/{tenant_id}/"),
                );
                assert_eq!(status, 200);
                let xml = String::from_utf8(body).unwrap();
                xml.split("<Key>")
                    .skip(1)
                    .map(|k| {
                        let key = k.split("</Key>").next().unwrap();
                        key.strip_prefix(&format!("{PREFIX}/")).unwrap().to_string()
                    })
                    .collect()
            }
        }
    }
}
