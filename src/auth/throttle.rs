//! Failed sign-ins, counted per client address and per account name, in the relational database
//! (`login_throttle`) so that every instance behind the load balancer sees the same counts.
//!
//! Fixed windows: the first failure for a key opens a window of [`WINDOW`]; once a key has [`Limits`]'
//! failures inside its window, sign-in is refused (429 with `Retry-After`) for that key until the window
//! ends, *before* the password is checked, so a locked-out guesser learns nothing and costs no hashing.
//! A successful sign-in clears the client's and the account's counts.
//!
//! Two limits, because they stop different attacks: one client guessing many passwords (per client, a
//! low limit), and many clients (a botnet) guessing one account's password (per account, a higher limit,
//! so one noisy client cannot lock the real admin out for long). IPv6 clients are counted per /64: one
//! machine usually has a whole /64 to rotate through.
//!
//! Account keys are a SHA-256 of the name typed, never the name: the table then holds no user names,
//! and any name, existing or not, is counted the same way, so the answers do not tell which exists.

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::{
    domain::submission::{format_timestamp, parse_timestamp},
    storage::{SqlConn, SqlDb, SqlPool, StoreError},
};

/// How long a window of failures lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failures allowed per window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per client address.
    pub per_client: i64,
    /// Per account name.
    pub per_account: i64,
}

/// The limits in force.
pub const LIMITS: Limits = Limits {
    per_client: 5,
    per_account: 20,
};

/// What one sign-in attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKeys {
    client: Option<String>,
    account: String,
}

impl ThrottleKeys {
    /// The keys for an attempt from `client` (unknown when the peer address is missing) for `username`.
    pub fn new(client: Option<IpAddr>, username: &str) -> Self {
        let client = client.map(|ip| match ip {
            IpAddr::V4(v4) => format!("client:{v4}"),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => format!("client:{v4}"),
                None => {
                    let s = v6.segments();
                    let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    format!("client:{net}/64")
                }
            },
        });
        let digest = Sha256::digest(username.trim().to_lowercase().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            client,
            account: format!("account:{hex}"),
        }
    }

    fn with_limits(&self) -> Vec<(String, i64)> {
        let mut keys = vec![(self.account.clone(), LIMITS.per_account)];
        if let Some(client) = &self.client {
            keys.push((client.clone(), LIMITS.per_client));
        }
        keys
    }
}

/// How long until `window_started_at`'s window ends, if `count` has reached `limit` and it has not ended.
fn locked_for(
    count: i64,
    limit: i64,
    window_started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<Duration> {
    let ends = window_started_at + WINDOW;
    (count >= limit && ends > now).then(|| {
        let left = ends - now;
        // Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
        Duration::from_secs(u64::try_from(left.whole_seconds()).unwrap_or(0) + 1)
    })
}

fn corrupt(err: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: "window_started_at".to_owned(),
        source: format!("stored value is not valid: {err}").into(),
    }
}

/// If any key is locked out at `now`, how long until all are free again.
#[tracing::instrument(name = "Checking sign-in limits", skip_all)]
pub async fn locked_out(
    db: &SqlDb,
    keys: &ThrottleKeys,
    now: OffsetDateTime,
) -> Result<Option<Duration>, StoreError> {
    let keys = keys.with_limits();
    db.read("checking sign-in limits", move |pool| async move {
        let mut longest: Option<Duration> = None;
        for (key, limit) in keys {
            let (count, started) = match &pool {
                SqlPool::Sqlite(pool) => {
                    let row = sqlx::query(
                        "SELECT failure_count, window_started_at FROM login_throttle WHERE throttle_key = ?1",
                    )
                    .bind(&key)
                    .fetch_optional(pool)
                    .await?;
                    let Some(row) = row else { continue };
                    let started: String = row.try_get("window_started_at")?;
                    (
                        row.try_get::<i64, _>("failure_count")?,
                        parse_timestamp(&started).map_err(corrupt)?,
                    )
                }
                SqlPool::Postgres(pool) => {
                    let row = sqlx::query(
                        "SELECT failure_count, window_started_at FROM login_throttle WHERE throttle_key = $1",
                    )
                    .bind(&key)
                    .fetch_optional(pool)
                    .await?;
                    let Some(row) = row else { continue };
                    (
                        row.try_get::<i64, _>("failure_count")?,
                        row.try_get::<OffsetDateTime, _>("window_started_at")?,
                    )
                }
            };
            longest = longest.max(locked_for(count, limit, started, now));
        }
        Ok(longest)
    })
    .await
}

/// Counts one failed sign-in against every key (atomically per key: concurrent failures on several
/// instances all count). Returns how long the attempt's keys are now locked out, if they are.
#[tracing::instrument(name = "Counting a failed sign-in", skip_all)]
pub async fn record_failure(
    db: &SqlDb,
    keys: &ThrottleKeys,
    now: OffsetDateTime,
) -> Result<Option<Duration>, StoreError> {
    let keys = keys.with_limits();
    let window = time::Duration::try_from(WINDOW).unwrap_or(time::Duration::MINUTE);
    let cutoff = now - window;
    db.write("counting a failed sign-in", move |conn| async move {
        let mut longest: Option<Duration> = None;
        match conn {
            SqlConn::Sqlite(mut conn) => {
                // Expired windows are removed now and then, here, instead of by a background job.
                sqlx::query("DELETE FROM login_throttle WHERE window_started_at <= ?1")
                    .bind(format_timestamp(cutoff))
                    .execute(&mut *conn)
                    .await?;
                for (key, limit) in keys {
                    let row = sqlx::query(
                        "INSERT INTO login_throttle (throttle_key, failure_count, window_started_at) VALUES (?1, 1, ?2) \
                         ON CONFLICT (throttle_key) DO UPDATE SET \
                           failure_count = CASE WHEN login_throttle.window_started_at <= ?3 THEN 1 \
                                                ELSE login_throttle.failure_count + 1 END, \
                           window_started_at = CASE WHEN login_throttle.window_started_at <= ?3 THEN ?2 \
                                                    ELSE login_throttle.window_started_at END \
                         RETURNING failure_count, window_started_at",
                    )
                    .bind(&key)
                    .bind(format_timestamp(now))
                    .bind(format_timestamp(cutoff))
                    .fetch_one(&mut *conn)
                    .await?;
                    let started: String = row.try_get("window_started_at")?;
                    let started = parse_timestamp(&started).map_err(corrupt)?;
                    longest = longest.max(locked_for(row.try_get("failure_count")?, limit, started, now));
                }
            }
            SqlConn::Postgres(mut conn) => {
                sqlx::query("DELETE FROM login_throttle WHERE window_started_at <= $1")
                    .bind(cutoff)
                    .execute(&mut *conn)
                    .await?;
                for (key, limit) in keys {
                    let row = sqlx::query(
                        "INSERT INTO login_throttle (throttle_key, failure_count, window_started_at) VALUES ($1, 1, $2) \
                         ON CONFLICT (throttle_key) DO UPDATE SET \
                           failure_count = CASE WHEN login_throttle.window_started_at <= $3 THEN 1 \
                                                ELSE login_throttle.failure_count + 1 END, \
                           window_started_at = CASE WHEN login_throttle.window_started_at <= $3 THEN $2 \
                                                    ELSE login_throttle.window_started_at END \
                         RETURNING failure_count, window_started_at",
                    )
                    .bind(&key)
                    .bind(now)
                    .bind(cutoff)
                    .fetch_one(&mut *conn)
                    .await?;
                    let started: OffsetDateTime = row.try_get("window_started_at")?;
                    longest = longest.max(locked_for(row.try_get("failure_count")?, limit, started, now));
                }
            }
        }
        Ok(longest)
    })
    .await
}

/// Forgets the failures of a client and account that have just signed in.
#[tracing::instrument(name = "Clearing sign-in failures", skip_all)]
pub async fn clear(db: &SqlDb, keys: &ThrottleKeys) -> Result<(), StoreError> {
    let keys: Vec<String> = keys.with_limits().into_iter().map(|(k, _)| k).collect();
    db.write("clearing sign-in failures", move |conn| async move {
        match conn {
            SqlConn::Sqlite(mut conn) => {
                for key in keys {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = ?1")
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            SqlConn::Postgres(mut conn) => {
                for key in keys {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a = ThrottleKeys::new("2001:db8:1:2:aaaa::1".parse().ok(), "admin");
        let b = ThrottleKeys::new("2001:db8:1:2:bbbb::9".parse().ok(), "admin");
        assert_eq!(a, b);
        assert_eq!(a.client.as_deref(), Some("client:2001:db8:1:2::/64"));
        let mapped = ThrottleKeys::new("::ffff:192.0.2.1".parse().ok(), "x");
        assert_eq!(mapped.client.as_deref(), Some("client:192.0.2.1"));
    }

    #[test]
    fn account_keys_ignore_case_and_never_hold_the_name() {
        let a = ThrottleKeys::new(None, "Admin ");
        let b = ThrottleKeys::new(None, "admin");
        assert_eq!(a.account, b.account);
        assert!(!a.account.contains("admin"));
    }

    #[test]
    fn a_key_is_locked_from_the_limit_until_its_window_ends() {
        let start = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let later = start + time::Duration::minutes(5);
        assert_eq!(locked_for(4, 5, start, later), None);
        assert_eq!(
            locked_for(5, 5, start, later),
            Some(Duration::from_secs(10 * 60 + 1))
        );
        assert_eq!(
            locked_for(9, 5, start, start + time::Duration::minutes(15)),
            None
        );
    }
}
