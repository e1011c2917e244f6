//! What the core needs to know before a step and that only GitHub can say: the repository's
//! configuration (`.github/shipgate.yml` merged over the organisation's) and a collaborator's
//! access — each cached in the database for a short while — and the App's own bot login.
//!
//! Must not: hold a transaction open while it calls GitHub.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::github::client::{FileContent, GitHub, RepoRef};
use crate::github::rest::{FailureKind, GitHubError};
use crate::pipeline::Access;
use crate::pipeline::config::{CONFIG_PATH, ConfigFile, LoadedConfig};
use crate::store::{Store, StoreError, millis};

/// Configuration is read again after this long even without a push that changes it.
const CONFIG_TTL_MS: i64 = 15 * 60 * 1000;
/// "Cached briefly": a permission change counts within five minutes.
const ACCESS_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResolveError {
    /// When GitHub said to try again (rate limits), in milliseconds.
    pub fn retry_at(&self) -> Option<i64> {
        match self {
            ResolveError::GitHub(e) => match e.kind() {
                FailureKind::RateLimited { retry_at, .. } => Some(millis(retry_at)),
                _ => None,
            },
            ResolveError::Store(_) => None,
        }
    }

    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            ResolveError::GitHub(e) => e.kind() != FailureKind::Permanent,
            ResolveError::Store(_) => true,
        }
    }
}

/// `.github/shipgate.yml` at `git_ref` (empty: the default branch) merged over the
/// organisation's defaults in its `.github` repository, and whether the repository has a file
/// of its own. Only a missing file means defaults: a file GitHub refuses to give (a permanent
/// error), that is not UTF-8 or too large is a configuration error, which holds every gate.
/// Errors: only transient ones (GitHub down or rate-limited: try again later).
pub async fn read_config(
    github: &dyn GitHub,
    repo: &RepoRef,
    git_ref: &str,
) -> Result<(LoadedConfig, bool), GitHubError> {
    let org_repo = RepoRef {
        name: ".github".into(),
        ..repo.clone()
    };
    let own = fetch_file(github, repo, git_ref).await?;
    let org = if repo.name == ".github" {
        Ok(None)
    } else {
        fetch_file(github, &org_repo, "").await?
    };
    let loaded = LoadedConfig::read(config_file(&org), config_file(&own));
    Ok((loaded, !matches!(own, Ok(None))))
}

/// The file, or why GitHub will not give it (a permanent error); transient errors are errors.
async fn fetch_file(
    github: &dyn GitHub,
    repo: &RepoRef,
    git_ref: &str,
) -> Result<Result<Option<FileContent>, String>, GitHubError> {
    match github.file(repo, CONFIG_PATH, git_ref).await {
        Ok(file) => Ok(Ok(file)),
        Err(e) if e.kind() == FailureKind::Permanent => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

fn config_file(answer: &Result<Option<FileContent>, String>) -> ConfigFile<'_> {
    match answer {
        Ok(None) => ConfigFile::Missing,
        Ok(Some(f)) => ConfigFile::Found {
            bytes: &f.bytes,
            size: f.size,
        },
        Err(why) => ConfigFile::Unreadable(why),
    }
}

pub struct Resolver {
    store: Store,
    github: Arc<dyn GitHub>,
    clock: Arc<dyn Clock>,
    bot: OnceCell<String>,
}

fn access_name(a: Access) -> &'static str {
    match a {
        Access::None => "none",
        Access::Read => "read",
        Access::Triage => "triage",
        Access::Write => "write",
        Access::Maintain => "maintain",
        Access::Admin => "admin",
    }
}

impl Resolver {
    /// `slug`: the App's slug if the settings know it (saves asking GitHub).
    pub fn new(
        store: Store,
        github: Arc<dyn GitHub>,
        clock: Arc<dyn Clock>,
        slug: Option<String>,
    ) -> Self {
        Self {
            store,
            github,
            clock,
            bot: slug
                .filter(|s| !s.is_empty())
                .map_or_else(OnceCell::new, |s| OnceCell::new_with(Some(s))),
        }
    }

    pub fn github(&self) -> &Arc<dyn GitHub> {
        &self.github
    }

    /// `<app-slug>[bot]`.
    pub async fn bot_login(&self) -> Result<String, ResolveError> {
        let slug = self
            .bot
            .get_or_try_init(|| async { self.github.app_slug().await })
            .await?;
        Ok(format!("{slug}[bot]"))
    }

    /// The repository's configuration, from the cache or GitHub.
    pub async fn config(
        &self,
        repo: &RepoRef,
        default_branch: &str,
    ) -> Result<LoadedConfig, ResolveError> {
        let now = millis(self.clock.now());
        let full = repo.full_name();
        let cached: Option<(LoadedConfig, i64)> = self
            .store
            .repo_config(&full)
            .await?
            .and_then(|(json, at)| Some((serde_json::from_str(&json).ok()?, at)));
        if let Some((loaded, fetched_at)) = &cached
            && now - fetched_at < CONFIG_TTL_MS
        {
            return Ok(loaded.clone());
        }
        let loaded = match read_config(self.github.as_ref(), repo, default_branch).await {
            Ok((loaded, _)) => loaded,
            // GitHub is down or rate-limited: an expired copy beats holding every pipeline.
            Err(e) if cached.is_some() => {
                tracing::warn!(error = %e, repository = %full, "using the configuration read earlier");
                return Ok(cached.map(|(c, _)| c).expect("checked above"));
            }
            Err(e) => return Err(e.into()),
        };
        let json = serde_json::to_string(&loaded).expect("configuration serialises");
        self.store.put_repo_config(&full, &json, now).await?;
        Ok(loaded)
    }

    /// Forgets a repository's cached configuration (its file changed on the default
    /// branch); for an owner's `.github` repository, every repository of the owner's.
    pub async fn forget_config(&self, repo: &RepoRef) -> Result<(), ResolveError> {
        if repo.name == ".github" {
            self.store.forget_owner_configs(&repo.owner).await?;
        }
        self.store.forget_repo_config(&repo.full_name()).await?;
        Ok(())
    }

    /// A collaborator's access to the repository, from the cache or GitHub.
    /// Which of `teams` (`@org/slug`) `login` is a member of, each answer cached like access.
    pub async fn teams_of(
        &self,
        repo: &RepoRef,
        login: &str,
        teams: &[String],
    ) -> Result<Vec<String>, ResolveError> {
        let now = millis(self.clock.now());
        let full = repo.full_name();
        let mut member_of = Vec::new();
        for team in teams {
            let Some((org, slug)) = team.trim_start_matches('@').split_once('/') else {
                continue;
            };
            // Kept beside collaborator access, under a key no login can have.
            let key = format!("{login} team:{org}/{slug}");
            let member = match self.store.cached_access(&full, &key).await? {
                Some((answer, fetched_at)) if now - fetched_at < ACCESS_TTL_MS => {
                    answer == "member"
                }
                _ => {
                    let member = self.github.team_member(repo, org, slug, login).await?;
                    let answer = if member { "member" } else { "not_member" };
                    self.store.put_access(&full, &key, answer, now).await?;
                    member
                }
            };
            if member {
                member_of.push(team.clone());
            }
        }
        Ok(member_of)
    }

    pub async fn access(&self, repo: &RepoRef, login: &str) -> Result<Access, ResolveError> {
        let now = millis(self.clock.now());
        let full = repo.full_name();
        if let Some((name, fetched_at)) = self.store.cached_access(&full, login).await?
            && now - fetched_at < ACCESS_TTL_MS
        {
            return Ok(Access::from_answer(&name, None));
        }
        let access = self.github.collaborator_permission(repo, login).await?;
        self.store
            .put_access(&full, login, access_name(access), now)
            .await?;
        Ok(access)
    }
}
