//! CONTRACT §17 through the real binary: the local engines decide production's processes (and a
//! sandbox tenant's that opts in), on real face photos — the demo photos of
//! `@vladmandic/face-api` (`SELO_TEST_FACES`) with the models `selo models install` wrote
//! (`SELO_MODELS`, which the server inherits). Without them these tests print SKIPPED, and fail
//! under `CI=true`. Without models at all, what needs the engines answers 503 `50302`.

use crate::support::images;
use crate::support::{Opts, Server, Tenant, skipped};
use selo_engine::pixels::Rgb;
use selo_engine::testkit::{Photos, jpeg, map_pixels};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Person codes (valid CPFs outside the §8 table).
pub(crate) const ANA: &str = "52998224725";
const BRUNO: &str = "11144477735";
const CARLA: &str = "39053344705";

/// The demo photos, or `None` (SKIPPED) without the models and the photos.
pub(crate) fn photos(test: &str) -> Option<Photos> {
    let models = std::env::var_os("SELO_MODELS");
    let faces = std::env::var_os("SELO_TEST_FACES").map(PathBuf::from);
    match (models, faces) {
        (Some(_), Some(faces)) => Some(Photos::load(&faces)),
        _ => {
            skipped(
                test,
                "set SELO_MODELS (selo models install) and SELO_TEST_FACES (the demo photos of @vladmandic/face-api)",
            );
            None
        }
    }
}

fn b64(img: &Rgb) -> String {
    images::b64(&jpeg(img, 92))
}

/// The test people: Ana's face (photo 1, face 2), Ana's face in another light, and Bruno's
/// (photo 6, face 1).
pub(crate) struct People {
    pub photos: Photos,
    pub ana: Rgb,
    pub ana_darker: Rgb,
    pub bruno: Rgb,
}

/// The test people, or `None` (SKIPPED) without the models and the photos.
pub(crate) fn people(test: &str) -> Option<People> {
    let photos = photos(test)?;
    let ana = photos.selfie(0, 1);
    Some(People {
        ana_darker: map_pixels(&ana, |p| p.map(|c| c * 0.7)),
        bruno: photos.selfie(5, 0),
        ana,
        photos,
    })
}

/// A caller of the API contract on `tenant`'s environment.
struct Api<'a> {
    s: &'a Server,
    base: String,
    token: String,
    api_key: String,
}

impl<'a> Api<'a> {
    async fn new(s: &'a Server, t: &Tenant, api_key: &str) -> Api<'a> {
        Api {
            s,
            base: s.env(&t.env).url.clone(),
            token: s.token(t).await,
            api_key: api_key.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req
            .header("authorization", format!("Bearer {}", self.token))
            .header("apikey", &self.api_key)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.s.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.s.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// An onboarding create: the process (200) or the failure.
    async fn onboard(&self, code: &str, face: &Rgb) -> (u16, Value) {
        self.post(
            "/processes/v1",
            &json!({"subject": {"code": code, "name": "Maria Silva"}, "imageBase64": b64(face)}),
        )
        .await
    }

    /// A magic link for `external_id`: its token.
    async fn magic_link(&self, external_id: &str) -> String {
        let link: Value = self
            .s
            .http
            .post(format!("{}/v2/magic-link", self.base))
            .header("x-api-key", &self.api_key)
            .json(&json!({"external_id": external_id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        link["data"]["token"].as_str().unwrap().to_string()
    }

    /// The journey's capture of a magic link.
    async fn link_capture(&self, token: &str, face: &Rgb) -> reqwest::Response {
        self.s
            .http
            .post(format!("{}/journey/v1/link/{token}/capture", self.base))
            .json(&json!({"imageBase64": b64(face)}))
            .send()
            .await
            .unwrap()
    }

    /// `GET /v2/magic-link/{token}`.
    async fn link_result(&self, token: &str) -> Value {
        self.s
            .http
            .get(format!("{}/v2/magic-link/{token}", self.base))
            .header("x-api-key", &self.api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (up to 10 s) for a process to leave status 1.
    async fn finished(&self, id: &str) -> Value {
        for _ in 0..100 {
            let (status, p) = self.get(&format!("/processes/v1/{id}")).await;
            assert_eq!(status, 200, "{p}");
            if p["status"] != 1 {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("process {id} still running after 10 s");
    }
}

/// A server with a production environment and a production tenant.
fn production() -> (Server, Tenant) {
    let s = Server::start_with(Opts {
        production: true,
        ..Opts::default()
    });
    let t = s.tenant_in("production");
    (s, t)
}

fn without_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("id");
    v
}

/// The API key of every test here: the output capabilities plus `enroll` and `validation`.
const CAPS: &str = "liveness,identity,riskscore,validation,enroll";

#[tokio::test]
async fn production_verifies_faces_against_the_identity_base() {
    let Some(People {
        ana,
        ana_darker,
        bruno,
        ..
    }) = people("production_verifies_faces_against_the_identity_base")
    else {
        return;
    };
    let (s, t) = production();
    let api = Api::new(&s, &t, &s.api_key(&t, CAPS)).await;

    // Nobody enrolled: the face is real and live, but whose it is cannot be told.
    let (status, first) = api.onboard(ANA, &ana).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        without_id(first.clone()),
        json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 1, "score": 0})
    );

    // Enrolment needs the capability; then Ana's face is enrolled under her code.
    let plain = Api::new(&s, &t, &s.api_key(&t, "identity")).await;
    let enrol = json!({"code": ANA, "imageBase64": b64(&ana)});
    let (status, body) = plain.post("/identities/v1", &enrol).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api.post("/identities/v1", &enrol).await;
    assert_eq!((status, body), (200, json!({"code": ANA, "faces": 1})));

    // Ana's other shot is Ana; Bruno's face under Ana's code is not.
    let (status, yes) = api.onboard(ANA, &ana_darker).await;
    assert_eq!(status, 200, "{yes}");
    assert_eq!(
        without_id(yes.clone()),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );
    let (_, no) = api.onboard(ANA, &bruno).await;
    assert_eq!(
        without_id(no.clone()),
        json!({"status": 3, "unicoId": {"result": "no"}, "liveness": 1})
    );
    // A black-and-white replay of Ana's photo: her face, but not live. A key that asks for
    // liveness is told so (and the identity is not confirmed); one that does not gets the
    // distance rule alone.
    let grey = map_pixels(&ana, |[r, g, b]| [0.299 * r + 0.587 * g + 0.114 * b; 3]);
    let (_, replay) = api.onboard(ANA, &grey).await;
    assert_eq!(
        without_id(replay),
        json!({"status": 3, "unicoId": {"result": "inconclusive"}, "liveness": 2, "score": 50})
    );
    let identity_only = Api::new(&s, &t, &s.api_key(&t, "identity")).await;
    let (_, replay) = identity_only.onboard(ANA, &grey).await;
    assert_eq!(
        without_id(replay),
        json!({"status": 3, "unicoId": {"result": "yes"}})
    );

    // The explanation: what ran, what it measured, never an embedding or another's code.
    let yes_id = yes["id"].as_str().unwrap();
    let (status, analysis) = api.get(&format!("/processes/v1/{yes_id}/analysis")).await;
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(analysis["engine"], "local");
    let models: Vec<&str> = analysis["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        ["blazeface-short-range", "dlib-resnet29-face-recognition"]
    );
    // On the onnxruntime library `selo models install` put beside the models, where there is one.
    let runtime = if runtime_library().is_some() {
        "onnxruntime"
    } else {
        "tract"
    };
    assert_eq!(analysis["runtime"], runtime);
    assert_eq!(analysis["faces"].as_array().unwrap().len(), 1);
    let gates: Vec<(&str, bool)> = analysis["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(gates.len(), 8, "{analysis}");
    assert!(gates.iter().all(|(_, passed)| *passed), "{gates:?}");
    assert_eq!(analysis["liveness"]["live"], true);
    assert_eq!(analysis["match"]["enrolled"], 1);
    assert_eq!(analysis["match"]["accept"], 0.4);
    assert!(
        analysis["match"]["distance"].as_f64().unwrap() <= 0.4,
        "{analysis}"
    );
    assert_eq!(analysis["fraud"]["checked"], false);
    assert!(analysis["timingsMs"]["embed"].as_f64().is_some());
    let keys: Vec<&String> = analysis.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "engine",
            "faces",
            "fraud",
            "gates",
            "liveness",
            "match",
            "models",
            "runtime",
            "timingsMs"
        ]
    );
    let text = analysis.to_string();
    for secret in ["embedding", ANA, "imageBase64"] {
        assert!(
            !text.contains(secret),
            "the analysis shows {secret}: {text}"
        );
    }

    // 1:1: Ana's process as the reference.
    let reference =
        json!([{"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": yes_id}]);
    for (face, expected) in [(&ana, "true"), (&bruno, "false")] {
        let (status, p) = api
            .post(
                "/processes/v1",
                &json!({"references": reference, "imageBase64": b64(face)}),
            )
            .await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["biometryToken"]["result"], expected, "{p}");
    }
    // A reference with no face to compare with is named.
    let first_id = first["id"].as_str().unwrap();
    let unknown = "8a6f2c1e-0000-4000-8000-000000000000";
    let (status, p) = api
        .post(
            "/processes/v1",
            &json!({"references": [
                {"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": first_id},
                {"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": unknown}
            ], "imageBase64": b64(&ana)}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(
        p["error"]["fields"],
        json!([{"field": "references[1].referenceContent", "reason": "invalid"}])
    );

    // Erased: the code has no face again.
    let res = s
        .http
        .delete(format!("{}/identities/v1/{ANA}", api.base))
        .header("authorization", format!("Bearer {}", api.token))
        .header("apikey", &api.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, after) = api.onboard(ANA, &ana_darker).await;
    assert_eq!(after["unicoId"]["result"], "inconclusive", "{after}");
}

/// The fraud search: a face enrolled under one code, presented under another, raises the
/// behavior alert once the asynchronous process finishes.
#[tokio::test]
async fn a_face_enrolled_under_another_code_raises_the_behavior_alert() {
    let test = "a_face_enrolled_under_another_code_raises_the_behavior_alert";
    let Some(people) = people(test) else {
        return;
    };
    let (s, t) = production();
    fraud_alert(&s, &t, people, &[]).await;
}

/// The same on PostgreSQL with pgvector, with Bruno's face also enrolled under eight more codes
/// so that the search goes through the index (it is asked for eight candidates; fewer, and the
/// scan answers); the server says at start that it uses the index. The index's own search over
/// thousands of faces is the store contract's test.
#[tokio::test]
async fn the_behavior_alert_is_raised_on_postgres_with_pgvector() {
    let test = "the_behavior_alert_is_raised_on_postgres_with_pgvector";
    let Some(people) = people(test) else {
        return;
    };
    let Some(database) = crate::support::pgvector_database(test) else {
        return;
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let s = Server::start_with(Opts {
        production: true,
        postgres: Some(std::sync::Arc::new(database)),
        log: Some(log.path().into()),
        ..Opts::default()
    });
    let t = s.tenant_in("production");
    fraud_alert(&s, &t, people, &valid_cpfs(8)).await;
    let said = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        said.contains("1:N face search: pgvector's HNSW index"),
        "{said}"
    );
}

/// `n` valid CPFs other than the test people's.
fn valid_cpfs(n: usize) -> Vec<String> {
    (20_000_000_000u64..)
        .map(|c| c.to_string())
        .filter(|c| {
            selo_domain::person_code::is_valid_cpf(c) && ![ANA, BRUNO, CARLA].contains(&c.as_str())
        })
        .take(n)
        .collect()
}

/// Ana and Bruno enrolled (Bruno also under each of `decoys`), then Ana's face presented under
/// Carla's code raises the alert, and under her own does not.
async fn fraud_alert(s: &Server, t: &Tenant, people: People, decoys: &[String]) {
    let People {
        ana,
        ana_darker,
        bruno,
        ..
    } = people;
    let api = Api::new(s, t, &s.api_key(t, &format!("{CAPS},behavioralert"))).await;
    let enrolments = [(ANA, &ana), (BRUNO, &bruno)]
        .into_iter()
        .chain(decoys.iter().map(|code| (code.as_str(), &bruno)));
    for (code, face) in enrolments {
        let (status, body) = api
            .post(
                "/identities/v1",
                &json!({"code": code, "imageBase64": b64(face)}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Ana's face under Carla's code: status 1, then the alert.
    let (status, created) = api.onboard(CARLA, &ana_darker).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], 1, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, _) = api.get(&format!("/processes/v1/{id}/analysis")).await;
    assert_eq!(
        status, 409,
        "no analysis while the search's answer is not out"
    );
    let done = api.finished(id).await;
    assert_eq!(done["identityFraudsters"]["result"], "yes", "{done}");
    assert_eq!(done["unicoId"]["result"], "inconclusive", "{done}");
    assert_eq!(done["score"], -100, "{done}");
    let (_, analysis) = api.get(&format!("/processes/v1/{id}/analysis")).await;
    assert_eq!(analysis["fraud"]["checked"], true);
    assert!(analysis["fraud"]["nearestDistance"].as_f64().unwrap() <= 0.4);
    assert!(!analysis.to_string().contains(ANA), "{analysis}");
    // Ana under her own code: no alert.
    let (_, own) = api.onboard(ANA, &ana_darker).await;
    let own = api.finished(own["id"].as_str().unwrap()).await;
    assert_eq!(
        without_id(own),
        json!({"status": 3, "unicoId": {"result": "yes"}, "identityFraudsters": {"result": "inconclusive"}})
    );
}

#[tokio::test]
async fn every_gate_refuses_over_http_with_its_reason_and_stores_nothing() {
    let Some(photos) = photos("every_gate_refuses_over_http_with_its_reason_and_stores_nothing")
    else {
        return;
    };
    let (s, t) = production();
    let api = Api::new(&s, &t, &s.api_key(&t, CAPS)).await;
    for (gate, img) in photos.refused_by_each_gate() {
        let (status, body) = api
            .post(
                "/processes/v1",
                &json!({"subject": {"code": ANA, "name": "Maria Silva", "clientReference": "gates"},
                        "imageBase64": b64(&img)}),
            )
            .await;
        assert_eq!(status, 400, "{gate:?}: {body}");
        assert_eq!(body["error"]["code"], "20901", "{body}");
        assert_eq!(
            body["error"]["fields"],
            json!([{"field": "imageBase64", "reason": gate.as_str()}])
        );
        let (status, body) = api
            .post(
                "/identities/v1",
                &json!({"code": ANA, "imageBase64": b64(&img)}),
            )
            .await;
        assert_eq!(status, 400, "{gate:?}: {body}");
        assert_eq!(body["error"]["fields"][0]["reason"], gate.as_str());
    }
    let (_, found) = api.get("/processes/v1?clientReference=gates").await;
    assert_eq!(found["items"], json!([]), "a refused selfie stores nothing");
}

/// A sandbox tenant opts in with `set-engines local` and keeps the §8 CPFs' scenarios; the CLI
/// enrols, lists and removes faces, refusing an image with the gate's reason.
#[tokio::test]
async fn a_sandbox_tenant_on_local_keeps_the_scenario_cpfs_and_the_cli_enrols() {
    let Some(People {
        photos,
        ana,
        ana_darker,
        ..
    }) = people("a_sandbox_tenant_on_local_keeps_the_scenario_cpfs_and_the_cli_enrols")
    else {
        return;
    };
    let s = Server::start();
    let t = s.tenant();
    let api = Api::new(&s, &t, &s.api_key(&t, CAPS)).await;
    let wall = &photos.refused_by_each_gate()[0].1;
    // On scenarios (the sandbox default) any face is approved.
    let (_, p) = api.onboard(ANA, wall).await;
    assert_eq!(p["unicoId"]["result"], "yes", "{p}");

    let set = s.admin(&[
        "tenant",
        "set-engines",
        &t.id,
        "local",
        "--match-accept",
        "0.45",
    ]);
    assert_eq!(
        set,
        json!({"set": "local", "matchAccept": 0.45, "matchReject": 0.6})
    );
    let listed = s.admin(&["tenant", "list"]);
    assert_eq!(listed[0]["engines"]["set"], "local");

    let (status, p) = api.onboard(ANA, wall).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["error"]["fields"][0]["reason"], "face_not_found");
    let (_, p) = api.onboard("00000000272", wall).await;
    assert_eq!(
        p["unicoId"]["result"], "no",
        "the §8 CPFs keep their scenarios: {p}"
    );

    let file = |name: &str, img: &Rgb| {
        let path = s.data.path().join(name);
        std::fs::write(&path, jpeg(img, 92)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (good, faceless) = (file("ana.jpg", &ana), file("wall.jpg", wall));
    let out = s.admin_raw(&[
        "identity", "enroll", "--tenant", &t.id, "--code", ANA, "--image", &good, "--image",
        &faceless,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wall.jpg") && err.contains("face_not_found"),
        "{err}"
    );
    assert_eq!(
        s.admin(&["identity", "list", "--tenant", &t.id])["items"],
        json!([]),
        "a refused image enrols nothing"
    );
    let enrolled = s.admin(&[
        "identity", "enroll", "--tenant", &t.id, "--code", ANA, "--image", &good,
    ]);
    assert_eq!(enrolled, json!({"code": ANA, "faces": 1}));
    let list = s.admin(&["identity", "list", "--tenant", &t.id, "--code", ANA]);
    assert_eq!(list["items"][0]["faces"], 1, "{list}");
    assert!(
        list["items"][0]["enrolledAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let (_, p) = api.onboard(ANA, &ana_darker).await;
    assert_eq!(p["unicoId"]["result"], "yes", "{p}");
    s.admin(&["identity", "remove", "--tenant", &t.id, "--code", ANA]);
    let (_, p) = api.onboard(ANA, &ana_darker).await;
    assert_eq!(p["unicoId"]["result"], "inconclusive", "{p}");

    // Back to scenarios.
    s.admin(&["tenant", "set-engines", &t.id, "scenarios"]);
    let (_, p) = api.onboard(ANA, wall).await;
    assert_eq!(p["unicoId"]["result"], "yes", "{p}");
}

/// The onnxruntime library installed in `SELO_MODELS`, if this platform has a pinned build.
fn runtime_library() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SELO_MODELS")?);
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
}

/// A runtime library others may write (it could be swapped after its check) is not loaded:
/// the server starts, the engines run on tract, and the explanation says so.
#[tokio::test]
async fn a_runtime_library_others_may_write_is_not_loaded_and_the_engines_run_on_tract() {
    use std::os::unix::fs::PermissionsExt;
    let test = "a_runtime_library_others_may_write_is_not_loaded_and_the_engines_run_on_tract";
    let Some(People { ana, .. }) = people(test) else {
        return;
    };
    let Some(library) = runtime_library() else {
        skipped(
            test,
            "no onnxruntime library in SELO_MODELS (a platform without a pinned build)",
        );
        return;
    };
    // A copy of the installed models, the library writable by its group.
    let models = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(library.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, models.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let copy = models.path().join(library.file_name().unwrap());
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o664)).unwrap();

    let s = Server::start_with(Opts {
        production: true,
        extra: vec!["--models".into(), models.path().to_str().unwrap().into()],
        ..Opts::default()
    });
    let t = s.tenant_in("production");
    let api = Api::new(&s, &t, &s.api_key(&t, CAPS)).await;
    let (status, created) = api.onboard(ANA, &ana).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, analysis) = api.get(&format!("/processes/v1/{id}/analysis")).await;
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(analysis["engine"], "local");
    assert_eq!(analysis["runtime"], "tract");
}

/// Without models the server still starts and is ready; what needs the engines answers 503
/// `50302` naming `selo models install`, and `set-engines local` exits 2 naming it.
#[tokio::test]
async fn without_models_the_engines_answer_503_and_set_engines_exits_2() {
    let empty = tempfile::tempdir().unwrap();
    let models = empty.path().to_str().unwrap().to_string();
    let s = Server::start_with(Opts {
        production: true,
        extra: vec!["--models".into(), models.clone()],
        ..Opts::default()
    });
    let prod = s.tenant_in("production");
    let api = Api::new(&s, &prod, &s.api_key(&prod, CAPS)).await;
    let selfie =
        json!({"subject": {"code": ANA, "name": "Maria Silva"}, "imageBase64": images::selfie()});
    let res = s
        .http
        .post(format!("{}/processes/v1", api.base))
        .header("authorization", format!("Bearer {}", api.token))
        .header("apikey", &api.api_key)
        .json(&selfie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()["should-retry"],
        "true",
        "a 5xx that stored nothing (CONTRACT §4)"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "50302");
    let d = body["error"]["description"].as_str().unwrap();
    assert!(d.contains("selo models install"), "{d}");
    let (status, body) = api
        .post(
            "/identities/v1",
            &json!({"code": ANA, "imageBase64": images::selfie()}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("50302"))
    );
    // The identity base's own checks come before the engines: a bad body names each field, a
    // bad code in the path is a 400, a key without `enroll` a 403; erasing needs no engine.
    let (status, body) = api.post("/identities/v1", &json!({"code": "123"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["fields"],
        json!([{"field": "code", "reason": "invalid"}, {"field": "imageBase64", "reason": "required"}])
    );
    let delete = |api: &Api<'_>, code: &str| {
        s.http
            .delete(format!("{}/identities/v1/{code}", api.base))
            .header("authorization", format!("Bearer {}", api.token))
            .header("apikey", api.api_key.clone())
            .send()
    };
    let res = delete(&api, "123").await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "40001");
    assert_eq!(delete(&api, ANA).await.unwrap().status(), 204);
    let plain = Api::new(&s, &prod, &s.api_key(&prod, "identity")).await;
    assert_eq!(delete(&plain, ANA).await.unwrap().status(), 403);
    // The image checks still come first.
    let (status, body) = api
        .post(
            "/processes/v1",
            &json!({"subject": {"code": ANA, "name": "Maria Silva"}, "imageBase64": images::b64(&images::gif())}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("20505"))
    );
    let ready = s
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let sandbox = s.tenant();
    let with_models = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--models", &models]);
        s.admin_raw(&all)
    };
    let out = with_models(&["tenant", "set-engines", &sandbox.id, "local"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("selo models install"), "{err}");
    let out = with_models(&["tenant", "set-engines", &prod.id, "scenarios"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("production never uses scenarios"), "{err}");
    let out = with_models(&[
        "tenant",
        "set-engines",
        &sandbox.id,
        "scenarios",
        "--match-accept",
        "0.7",
    ]);
    assert_eq!(out.status.code(), Some(2), "accept over reject");
    let out = with_models(&[
        "identity", "enroll", "--tenant", &prod.id, "--code", ANA, "--image", "x.jpg",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("selo models install"));
}

/// A journey's capture goes through the same engines: a selfie refused at a gate answers 400
/// `3` naming it and the journey stays open; a good one finishes it; five refusals finish it
/// as failed. Magic Link captures likewise.
#[tokio::test]
async fn journeys_refuse_at_the_gates_and_finish_failed_after_five_refusals() {
    let Some(People {
        photos,
        ana,
        ana_darker,
        ..
    }) = people("journeys_refuse_at_the_gates_and_finish_failed_after_five_refusals")
    else {
        return;
    };
    let wall = &photos.refused_by_each_gate()[0].1;
    let (s, t) = production();
    let receiver = crate::support::receiver::Receiver::start().await;
    s.admin(&["webhook", "set", "--tenant", &t.id, "--url", &receiver.url]);
    let api = Api::new(&s, &t, &s.api_key(&t, &format!("{CAPS},magiclink"))).await;
    let (status, body) = api
        .post(
            "/identities/v1",
            &json!({"code": ANA, "imageBase64": b64(&ana)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let journey = |cpf: &str| {
        json!({"callbackUri": "/", "flow": "id", "purpose": "biometryonboarding",
               "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": cpf}})
    };
    let capture = |process: &Value, face: &Rgb| {
        let (id, token) = (
            process["id"].as_str().unwrap().to_string(),
            process["token"].as_str().unwrap().to_string(),
        );
        s.http
            .post(format!("{}/journey/v1/process/{id}/capture", api.base))
            .header("selo-journey-token", token)
            .json(&json!({"imageBase64": b64(face)}))
            .send()
    };
    let api = &api;
    let read = |process: &Value| {
        let id = process["id"].as_str().unwrap().to_string();
        async move { api.get(&format!("/client/v1/process/{id}")).await.1["process"].clone() }
    };

    // Refused, then accepted.
    let (status, created) = api.post("/client/v1/process", &journey(ANA)).await;
    assert_eq!(status, 200, "{created}");
    let process = created["process"].clone();
    let res = capture(&process, wall).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "3", "{body}");
    assert_eq!(
        body["error"]["fields"],
        json!([{"field": "imageBase64", "reason": "face_not_found"}])
    );
    assert!(
        body["error"]["description"]
            .as_str()
            .unwrap()
            .contains("take a photo of the person's face"),
        "{body}"
    );
    assert_eq!(read(&process).await["state"], "PROCESS_STATE_CREATED");
    let (status, _) = api
        .get(&format!(
            "/client/v1/process/{}/analysis",
            process["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 409, "nothing analysed before the capture");
    let res = capture(&process, &ana_darker).await.unwrap();
    assert_eq!(res.status(), 200);
    let done = read(&process).await;
    assert_eq!(done["result"], "PROCESS_RESULT_OK", "{done}");
    let auth = &done["authenticationInfo"];
    assert_eq!(
        auth["authenticationResult"], "AUTHENTICATION_RESULT_POSITIVE",
        "{done}"
    );
    assert_eq!(auth["livenessResult"], "LIVENESS_RESULT_LIVE");
    assert_eq!(
        auth["identityFraudstersResult"],
        "TRUST_RESULT_INCONCLUSIVE"
    );
    let (status, analysis) = api
        .get(&format!(
            "/client/v1/process/{}/analysis",
            process["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(analysis["engine"], "local");
    assert_eq!(analysis["match"]["enrolled"], 1);
    assert_eq!(analysis["fraud"]["checked"], true);

    // Five refusals finish the journey as failed; no selfie is kept.
    let (_, created) = api.post("/client/v1/process", &journey(BRUNO)).await;
    let process = created["process"].clone();
    for attempt in 1..=5 {
        let res = capture(&process, wall).await.unwrap();
        assert_eq!(res.status(), 400, "attempt {attempt}");
        let body: Value = res.json().await.unwrap();
        let finished = body["error"]["description"]
            .as_str()
            .unwrap()
            .contains("the verification has finished");
        assert_eq!(finished, attempt == 5, "attempt {attempt}: {body}");
        let state = read(&process).await;
        assert_eq!(
            state["state"],
            if attempt < 5 {
                "PROCESS_STATE_CREATED"
            } else {
                "PROCESS_STATE_FINISHED"
            },
            "attempt {attempt}"
        );
    }
    let failed = read(&process).await;
    assert_eq!(failed["result"], "PROCESS_RESULT_FAILED", "{failed}");
    // Its webhook event says so (beside the first journey's).
    let calls = receiver.wait_for(2, Duration::from_secs(10)).await;
    let event = calls
        .iter()
        .map(|c| c.json())
        .find(|e| e["processId"] == process["id"])
        .expect("an event for the refused journey");
    assert_eq!(
        event,
        json!({"processId": process["id"], "state": "PROCESS_STATE_FINISHED", "flow": "id", "result": "failed"})
    );
    assert_eq!(
        failed["authenticationInfo"]["livenessResult"], "NO",
        "{failed}"
    );
    assert_eq!(capture(&process, &ana).await.unwrap().status(), 409);
    let (status, body) = api
        .get(&format!(
            "/client/v1/process/{}/selfie",
            process["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api
        .get(&format!(
            "/client/v1/process/{}/analysis",
            process["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 409, "no verdict to explain: {body}");

    // Magic Link: refused, then verified against the identity base.
    let link = api.magic_link(ANA).await;
    let res = api.link_capture(&link, wall).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["fields"][0]["reason"], "face_not_found",
        "{body}"
    );
    assert_eq!(api.link_capture(&link, &ana_darker).await.status(), 200);
    let read = api.link_result(&link).await;
    assert_eq!(read["data"]["result"]["status"], "verified", "{read}");
    assert_eq!(
        read["data"]["response"]["unico"]["scenario"], "local",
        "{read}"
    );

    // A link whose external_id is not a CPF: five refusals finish it, not verified.
    let link = api.magic_link("customer-42").await;
    for attempt in 1..=5 {
        let res = api.link_capture(&link, wall).await;
        assert_eq!(res.status(), 400, "attempt {attempt}");
    }
    let read = api.link_result(&link).await;
    assert_eq!(read["data"]["result"]["status"], "not_verified", "{read}");
    assert_eq!(
        read["data"]["response"]["unico"]["scenario"], "refused",
        "{read}"
    );
}

/// 1:1 on the local engines with a reference image, and a referenced process past its window
/// refused by the clock (before the sweeper erased its face).
#[tokio::test]
async fn one_to_one_takes_reference_images_and_refuses_processes_past_their_window() {
    let Some(People {
        photos,
        ana,
        ana_darker,
        bruno,
        ..
    }) = people("one_to_one_takes_reference_images_and_refuses_processes_past_their_window")
    else {
        return;
    };
    let s = Server::start_manual_clock();
    let t = s.tenant();
    s.admin(&["tenant", "set-engines", &t.id, "local"]);
    s.admin(&["tenant", "set-retention", &t.id, "--process", "86400"]);
    let api = Api::new(&s, &t, &s.api_key(&t, CAPS)).await;
    let image_reference = |face: &Rgb| json!([{"referenceType": "REFERENCE_TYPE_IMAGE_BASE64", "referenceContent": b64(face)}]);
    for (reference, expected) in [(&ana, "true"), (&bruno, "false")] {
        let (status, p) = api
            .post(
                "/processes/v1",
                &json!({"references": image_reference(reference), "imageBase64": b64(&ana_darker)}),
            )
            .await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["biometryToken"]["result"], expected, "{p}");
    }
    let (status, p) = api
        .post(
            "/processes/v1",
            &json!({"references": image_reference(&photos.refused_by_each_gate()[0].1), "imageBase64": b64(&ana)}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(
        p["error"]["fields"],
        json!([{"field": "references[0].referenceContent", "reason": "face_not_found"}])
    );

    let (_, first) = api.onboard(ANA, &ana).await;
    let reference = json!([{"referenceType": "REFERENCE_TYPE_PROCESS_ID",
                            "referenceContent": first["id"]}]);
    let body = json!({"references": reference, "imageBase64": b64(&ana_darker)});
    let (_, p) = api.post("/processes/v1", &body).await;
    assert_eq!(p["biometryToken"]["result"], "true", "{p}");
    s.advance(86_400).await;
    let api = Api::new(&s, &t, &api.api_key).await;
    let (status, p) = api.post("/processes/v1", &body).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(
        p["error"]["fields"][0]["field"],
        "references[0].referenceContent"
    );
}
