//! Who a signed-in user is and which repositories of shipgate's installations they can read,
//! asked of GitHub with the user's own token: `GET /user` (`users/get-authenticated`), `GET
//! /user/installations` (`apps/list-installations-for-authenticated-user`) and `GET
//! /user/installations/{id}/repositories`
//! (`apps/list-installation-repos-for-authenticated-user`). GitHub lists only what the user
//! has explicit permission (read or more) on, so this is exactly what the dashboard and API
//! may show them.
//! Must not: keep the token, or widen what GitHub answered.

use std::collections::BTreeSet;

use secrecy::SecretString;
use serde::Deserialize;

use super::app::GitHubApp;
use super::rest::GitHubError;

/// Pages of 100 read per list: at most 1,000 installations and 1,000 repositories of each.
const MAX_PAGES: usize = 10;

/// A signed-in user and what they may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub login: String,
    /// `owner/name` of each readable repository of shipgate's installations, lowercased
    /// (GitHub's names are case-insensitive).
    pub repositories: BTreeSet<String>,
}

impl Viewer {
    /// Whether `repo` (`owner/name`, any case) is one the viewer may see.
    pub fn can_see(&self, repo: &str) -> bool {
        self.repositories.contains(&repo.to_lowercase())
    }
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Installations {
    installations: Vec<Id>,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Repositories {
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// Asks GitHub who holds `token` and what they can read. A token GitHub refuses is a
/// `GitHubError::Status` with status 401.
pub async fn viewer(app: &GitHubApp, token: &SecretString) -> Result<Viewer, GitHubError> {
    const ME: &str = "get the signed-in user";
    const INSTALLATIONS: &str = "list the signed-in user's installations";
    const REPOSITORIES: &str = "list the signed-in user's repositories of an installation";
    let login = app
        .as_user(token, ME, "/user")
        .await?
        .json::<User>(ME)?
        .login;
    let mut installations = Vec::new();
    for page in 1..=MAX_PAGES {
        let path = format!("/user/installations?per_page=100&page={page}");
        let found = app
            .as_user(token, INSTALLATIONS, &path)
            .await?
            .json::<Installations>(INSTALLATIONS)?
            .installations;
        let last = found.len() < 100;
        installations.extend(found.into_iter().map(|i| i.id));
        if last {
            break;
        }
    }
    let mut repositories = BTreeSet::new();
    for id in installations {
        for page in 1..=MAX_PAGES {
            let path = format!("/user/installations/{id}/repositories?per_page=100&page={page}");
            let found = app
                .as_user(token, REPOSITORIES, &path)
                .await?
                .json::<Repositories>(REPOSITORIES)?
                .repositories;
            let last = found.len() < 100;
            repositories.extend(found.into_iter().map(|r| r.full_name.to_lowercase()));
            if last {
                break;
            }
            if page == MAX_PAGES {
                tracing::warn!(
                    login = %login,
                    installation = id,
                    "the user can read more than {} repositories of an installation; only those are shown",
                    MAX_PAGES * 100
                );
            }
        }
    }
    Ok(Viewer {
        login,
        repositories,
    })
}
