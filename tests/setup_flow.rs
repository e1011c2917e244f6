//! First run: no App configured, the manifest flow against the simulator, and shipgate acting
//! as the new App without a restart — and only for the operator who holds the setup token.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Backend, Shipgate, TestDb};
use regex::Regex;
use shipgate::github::client::{GitHub, RepoRef};
use shipgate::github::octocrab_client::OctocrabGitHub;
use shipgate::settings::Settings;
use shipgate::sim::Simulator;

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn capture(re: &str, text: &str) -> String {
    html_unescape(
        &Regex::new(re)
            .unwrap()
            .captures(text)
            .unwrap_or_else(|| panic!("{re} in {text}"))[1],
    )
}

/// One browser's way through the flow up to GitHub's redirect back to shipgate.
struct Started {
    manifest: serde_json::Value,
    action: String,
    /// The callback URL GitHub redirects to, with `code` and `state`.
    callback: String,
    /// The `Cookie` header this browser sends back.
    cookie: String,
}

fn setup_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("shipgate-setup-token"))
        .expect("token file")
        .trim()
        .to_owned()
}

async fn start_setup(sg: &Shipgate, token: &str) -> Started {
    start_setup_named(sg, token, None).await
}

/// Like [`start_setup`]; with `name`, the person renames the App on GitHub's form.
async fn start_setup_named(sg: &Shipgate, token: &str, name: Option<&str>) -> Started {
    let response = sg
        .http
        .get(sg.url.join(&format!("setup?token={token}")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = response.text().await.unwrap();
    let action = capture(r#"<form method="post" action="([^"]+)""#, &page);
    let mut manifest = capture(r#"name="manifest" value="([^"]+)""#, &page);
    if let Some(name) = name {
        let mut edited: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        edited["name"] = name.into();
        manifest = edited.to_string();
    }
    // The browser posts the form to GitHub, which redirects back with a code.
    let redirect = sg
        .http
        .post(&action)
        .form(&[("manifest", manifest.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    Started {
        manifest: serde_json::from_str(&manifest).unwrap(),
        action,
        callback: redirect.headers()["location"].to_str().unwrap().to_owned(),
        cookie,
    }
}

async fn manifest_flow_configures_the_app_without_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, "# operator settings\nRUST_LOG=info\n").unwrap();
    let sg = Shipgate::start_unconfigured(&db, &sim, &env_file).await;

    // Not configured yet: the front page says what to do, webhooks cannot be verified.
    let front = sg
        .http
        .get(sg.url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(front.contains("/setup"), "{front}");
    assert_eq!(
        sg.http
            .post(sg.webhook_url())
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    // Only the operator, who can read the token file (0600), may start setup.
    let token_file = dir.path().join("shipgate-setup-token");
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = setup_token(dir.path());
    for attempt in ["setup", "setup?token=guess"] {
        let r = sg
            .http
            .get(sg.url.join(attempt).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let page = r.text().await.unwrap();
        assert!(page.contains("<code>shipgate-setup-token</code>"), "{page}");
        assert!(
            !page.contains(&dir.path().display().to_string()),
            "the token file's name, not where it lives: {page}"
        );
    }

    let started = start_setup(&sg, &token).await;
    assert!(
        started
            .action
            .starts_with(&format!("{}settings/apps/new?state=", sim.web_url())),
        "{}",
        started.action
    );
    assert_eq!(
        started.manifest["hook_attributes"]["url"],
        format!("{}api/github/webhooks", sg.url)
    );
    assert_eq!(
        started.manifest["redirect_url"],
        format!("{}setup/callback", sg.url)
    );
    assert!(
        started
            .callback
            .starts_with(&format!("{}setup/callback?code=", sg.url)),
        "{}",
        started.callback
    );

    // The callback from another browser (no cookie), or with a state shipgate never issued,
    // is refused.
    let elsewhere = sg.http.get(&started.callback).send().await.unwrap();
    assert_eq!(elsewhere.status(), 400);
    let forged = sg
        .http
        .get(sg.url.join("setup/callback?code=abc&state=forged").unwrap())
        .header("cookie", "shipgate_setup_state=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    let done = sg
        .http
        .get(&started.callback)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(done.contains("shipgate is set up"), "{done}");
    assert!(!token_file.exists(), "the setup token is gone once used");

    // Credentials are in the env file (0600) and the key beside it (0600), never on the page.
    let (app_id, secret, pem) = sim.with(|s| {
        (
            s.app.id,
            s.app.webhook_secret.clone(),
            s.app.private_key_pem.clone(),
        )
    });
    assert!(!done.contains(&secret) && !done.contains("PRIVATE KEY"));
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.starts_with("# operator settings\nRUST_LOG=info\n"),
        "kept the operator's lines"
    );
    assert!(text.contains(&format!("GITHUB_APP_ID='{app_id}'")));
    assert!(text.contains(&format!("GITHUB_WEBHOOK_SECRET='{secret}'")));
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key_path = capture(r"GITHUB_PRIVATE_KEY_PATH='([^']+)'", &text);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), pem);
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // GitHub now sends webhooks (signed with the new secret) to shipgate, which accepts them
    // and acts as the new App at once.
    sim.add_repo("acme/rockets");
    let installation = sim.install("acme", &["acme/rockets"]).await;
    let sent = sim.with(|s| s.hook_deliveries.last().cloned().unwrap());
    assert_eq!(sent.status_code, 202, "{}", sent.response_body);
    sg.drain().await;
    assert!(
        sg.store
            .installation(installation as i64)
            .await
            .unwrap()
            .is_some()
    );
    let client = OctocrabGitHub::new(sg.running.as_ref().unwrap().github.clone());
    let repo = RepoRef::new(installation, "acme/rockets").unwrap();
    assert!(
        client.branch_sha(&repo, "main").await.unwrap().is_some(),
        "installation token via the new key"
    );

    // Setup is closed once an App is configured.
    let again = sg
        .http
        .get(sg.url.join(&format!("setup?token={token}")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let replay = sg
        .http
        .get(&started.callback)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 409);

    // After a restart the same App is read back from the env file.
    let pairs: Vec<(String, String)> = dotenvy::from_path_iter(&env_file)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let settings =
        Settings::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .unwrap();
    assert_eq!(settings.app.unwrap().app_id, app_id);
    sg.stop().await;
}

/// Two callbacks at once (two tabs): one App is adopted, the other callback finds shipgate
/// set up, and the credentials on disk are those of the App in use.
async fn simultaneous_callbacks_adopt_one_app(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    let sg = Shipgate::start_unconfigured(&db, &sim, &env_file).await;
    let token = setup_token(dir.path());
    let first = start_setup(&sg, &token).await;
    let second = start_setup(&sg, &token).await;
    let (a, b) = tokio::join!(
        sg.http
            .get(&first.callback)
            .header("cookie", &first.cookie)
            .send(),
        sg.http
            .get(&second.callback)
            .header("cookie", &second.cookie)
            .send(),
    );
    let mut statuses = vec![a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![200, 409]);
    let adopted = sg
        .running
        .as_ref()
        .unwrap()
        .github
        .load_full()
        .unwrap()
        .credentials
        .app_id;
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.contains(&format!("GITHUB_APP_ID='{adopted}'")),
        "{text}"
    );
    assert_eq!(
        sim.with(|s| s.created_apps.len()),
        1,
        "only one code was converted"
    );
    sg.stop().await;
}

/// Text from GitHub shown on shipgate's pages is escaped for HTML: an App named with markup
/// on GitHub's form is shown as text on the page that confirms the setup.
async fn an_app_name_is_shown_as_text(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sg = Shipgate::start_unconfigured(&db, &sim, &dir.path().join(".env")).await;
    let token = setup_token(dir.path());
    let name = "ship<script>alert(1)</script> & \"co\"";
    let started = start_setup_named(&sg, &token, Some(name)).await;
    let done = sg
        .http
        .get(&started.callback)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        done.contains("ship&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;"),
        "{done}"
    );
    assert!(!done.contains("<script>"), "{done}");
    sg.stop().await;
}

on_both_backends!(
    an_app_name_is_shown_as_text,
    manifest_flow_configures_the_app_without_a_restart,
    simultaneous_callbacks_adopt_one_app
);
