//! Signing in with GitHub through real HTTP on SQLite and PostgreSQL, with the simulator as
//! github.com: `state` and PKCE, the session cookie's flags, what the database keeps (no
//! token or verifier in clear), a sign-in from another browser or used twice refused, and
//! signing out.

#[macro_use]
mod common;

use common::Backend;
use common::world::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;
use shipgate::sim::state::Permission;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` part and the attributes of the `Set-Cookie` for `name`.
fn set_cookie(answer: &reqwest::Response, name: &str) -> (String, String) {
    let header = answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie: {:?}", answer.headers()));
    let (pair, attributes) = header.split_once(';').unwrap();
    (pair.to_owned(), attributes.to_owned())
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Begins a sign-in at shipgate; returns GitHub's authorize URL and the login cookie.
async fn begin(w: &World, return_to: &str) -> (String, String) {
    let answer = client()
        .get(
            w.sg.url
                .join(&format!("login?return_to={return_to}"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let (cookie, attributes) = set_cookie(&answer, "shipgate_login");
    assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"));
    assert!(!attributes.contains("Secure"), "http: not Secure");
    let to = answer.headers()[LOCATION].to_str().unwrap().to_owned();
    (to, cookie)
}

/// Signs in at GitHub's page as `login`; returns the callback URL GitHub sends back to.
async fn at_github(authorize: &str, login: &str) -> String {
    let page = client().get(authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in to GitHub"));
    let answer = client()
        .post(authorize)
        .form(&[("login", login)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    answer.headers()[LOCATION].to_str().unwrap().to_owned()
}

async fn signing_in_starts_a_session_that_only_this_browser_holds(backend: Backend) {
    let w = Setup::new(backend).start().await;
    let (sim, sg) = (&w.sim, &w.sg);
    sim.set_permission(REPO, "alice", Permission::Read);
    sim.open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.settle(sim).await;

    // To GitHub with the App's client id, an unguessable state and an S256 challenge.
    let (authorize, login_cookie) = begin(&w, "/api/v1/pipelines").await;
    let asked = query(&authorize);
    assert!(
        authorize.starts_with(
            sim.web_url()
                .join("login/oauth/authorize")
                .unwrap()
                .as_str()
        )
    );
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43);
    assert_eq!(
        asked["redirect_uri"],
        sg.url.join("login/callback").unwrap().as_str()
    );
    assert_eq!(login_cookie, format!("shipgate_login={}", asked["state"]));
    let callback = at_github(&authorize, "alice").await;

    // Another browser (no login cookie, or another one) cannot finish it.
    let stranger = client().get(&callback).send().await.unwrap();
    assert_eq!(stranger.status(), 400);
    let forged = client()
        .get(&callback)
        .header(COOKIE, "shipgate_login=someone-elses")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // This browser can, once: a session cookie, and back where it asked to go.
    let answer = client()
        .get(&callback)
        .header(COOKIE, &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/api/v1/pipelines");
    let (session, attributes) = set_cookie(&answer, "shipgate_session");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(attributes.contains(flag), "{flag} in {attributes}");
    }
    let (cleared, _) = set_cookie(&answer, "shipgate_login");
    assert_eq!(cleared, "shipgate_login=");
    let again = client()
        .get(&callback)
        .header(COOKIE, &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "a sign-in works once");

    // The session reads the API as alice.
    let list = sg.url.join("api/v1/pipelines").unwrap();
    let mine: Value = client()
        .get(list.clone())
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["pipelines"][0]["title"], "Export invoices");

    // The database holds digests and ciphertext only.
    let id = session.trim_start_matches("shipgate_session=");
    let token = sim.with(|s| {
        s.user_tokens
            .iter()
            .find(|(_, t)| t.login == "alice")
            .map(|(k, _)| k.clone())
            .unwrap()
    });
    let rows = w
        ._db
        .texts("SELECT id_hash || ' ' || login || ' ' || token FROM sessions")
        .await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("alice"));
    assert!(
        !rows[0].contains(id) && !rows[0].contains(&token),
        "{rows:?}"
    );
    assert_eq!(
        w._db
            .texts("SELECT state_hash FROM login_states")
            .await
            .len(),
        0,
        "a finished sign-in is forgotten"
    );

    // Signing out ends it.
    let out = client()
        .post(sg.url.join("logout").unwrap())
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(set_cookie(&out, "shipgate_session").0, "shipgate_session=");
    let after = client()
        .get(list)
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // shipgate refused the strangers and the reuse itself: GitHub was never asked.
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// Behind https, the cookies are Secure.
async fn cookies_are_secure_behind_https(backend: Backend) {
    let w = Setup::new(backend)
        .setting("SHIPGATE_PUBLIC_URL", "https://shipgate.example.com/")
        .start()
        .await;
    let answer = client()
        .get(w.sg.url.join("login").unwrap())
        .send()
        .await
        .unwrap();
    let (_, attributes) = set_cookie(&answer, "shipgate_login");
    assert!(attributes.contains("Secure"), "{attributes}");
    let to = answer.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        query(&to)["redirect_uri"],
        "https://shipgate.example.com/login/callback"
    );
    w.sg.stop().await;
}

/// Each sign-in begun is a row for ten minutes: one client may begin 30 a minute.
async fn sign_ins_are_paced_per_client(backend: Backend) {
    let w = Setup::new(backend).start().await;
    let login = w.sg.url.join("login").unwrap();
    for _ in 0..30 {
        let answer = client().get(login.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 302);
    }
    let refused = client().get(login).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "60");
    assert_eq!(
        w._db
            .texts("SELECT state_hash FROM login_states")
            .await
            .len(),
        30
    );
    w.sg.stop().await;
}

on_both_backends!(
    signing_in_starts_a_session_that_only_this_browser_holds,
    cookies_are_secure_behind_https,
    sign_ins_are_paced_per_client
);
