//! `selo models list` (CONTRACT §17) on the models `.ci/run` installed with `selo models
//! install` (`SELO_MODELS`); without them it prints SKIPPED, and fails under `CI=true`.

use crate::support::selo_command;

fn list(models: &std::path::Path, json: bool) -> std::process::Output {
    let mut cmd = selo_command();
    cmd.args(["models", "list", "--models"]).arg(models);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

#[test]
fn models_list_prints_each_models_provenance() {
    let Some(models) = std::env::var_os("SELO_MODELS") else {
        crate::support::skipped(
            "models_list_prints_each_models_provenance",
            "set SELO_MODELS to a directory written by `selo models install`",
        );
        return;
    };
    let out = list(models.as_ref(), true);
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    // The two models, and onnxruntime where a pinned build exists.
    assert_eq!(
        listed.len(),
        2 + usize::from(selo_engine::catalogue::RUNTIME.is_some())
    );
    for m in listed {
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "{m}");
        for key in ["name", "version", "sha256", "license", "source"] {
            assert!(
                m[key].as_str().is_some_and(|v| !v.is_empty()),
                "{key} in {m}"
            );
        }
        assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(listed[0]["name"], "blazeface-short-range");
    assert!(
        listed[1]["source"]
            .as_str()
            .unwrap()
            .contains("@vladmandic/face-api@1.7.15")
    );
    if listed.len() == 3 {
        assert_eq!(listed[2]["name"], "onnxruntime");
        assert_eq!(listed[2]["license"], "MIT");
    }
}

#[test]
fn models_list_says_how_to_install_when_nothing_is() {
    let empty = tempfile::tempdir().unwrap();
    let out = list(empty.path(), false);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("selo models install"), "{text}");
    let out = list(empty.path(), true);
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "[]");
}

#[test]
fn models_install_without_its_tools_fails_with_the_fix_and_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let out = selo_command()
        .args(["models", "install", "--models"])
        .arg(&models)
        .env("PATH", dir.path().join("no-tools-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("install"),
        "the error says what to install: {err}"
    );
    assert!(
        !models.join("models.json").exists(),
        "nothing was installed"
    );
}

#[test]
fn models_list_refuses_a_damaged_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("models.json"), b"{not json").unwrap();
    let out = list(dir.path(), true);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("models.json"), "{err}");
}
