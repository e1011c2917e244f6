//! The App itself: identity, the manifest conversion, installations and their tokens, hook
//! deliveries, and team membership.
//! Must not: hand out a credential without recording it (tokens are checked on every call).

use rand::RngCore;
use serde_json::{Value, json};

use super::{Call, Outcome, Reply};
use crate::sim::keys;
use crate::sim::render;
use crate::sim::state::{AppInfo, IssuedToken, SimState};

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn get_authenticated(s: &mut SimState, _: &Call) -> Outcome {
    Ok(Reply::ok(render::app(s)))
}

/// `POST /app-manifests/{code}/conversions`: the code from the new-App page becomes an App,
/// which the simulator then is.
pub fn create_from_manifest(s: &mut SimState, c: &Call) -> Outcome {
    let code = c.param("code");
    let pending = s.manifest_codes.remove(code).ok_or_else(Reply::not_found)?;
    if s.now() - pending.created_at > chrono::Duration::hours(1) {
        return Err(Reply::not_found());
    }
    let m = &pending.manifest;
    let name = m["name"].as_str().unwrap_or("app").to_owned();
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    let pair = keys::app_key_pair(1);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let app = AppInfo {
        id: s.next_id(),
        slug: slug.clone(),
        name: name.clone(),
        owner: s.app.owner.clone(),
        client_id: format!("Iv1.{}", random_hex(8)),
        client_secret: random_hex(20),
        webhook_secret: random_hex(20),
        private_key_pem: pair.private_pem.clone(),
        public_key_pem: pair.public_pem.clone(),
        webhook_url: m
            .pointer("/hook_attributes/url")
            .and_then(Value::as_str)
            .and_then(|u| url::Url::parse(u).ok()),
        permissions: m["default_permissions"]
            .as_object()
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        events: strings(&m["default_events"]),
        created_at: s.now(),
    };
    s.app = app.clone();
    s.created_apps.push(app.clone());
    s.ensure_user_of_kind(&app.bot_login(), "Bot");
    let body = render::merge(
        render::app(s),
        json!({
            "client_id": app.client_id, "client_secret": app.client_secret,
            "webhook_secret": app.webhook_secret, "pem": app.private_key_pem,
        }),
    );
    Ok(Reply::created(body))
}

pub fn list_installations(s: &mut SimState, c: &Call) -> Outcome {
    let all: Vec<Value> = s
        .installations
        .values()
        .map(|i| render::installation(s, i))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn create_installation_access_token(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("installation_id");
    let installation = s.installations.get(&id).ok_or_else(Reply::not_found)?;
    if installation.suspended {
        return Err(Reply::error(403, "This installation has been suspended"));
    }
    let token = format!("ghs_{}", random_hex(18));
    let expires_at = s.now() + chrono::Duration::hours(1);
    s.tokens.insert(
        token.clone(),
        IssuedToken {
            installation_id: id,
            expires_at,
        },
    );
    Ok(Reply::created(json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "permissions": s.app.permissions,
        "repository_selection": "selected",
    })))
}

pub fn get_repo_installation(s: &mut SimState, c: &Call) -> Outcome {
    let installation = s
        .installation_for(&c.repo_key())
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::installation(s, installation)))
}

pub fn list_webhook_deliveries(s: &mut SimState, c: &Call) -> Outcome {
    let newest_first: Vec<Value> = s
        .hook_deliveries
        .iter()
        .rev()
        .filter(|d| match c.query("status") {
            Some("success") => (200..300).contains(&d.status_code),
            Some("failure") => !(200..300).contains(&d.status_code),
            _ => true,
        })
        .map(|d| render::hook_delivery(d, false))
        .collect();
    let per_page: usize = c
        .query("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    // The cursor is the index to continue from, as an opaque string.
    let start: usize = c.query("cursor").and_then(|v| v.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = newest_first
        .iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    let mut reply = Reply::ok(Value::Array(page));
    if start + per_page < newest_first.len() {
        let next = s.api_url(&format!(
            "app/hook/deliveries?per_page={per_page}&cursor={}",
            start + per_page
        ));
        reply
            .headers
            .push(("link".into(), format!("<{next}>; rel=\"next\"")));
    }
    Ok(reply)
}

pub fn get_webhook_delivery(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("delivery_id");
    let d = s
        .hook_deliveries
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::hook_delivery(d, true)))
}

/// Marks the delivery for redelivery; the dispatcher sends it after answering.
pub fn redeliver_webhook_delivery(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("delivery_id");
    if !s.hook_deliveries.iter().any(|d| d.id == id) {
        return Err(Reply::not_found());
    }
    s.redeliveries.push(id);
    Ok(Reply::new(202, json!({})))
}

pub fn team_membership(s: &mut SimState, c: &Call) -> Outcome {
    let key = (c.param("org").to_owned(), c.param("team_slug").to_owned());
    let role = s
        .teams
        .get(&key)
        .and_then(|members| members.get(c.param("username")))
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(json!({
        "role": role,
        "state": "active",
        "url": s.api_url(&format!("organizations/{}/team/{}/memberships/{}", key.0, key.1, c.param("username"))),
    })))
}
