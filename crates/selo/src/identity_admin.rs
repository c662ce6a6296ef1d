//! `selo admin identity enroll|list|remove` (CONTRACT §17): the identity base, straight
//! against the data directory's store. Enrolment runs the local engines in this process, with
//! the same image checks and gates as a create.

use crate::admin::{now, require_tenant};
use crate::cli::IdentityCommand;
use crate::output::{print, usage};
use anyhow::Context;
use base64::Engine as _;
use selo_domain::image::{ImageProblem, MAX_IMAGE_BYTES, check_image_base64};
use selo_domain::person_code::{PersonCode, parse_person_code};
use selo_domain::problem::Problem;
use selo_engine::Engine;
use selo_server::engines::Selfie;
use selo_store::Store;
use selo_store::faces::{Enrolment, MAX_FACES_PER_IDENTITY};
use selo_wire::analysis::{Enrolled, IdentityInfo, IdentityList};
use std::path::{Path, PathBuf};

/// Runs `selo admin identity …`.
pub fn run(
    store: &dyn Store,
    json: bool,
    models: &Path,
    cmd: IdentityCommand,
) -> anyhow::Result<()> {
    match cmd {
        IdentityCommand::Enroll {
            tenant,
            code,
            images,
        } => {
            require_tenant(store, &tenant)?;
            let code = person_code(&code)?;
            if images.len() > MAX_FACES_PER_IDENTITY as usize {
                return Err(usage(format!(
                    "{} images given; one identity holds at most {MAX_FACES_PER_IDENTITY} faces",
                    images.len()
                )));
            }
            let engine = Engine::load(models)
                .map_err(|e| usage(format!("cannot enrol without the local engines: {e}")))?;
            let faces = images
                .iter()
                .map(|path| face_of(&engine, path))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let out = match store.enroll(&tenant, code.as_str(), &faces, now(store))? {
                Enrolment::Enrolled(faces) => Enrolled {
                    code: code.as_str().to_string(),
                    faces,
                },
                Enrolment::Full(held) => {
                    return Err(usage(format!(
                        "code {} holds {held} faces and may hold at most {MAX_FACES_PER_IDENTITY}; remove it (`selo admin identity remove`) and enrol again",
                        code.as_str()
                    )));
                }
            };
            print(json, &out, || {
                format!("{} now has {} enrolled face(s)", out.code, out.faces)
            })
        }
        IdentityCommand::List { tenant, code } => {
            require_tenant(store, &tenant)?;
            let items: Vec<IdentityInfo> = store
                .identities(&tenant, code.as_deref())?
                .into_iter()
                .map(|i| IdentityInfo {
                    code: i.code,
                    faces: i.faces,
                    enrolled_at: rfc3339(i.enrolled_at),
                })
                .collect();
            let list = IdentityList { items };
            print(json, &list, || {
                if list.items.is_empty() {
                    return "no identities enrolled".into();
                }
                list.items
                    .iter()
                    .map(|i| format!("{}  {} face(s)  {}", i.code, i.faces, i.enrolled_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IdentityCommand::Remove { tenant, code } => {
            require_tenant(store, &tenant)?;
            let code = person_code(&code)?;
            let removed = store.remove_identity(&tenant, code.as_str())?;
            print(
                json,
                &serde_json::json!({"code": code.as_str(), "removed": removed}),
                || format!("erased {removed} face(s) enrolled under {}", code.as_str()),
            )
        }
    }
}

fn person_code(raw: &str) -> anyhow::Result<PersonCode> {
    parse_person_code(raw).ok_or_else(|| {
        usage(format!(
            "--code '{raw}' is not a valid CPF (11 digits, no dots or dashes) or CURP (18 characters)"
        ))
    })
}

/// The face embedding of one image file: a create's image checks, then the gates (a refused
/// image exits 2 with the gate's reason and what to do).
fn face_of(engine: &Engine, path: &PathBuf) -> anyhow::Result<Vec<f32>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_IMAGE_BYTES as u64 {
        return Err(usage(format!(
            "{}: {}",
            path.display(),
            ImageProblem::TooLarge
        )));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let image = check_image_base64(&base64::engine::general_purpose::STANDARD.encode(&bytes))
        .map_err(|p| usage(format!("{}: {p}", path.display())))?;
    let analysis = engine
        .analyse(image.format, &image.bytes)
        .map_err(anyhow::Error::msg)?;
    let field = path.display().to_string();
    match Selfie::from_analysis(analysis, engine, &field) {
        Ok(selfie) => Ok(selfie.embedding),
        Err(Problem::Invalid(fields)) => Err(usage(
            fields
                .iter()
                .map(|f| format!("refused ({}): {}", f.reason.as_str(), f.message))
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(_) => anyhow::bail!("the engines passed every gate but made no embedding"),
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
