//! First run: no App configured, the manifest flow against the simulator, and shipgate acting
//! as the new App without a restart.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;

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
    let r = sg
        .http
        .post(sg.webhook_url())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);

    // The setup page posts the manifest to GitHub's new-App page with a one-time state.
    let page = sg
        .http
        .get(sg.url.join("setup").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = html_unescape(
        &Regex::new(r#"<form method="post" action="([^"]+)""#)
            .unwrap()
            .captures(&page)
            .unwrap()[1],
    );
    let manifest = html_unescape(
        &Regex::new(r#"name="manifest" value="([^"]+)""#)
            .unwrap()
            .captures(&page)
            .unwrap()[1],
    );
    assert!(
        action.starts_with(&format!("{}settings/apps/new?state=", sim.web_url())),
        "{action}"
    );
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        m["hook_attributes"]["url"],
        format!("{}api/github/webhooks", sg.url)
    );
    assert_eq!(m["redirect_url"], format!("{}setup/callback", sg.url));

    // A callback with a state shipgate never issued is refused.
    let forged = sg
        .http
        .get(sg.url.join("setup/callback?code=abc&state=forged").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // The browser posts the form; GitHub redirects back with a code.
    let redirect = sg
        .http
        .post(&action)
        .form(&[("manifest", manifest.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let back = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{}setup/callback?code=", sg.url)),
        "{back}"
    );
    let done = sg.http.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(done.contains("shipgate is set up"), "{done}");

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
    let key_path = Regex::new(r"GITHUB_PRIVATE_KEY_PATH='([^']+)'")
        .unwrap()
        .captures(&text)
        .unwrap()[1]
        .to_owned();
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
    assert_eq!(
        sg.http
            .get(sg.url.join("setup").unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(sg.http.get(&back).send().await.unwrap().status(), 409);

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

on_both_backends!(manifest_flow_configures_the_app_without_a_restart);
