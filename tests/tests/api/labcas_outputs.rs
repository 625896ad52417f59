//! labcas-contract §3, `/output-data`: a LabCAS user browses their run folders on the local
//! store (staging `local://labcas/`), follows the presigned links, sets properties of a file;
//! another user never reaches them.

use std::path::{Path, PathBuf};

use reefguide_tests::labcas::{labcas_issuer, labcas_token};
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{TestApp, header_text};
use rstest::rstest;
use serde_json::json;

const RUN: &str = "20250403T191112825218";

/// An app trusting LabCAS tokens whose data directory is `dir`.
async fn app(backend: TestBackend, dir: PathBuf) -> TestApp {
    TestApp::spawn_with(backend, move |settings| {
        settings.server.data_dir = dir;
        settings.auth.external_jwt = vec![labcas_issuer()];
    })
    .await
}

/// Writes thomas's run folder as a DAG would: `out.txt`, `tiles/a.png`.
fn write_run(data_dir: &Path) -> PathBuf {
    let run = data_dir.join("results/labcas/thomas").join(RUN);
    std::fs::create_dir_all(run.join("tiles")).expect("folders");
    std::fs::write(run.join("out.txt"), b"hello").expect("file");
    std::fs::write(run.join("tiles/a.png"), b"png").expect("file");
    run
}

#[rstest]
#[tokio::test]
async fn a_labcas_user_browses_their_outputs_and_sets_properties(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = write_run(dir.path());
    let app = app(backend, dir.path().to_path_buf()).await;
    let thomas = labcas_token("thomas");

    let root = app
        .get("/labcas/output-data", Some(&thomas))
        .await
        .expect(200);
    let run_href = root.body["folders"][format!("{RUN}/")]["href"]
        .as_str()
        .expect("the run folder")
        .to_owned();
    assert_eq!(
        run_href,
        format!("{}/labcas/output-data/{RUN}/", app.address)
    );

    let folder = app
        .get(&format!("/labcas/output-data/{RUN}"), Some(&thomas))
        .await
        .expect(200);
    assert_eq!(folder.body["prefix"], json!(RUN));
    assert!(folder.body["folders"]["tiles/"]["href"].is_string());
    let file = &folder.body["files"]["out.txt"];
    assert_eq!(file["size"], json!(5));
    assert!(file.get("properties").is_none());
    let href = file["href"].as_str().expect("a presigned link");
    let fetched = reqwest::get(href).await.expect("fetched");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), b"hello");

    // Properties: written as a sidecar, hidden from the listing, shown as strings, merged.
    let path = format!("/labcas/output-data/{RUN}");
    let set = app
        .put(
            &path,
            Some(&thomas),
            json!({"files": {"out.txt": {"properties": {"label": "tumour", "n": 3, "ok": true}}}}),
        )
        .await
        .expect(200);
    assert_eq!(set.body["updated"], json!(["out.txt"]));
    app.put(
        &path,
        Some(&thomas),
        json!({"files": {"out.txt": {"properties": {"n": 4}}}}),
    )
    .await
    .expect(200);
    let listed = app.get(&path, Some(&thomas)).await.expect(200).body;
    assert_eq!(
        listed["files"]["out.txt"]["properties"],
        json!({"label": "tumour", "n": "4", "ok": "true"})
    );
    assert!(listed["files"].get("out.txt.cfg").is_none(), "{listed}");
    assert!(run.join("out.txt.cfg").is_file());

    // A PUT naming a missing file writes nothing; a nested value is refused.
    let before = std::fs::read(run.join("out.txt.cfg")).expect("sidecar");
    app.put(
        &path,
        Some(&thomas),
        json!({"files": {"out.txt": {"properties": {"n": 5}}, "missing.txt": {"properties": {"a": 1}}}}),
    )
    .await
    .expect_error(400, "missing_file");
    assert_eq!(
        std::fs::read(run.join("out.txt.cfg")).expect("sidecar"),
        before
    );
    assert!(!run.join("missing.txt.cfg").exists());
    app.put(
        &path,
        Some(&thomas),
        json!({"files": {"out.txt": {"properties": {"n": {"deep": 1}}}}}),
    )
    .await
    .expect_error(400, "invalid_output_request");

    // Bad paths (an empty segment, a backslash; `..` is covered by the domain's tests, since
    // HTTP clients resolve it before sending) and nothing there.
    for bad in [
        format!("/labcas/output-data/{RUN}//tiles"),
        format!("/labcas/output-data/{RUN}%5Ctiles"),
    ] {
        app.get(&bad, Some(&thomas))
            .await
            .expect_error(400, "invalid_output_request");
    }
    app.get("/labcas/output-data/nothing-here", Some(&thomas))
        .await
        .expect_error(404, "not_found");
    app.get("/labcas/output-data", None)
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn another_user_never_reaches_someone_elses_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_run(dir.path());
    let app = app(TestBackend::Sqlite, dir.path().to_path_buf()).await;
    let mallory = labcas_token("mallory");
    let root = app
        .get("/labcas/output-data", Some(&mallory))
        .await
        .expect(200);
    assert_eq!(root.body["folders"], json!({}));
    assert_eq!(root.body["files"], json!({}));
    for path in [
        format!("/labcas/output-data/{RUN}"),
        "/labcas/output-data/thomas".to_owned(),
        format!("/labcas/output-data//thomas/{RUN}"),
    ] {
        let reply = app.get(&path, Some(&mallory)).await;
        assert!(
            [400, 404].contains(&reply.status.as_u16()),
            "{path}: {} {}",
            reply.status,
            reply.text
        );
    }
    let put = app
        .put(
            &format!("/labcas/output-data/{RUN}"),
            Some(&mallory),
            json!({"files": {"out.txt": {"properties": {"a": 1}}}}),
        )
        .await;
    assert!([400, 404].contains(&put.status.as_u16()), "{}", put.text);
    assert!(
        !dir.path()
            .join("results/labcas/thomas")
            .join(RUN)
            .join("out.txt.cfg")
            .exists()
    );
}

#[tokio::test]
async fn a_browser_gets_an_html_page_of_links_with_every_name_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = write_run(dir.path());
    std::fs::write(run.join("<script>alert(1)<script>.txt"), b"x").expect("file");
    let app = app(TestBackend::Sqlite, dir.path().to_path_buf()).await;
    let reply = reqwest::Client::new()
        .get(format!("{}/labcas/output-data/{RUN}", app.address))
        .bearer_auth(labcas_token("thomas"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status().as_u16(), 200);
    let content_type = header_text(reply.headers(), "content-type").to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let vary: Vec<&str> = reply
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let vary = vary.join(", ");
    assert!(vary.contains("Accept"), "Vary: {vary}");
    let page = reply.text().await.expect("text");
    assert!(page.contains("out.txt"), "{page}");
    assert!(page.contains(">tiles"), "{page}");
    assert!(!page.contains("<script>"), "unescaped: {page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    // JSON stays the default.
    let json = app
        .get(
            &format!("/labcas/output-data/{RUN}"),
            Some(&labcas_token("thomas")),
        )
        .await
        .expect(200);
    assert!(json.body["files"]["out.txt"].is_object());
}
