//! GitHub's rate limits, honoured per installation (GitHub counts them per installation).
//!
//! Owns: the hold a rate limit puts on an installation (every request of that installation
//! waits until GitHub's time, without being sent), the growing wait after secondary limits in
//! a row (1 minute, then 2, 4, … up to 15), the pace of content-creating requests, and what
//! is left of each installation's hourly budgets, REST's and GraphQL's (a low budget makes
//! cosmetic effects that spend it wait, see [`InstallationLimits::low_budget_until`]).
//!
//! GitHub's guidance ("Rate limits for the REST API" and "Best practices for using the REST
//! API", docs.github.com): honour `retry-after`, else `x-ratelimit-reset` when
//! `x-ratelimit-remaining` is 0, else wait at least a minute and longer if it goes on; make
//! requests that create content (comments, issues, pull requests, workflow dispatches) no
//! faster than about one a second — GitHub's secondary limit is 80 a minute and 500 an hour.
//! shipgate lets a burst of [`CONTENT_BURST`] through, then one a second, and at most
//! [`CONTENT_PER_HOUR`] an hour. Holds and pace are this process's: replicas each keep
//! their own (each learns a hold from its own answers; together they pace faster).
//! Must not: retry (the effect executor reschedules what a hold refused).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::Method;

use super::rest::{Answer, FailureKind, GitHubError, SECONDARY_WAIT};
use crate::clock::Clock;

/// Content-creating requests one installation may make at once before the pace applies.
pub const CONTENT_BURST: u32 = 10;
/// Content-creating requests one installation makes in an hour at most.
pub const CONTENT_PER_HOUR: u32 = 500;
/// The longest wait after secondary limits in a row.
pub const SECONDARY_WAIT_CAP: Duration = Duration::minutes(15);
/// An installation's budget is low when fewer than 1/LOW_BUDGET_DIVISOR of its hourly
/// requests remain (500 of GitHub's usual 5,000).
pub const LOW_BUDGET_DIVISOR: u64 = 10;

/// Which of an installation's hourly budgets an answer counts against
/// (`x-ratelimit-resource`; "Rate limits for the REST API" and "Rate limits and query limits
/// for the GraphQL API", docs.github.com): REST's (`core`) or GraphQL's (`graphql`), each
/// 5,000 an hour for most installations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Core,
    Graphql,
}

/// What is left of one of an installation's hourly budgets, as GitHub's latest answer said
/// (`x-ratelimit-remaining`, `x-ratelimit-limit`, `x-ratelimit-reset` in seconds since the
/// epoch).
#[derive(Debug, Clone, Copy)]
struct Budget {
    remaining: u64,
    limit: u64,
    reset: DateTime<Utc>,
}

impl Budget {
    /// From an answer's headers, with the budget it is (`called`, the endpoint's, when the
    /// header is absent); `None` without them, or for a budget shipgate does not spend
    /// (`search`, …).
    fn of(headers: &http::HeaderMap, called: Resource) -> Option<(Resource, Self)> {
        let header = |name: &str| headers.get(name)?.to_str().ok();
        let resource = match header("x-ratelimit-resource") {
            None => called,
            Some("core") => Resource::Core,
            Some("graphql") => Resource::Graphql,
            Some(_) => return None,
        };
        let number = |name: &str| header(name)?.parse::<u64>().ok();
        let budget = Self {
            remaining: number("x-ratelimit-remaining")?,
            limit: number("x-ratelimit-limit")?,
            reset: DateTime::from_timestamp(i64::try_from(number("x-ratelimit-reset")?).ok()?, 0)?,
        };
        Some((resource, budget))
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Hold {
    /// A primary limit: the budget it counts against is spent until its reset, so only
    /// requests that spend that budget wait.
    core: Option<DateTime<Utc>>,
    graphql: Option<DateTime<Utc>>,
    /// A secondary limit, which GitHub counts over REST and GraphQL together: every request
    /// waits.
    secondary: Option<DateTime<Utc>>,
    /// Secondary limits met in a row: reset by a content-creating request that succeeds (the
    /// reads between them say nothing about the limit on content).
    strikes: u32,
}

impl Hold {
    fn primary(&mut self, resource: Resource) -> &mut Option<DateTime<Utc>> {
        match resource {
            Resource::Core => &mut self.core,
            Resource::Graphql => &mut self.graphql,
        }
    }
}

/// Holds and paces per installation.
pub struct InstallationLimits {
    clock: Arc<dyn Clock>,
    holds: Mutex<HashMap<u64, Hold>>,
    budgets: Mutex<HashMap<(u64, Resource), Budget>>,
    /// `None` when pacing is off (`SHIPGATE_CONTENT_PACING=off`).
    pace: Option<Pace>,
}

struct Pace {
    per_second: DefaultKeyedRateLimiter<u64>,
    per_hour: DefaultKeyedRateLimiter<u64>,
}

/// Whether a request creates content GitHub's secondary limits count: a comment, an issue, a
/// pull request or a workflow dispatch.
pub fn creates_content(method: &Method, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    *method == Method::POST
        && (path.ends_with("/comments")
            || path.ends_with("/issues")
            || path.ends_with("/pulls")
            || path.ends_with("/dispatches"))
}

impl InstallationLimits {
    /// Holds always; pacing if `pace_content` (off only for a GitHub without secondary
    /// limits: the simulator, some GitHub Enterprise Server setups).
    pub fn new(clock: Arc<dyn Clock>, pace_content: bool) -> Self {
        let one = NonZeroU32::MIN;
        let burst = NonZeroU32::new(CONTENT_BURST).unwrap_or(one);
        let hourly = NonZeroU32::new(CONTENT_PER_HOUR).unwrap_or(one);
        Self {
            clock,
            holds: Mutex::default(),
            budgets: Mutex::default(),
            pace: pace_content.then(|| Pace {
                per_second: RateLimiter::keyed(Quota::per_second(one).allow_burst(burst)),
                per_hour: RateLimiter::keyed(Quota::per_hour(hourly)),
            }),
        }
    }

    /// Refuses, without sending it, a request of an installation that spends `resource`
    /// while a rate limit holds it: a primary limit of that budget, or a secondary limit.
    pub fn check(
        &self,
        installation: u64,
        resource: Resource,
        operation: &'static str,
    ) -> Result<(), GitHubError> {
        let now = self.clock.now();
        let Some(mut hold) = self
            .holds
            .lock()
            .expect("holds")
            .get(&installation)
            .copied()
        else {
            return Ok(());
        };
        match (*hold.primary(resource)).max(hold.secondary) {
            Some(until) if until > now => Err(GitHubError::Held { operation, until }),
            _ => Ok(()),
        }
    }

    /// Until when `installation`'s hourly budget `resource` is low (fewer than
    /// 1/[`LOW_BUDGET_DIVISOR`] of it left, as GitHub's latest answer from it said): its
    /// reset. `None` when it is not low, not known, or the reset has passed.
    pub fn low_budget_until(&self, installation: u64, resource: Resource) -> Option<DateTime<Utc>> {
        let budget = *self
            .budgets
            .lock()
            .expect("budgets")
            .get(&(installation, resource))?;
        (budget.remaining.saturating_mul(LOW_BUDGET_DIVISOR) < budget.limit
            && budget.reset > self.clock.now())
        .then_some(budget.reset)
    }

    /// Waits (real time) until a content-creating request of `installation` may go.
    pub async fn pace(&self, installation: u64) {
        if let Some(pace) = &self.pace {
            pace.per_hour.until_key_ready(&installation).await;
            pace.per_second.until_key_ready(&installation).await;
        }
    }

    /// Learns from an answer to a request that spends `resource`: what is left of that
    /// budget (the answer's `x-ratelimit-resource` wins when it names one); a primary rate
    /// limit holds the installation's requests that spend it, a secondary one all of them
    /// (for longer each time in a row; the error says until when); a content-creating
    /// request (`content`) that succeeds ends the streak.
    pub fn record(
        &self,
        installation: u64,
        resource: Resource,
        content: bool,
        result: Result<Answer, GitHubError>,
    ) -> Result<Answer, GitHubError> {
        if let Ok(answer) = &result
            && let Some((resource, budget)) = Budget::of(&answer.headers, resource)
        {
            self.budgets
                .lock()
                .expect("budgets")
                .insert((installation, resource), budget);
        }
        let mut holds = self.holds.lock().expect("holds");
        let hold = holds.entry(installation).or_default();
        let Err(mut error) = result else {
            if content {
                hold.strikes = 0;
            }
            return result;
        };
        if let GitHubError::Status {
            kind:
                FailureKind::RateLimited {
                    retry_at,
                    secondary,
                },
            ..
        } = &mut error
        {
            if *secondary {
                hold.strikes = hold.strikes.saturating_add(1);
                let doubled = SECONDARY_WAIT * 2i32.saturating_pow(hold.strikes.min(8) - 1);
                *retry_at = (*retry_at).max(self.clock.now() + doubled.min(SECONDARY_WAIT_CAP));
            }
            let held = if *secondary {
                &mut hold.secondary
            } else {
                hold.primary(resource)
            };
            *held = Some(held.map_or(*retry_at, |u| u.max(*retry_at)));
            tracing::warn!(
                installation,
                until = %retry_at,
                secondary = *secondary,
                "GitHub rate limit: this installation's requests wait"
            );
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn secondary(now: DateTime<Utc>) -> Result<Answer, GitHubError> {
        Err(GitHubError::Status {
            operation: "create a comment",
            status: 403,
            message: "You have exceeded a secondary rate limit".into(),
            kind: FailureKind::RateLimited {
                retry_at: now + SECONDARY_WAIT,
                secondary: true,
            },
        })
    }

    #[test]
    fn secondary_limits_in_a_row_hold_the_installation_longer_each_time() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limits = InstallationLimits::new(clock.clone(), true);
        let mut waits = Vec::new();
        for _ in 0..6 {
            let now = clock.now();
            let until = match limits
                .record(7, Resource::Core, true, secondary(now))
                .unwrap_err()
                .kind()
            {
                FailureKind::RateLimited { retry_at, .. } => retry_at,
                other => panic!("{other:?}"),
            };
            waits.push((until - now).num_minutes());
            assert!(matches!(
                limits.check(7, Resource::Core, "create a comment"),
                Err(GitHubError::Held { .. })
            ));
            assert!(
                limits.check(8, Resource::Core, "create a comment").is_ok(),
                "per installation"
            );
            clock.advance(until - now);
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 15, 15]);
        assert!(
            limits.check(7, Resource::Core, "create a comment").is_ok(),
            "the hold ends"
        );

        // A read that succeeds says nothing about the limit on content: the streak goes on.
        // A comment that is created ends it.
        let answer = || {
            Ok(Answer {
                status: http::StatusCode::OK,
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::new(),
            })
        };
        let next_wait = |limits: &InstallationLimits| {
            let now = clock.now();
            match limits
                .record(7, Resource::Core, true, secondary(now))
                .unwrap_err()
                .kind()
            {
                FailureKind::RateLimited { retry_at, .. } => (retry_at - now).num_minutes(),
                other => panic!("{other:?}"),
            }
        };
        limits.record(7, Resource::Core, false, answer()).unwrap();
        assert_eq!(next_wait(&limits), 15);
        limits.record(7, Resource::Core, true, answer()).unwrap();
        assert_eq!(next_wait(&limits), 1);
    }

    /// A primary limit holds only the requests that spend its budget (GraphQL's spent, REST
    /// requests go on, and the reverse); a secondary limit holds them all.
    #[test]
    fn a_primary_limit_holds_its_budget_and_a_secondary_one_holds_all() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limits = InstallationLimits::new(clock.clone(), true);
        let primary = Err(GitHubError::Status {
            operation: "change labels",
            status: 403,
            message: "API rate limit exceeded".into(),
            kind: FailureKind::RateLimited {
                retry_at: clock.now() + Duration::minutes(30),
                secondary: false,
            },
        });
        limits
            .record(7, Resource::Graphql, false, primary)
            .unwrap_err();
        assert!(matches!(
            limits.check(7, Resource::Graphql, "change labels"),
            Err(GitHubError::Held { .. })
        ));
        assert!(limits.check(7, Resource::Core, "create a comment").is_ok());
        limits
            .record(7, Resource::Core, true, secondary(clock.now()))
            .unwrap_err();
        assert!(limits.check(7, Resource::Core, "create a comment").is_err());
        clock.advance(Duration::minutes(2));
        assert!(limits.check(7, Resource::Core, "create a comment").is_ok());
        assert!(limits.check(7, Resource::Graphql, "change labels").is_err());
        clock.advance(Duration::minutes(29));
        assert!(limits.check(7, Resource::Graphql, "change labels").is_ok());
    }

    #[test]
    fn content_is_comments_issues_pulls_and_dispatches() {
        for path in [
            "/repos/a/b/issues/3/comments",
            "/repos/a/b/issues",
            "/repos/a/b/pulls",
            "/repos/a/b/actions/workflows/tests.yml/dispatches",
        ] {
            assert!(creates_content(&Method::POST, path), "{path}");
        }
        assert!(!creates_content(
            &Method::PATCH,
            "/repos/a/b/issues/comments/9"
        ));
        assert!(!creates_content(
            &Method::POST,
            "/repos/a/b/issues/3/labels"
        ));
        assert!(!creates_content(&Method::GET, "/repos/a/b/issues"));
    }

    /// A budget is low below a tenth of its limit, until its reset; REST's and GraphQL's are
    /// kept apart (an answer without `x-ratelimit-resource` is REST's).
    #[test]
    fn a_budget_is_low_below_a_tenth_until_the_reset() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limits = InstallationLimits::new(clock.clone(), true);
        let reset = clock.now() + Duration::minutes(20);
        let answer = |remaining: &str, resource: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            let mut set = |name: &'static str, value: String| {
                headers.insert(name, value.parse().unwrap());
            };
            set("x-ratelimit-limit", "5000".into());
            set("x-ratelimit-remaining", remaining.into());
            set("x-ratelimit-reset", reset.timestamp().to_string());
            if let Some(resource) = resource {
                set("x-ratelimit-resource", resource.into());
            }
            Ok(Answer {
                status: http::StatusCode::OK,
                headers,
                body: bytes::Bytes::new(),
            })
        };
        let (core, graphql) = (Resource::Core, Resource::Graphql);
        assert_eq!(limits.low_budget_until(7, core), None, "not known yet");
        limits
            .record(7, core, false, answer("500", Some("core")))
            .unwrap();
        assert_eq!(limits.low_budget_until(7, core), None, "a tenth is not low");
        limits.record(7, core, false, answer("499", None)).unwrap();
        let until = limits.low_budget_until(7, core).expect("low");
        assert_eq!(until.timestamp(), reset.timestamp());
        assert_eq!(limits.low_budget_until(8, core), None, "per installation");
        assert_eq!(limits.low_budget_until(7, graphql), None, "another budget");
        limits
            .record(7, core, false, answer("4999", Some("graphql")))
            .unwrap();
        assert!(
            limits.low_budget_until(7, core).is_some(),
            "REST's unchanged"
        );
        limits
            .record(7, graphql, false, answer("12", None))
            .unwrap();
        assert!(limits.low_budget_until(7, graphql).is_some());
        limits
            .record(7, core, false, answer("1", Some("search")))
            .unwrap();
        clock.advance(Duration::minutes(21));
        assert_eq!(
            limits.low_budget_until(7, core),
            None,
            "the reset has passed"
        );
    }
}
