//! Sign-in attempts, counted per client address, per account name and per trusted browser, in the
//! relational database (`login_throttle`) so that every instance behind the load balancer shares them.
//!
//! **Count first, then check.** An attempt is *reserved* ([`reserve`]) in one transaction before its
//! password is verified: the transaction locks the attempt's counters, decides, and counts the attempt.
//! However many guesses arrive at once, on however many instances, at most the limits below are ever put
//! through the password check in one window. A wrong password leaves its reservation counted (it is the
//! failure); a right one gives it back ([`succeeded`]) and clears the client's and the browser's counts.
//!
//! Fixed windows of [`WINDOW`], opened by a key's first attempt. The policy, which keeps brute force out
//! without handing anyone a way to lock the admin out:
//!
//! | who is trying | may try while |
//! | --- | --- |
//! | a browser with a valid device cookie ([`DeviceId`], set at a successful sign-in) | that browser has had fewer than [`Limits::per_device`] attempts; client and account counts do not apply |
//! | any other client | it has had fewer than [`Limits::per_client`] attempts, **and** the account fewer than [`Limits::per_account`], or, once the account is past that, the client has had no attempt at all in its window and the account fewer than [`Limits::account_ceiling`] |
//!
//! So one guesser gets [`Limits::per_client`] guesses a window; a crowd gets [`Limits::per_account`],
//! then one each, up to [`Limits::account_ceiling`]; and the admin, on a browser they signed in from
//! before, is never locked out by anyone else's guesses. A new browser of the admin's during an attack
//! that has gone past the ceiling waits for the window to end: the one case the policy cannot tell
//! apart from an attacker (docs/security.md).
//!
//! IPv6 clients are counted per /64: one machine usually has a whole /64 to rotate through. Account keys
//! are a SHA-256 of the name typed, never the name: the table then holds no user names, and any name,
//! existing or not, is counted the same way, so the answers do not tell which exists.

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use sha2::{Digest as _, Sha256};
use sqlx::{Connection as _, Row as _};
use time::OffsetDateTime;

use crate::{
    storage::{SqlConn, SqlDb, StoreError},
    time::{format_timestamp, parse_timestamp},
};

/// How long a window of attempts lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Attempts allowed per window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per client address (IPv6: per /64).
    pub per_client: i64,
    /// Per account name, before only clients with no attempt of their own may try.
    pub per_account: i64,
    /// Per account name, after which only trusted browsers may try.
    pub account_ceiling: i64,
    /// Per trusted browser (device cookie).
    pub per_device: i64,
}

/// The limits in force.
pub const LIMITS: Limits = Limits {
    per_client: 5,
    per_account: 20,
    account_ceiling: 100,
    per_device: 5,
};

/// A browser the admin signed in from before, named by the random id in its device cookie
/// ([`crate::auth::Auth::device_of`] checks the cookie's signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(pub(crate) String);

/// What one sign-in attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKeys {
    client: Option<String>,
    account: String,
    device: Option<String>,
}

impl ThrottleKeys {
    /// The keys for an attempt from `client` (unknown when the peer address is missing) for `username`,
    /// from a trusted browser when `device` is given.
    pub fn new(client: Option<IpAddr>, username: &str, device: Option<&DeviceId>) -> Self {
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
        Self {
            client,
            account: format!("account:{}", hex::encode(&digest[..16])),
            device: device.map(|d| format!("device:{}", d.0)),
        }
    }

    /// The keys this attempt is counted against, in the order their rows are locked (sorted, so two
    /// attempts never wait for each other's rows in opposite orders).
    fn counted(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = match &self.device {
            Some(device) => vec![device],
            None => std::iter::once(self.account.as_str())
                .chain(self.client.as_deref())
                .collect(),
        };
        keys.sort_unstable();
        keys
    }
}

/// One key's count in its window, as read under lock.
#[derive(Debug, Clone)]
struct Count {
    key: String,
    attempts: i64,
    window_started_at: OffsetDateTime,
}

impl Count {
    /// How long until this key's window ends (whole seconds, rounded up: `Retry-After: 0` would invite an
    /// immediate retry).
    fn wait(&self, now: OffsetDateTime) -> Duration {
        let left = (self.window_started_at + WINDOW) - now;
        Duration::from_secs(u64::try_from(left.whole_seconds()).unwrap_or(0) + 1)
    }
}

/// The decision on an attempt, given its keys' counts before it.
fn decide(keys: &ThrottleKeys, counts: &[Count], now: OffsetDateTime) -> Result<(), Duration> {
    let count_of = |key: Option<&str>| key.and_then(|key| counts.iter().find(|c| c.key == key));
    let blocked_by = |count: Option<&Count>, limit: i64| {
        count.filter(|c| c.attempts >= limit).map(|c| c.wait(now))
    };
    if keys.device.is_some() {
        return match blocked_by(count_of(keys.device.as_deref()), LIMITS.per_device) {
            Some(wait) => Err(wait),
            None => Ok(()),
        };
    }
    let client = count_of(keys.client.as_deref());
    let account = count_of(Some(&keys.account));
    if let Some(wait) = blocked_by(client, LIMITS.per_client) {
        return Err(wait);
    }
    // A client with no attempt of its own in its window (and a known address) may still try once the
    // account is past its limit, up to the ceiling.
    let clean = keys.client.is_some() && client.is_none_or(|c| c.attempts == 0);
    let account_limit = if clean {
        LIMITS.account_ceiling
    } else {
        LIMITS.per_account
    };
    match blocked_by(account, account_limit) {
        Some(wait) => Err(wait),
        None => Ok(()),
    }
}

/// A counted attempt, to be settled by [`failed`] or [`succeeded`].
#[derive(Debug)]
#[must_use = "settle the reservation with `failed` or `succeeded`"]
pub struct Reservation {
    keys: ThrottleKeys,
    /// The counts including this attempt.
    counts: Vec<Count>,
}

impl Reservation {
    /// How long this attempt's client (or browser) is now locked out, if this attempt was its last: the
    /// answer to a wrong password. (The attempt has just been counted, so the client is no longer one
    /// with no attempts, and the account's ordinary limit applies to it.)
    pub fn locked_after_failure(&self, now: OffsetDateTime) -> Option<Duration> {
        let limit_of = |key: &str| {
            if key.starts_with("device:") {
                LIMITS.per_device
            } else if key.starts_with("client:") {
                LIMITS.per_client
            } else {
                LIMITS.per_account
            }
        };
        self.counts
            .iter()
            .filter(|c| c.attempts >= limit_of(&c.key))
            .map(|c| c.wait(now))
            .max()
    }
}

fn corrupt(err: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: "window_started_at".to_owned(),
        source: format!("stored value is not valid: {err}").into(),
    }
}

/// Reserves one sign-in attempt: in one transaction that holds the attempt's keys (SQLite's write lock;
/// on PostgreSQL a transaction-scoped advisory lock per key, taken in sorted order), removes windows that
/// have ended, reads the counts, decides by the policy above and, when allowed, counts the attempt.
/// `Ok(Err(wait))` is a refusal: nothing was counted, and `wait` is how long until the blocking window
/// ends.
#[tracing::instrument(name = "Reserving a sign-in attempt", skip_all)]
pub async fn reserve(
    db: &SqlDb,
    keys: &ThrottleKeys,
    now: OffsetDateTime,
) -> Result<Result<Reservation, Duration>, StoreError> {
    let keys = keys.clone();
    let window = time::Duration::try_from(WINDOW).unwrap_or(time::Duration::MINUTE);
    let cutoff = now - window;
    db.write("reserving a sign-in attempt", move |conn| async move {
        let names: Vec<String> = keys.counted().into_iter().map(str::to_owned).collect();
        let mut counts = Vec::with_capacity(names.len());
        match conn {
            SqlConn::Sqlite(mut conn) => {
                let mut tx = conn.begin().await?;
                // The first write takes the database's write lock until the transaction ends.
                sqlx::query("DELETE FROM login_throttle WHERE window_started_at <= ?1")
                    .bind(format_timestamp(cutoff))
                    .execute(&mut *tx)
                    .await?;
                for key in &names {
                    let row = sqlx::query(
                        "SELECT failure_count, window_started_at FROM login_throttle WHERE throttle_key = ?1",
                    )
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row {
                        let started: String = row.try_get("window_started_at")?;
                        counts.push(Count {
                            key: key.clone(),
                            attempts: row.try_get("failure_count")?,
                            window_started_at: parse_timestamp(&started).map_err(corrupt)?,
                        });
                    }
                }
                if let Err(wait) = decide(&keys, &counts, now) {
                    tx.rollback().await?;
                    return Ok(Err(wait));
                }
                counts.clear();
                for key in names {
                    let row = sqlx::query(
                        "INSERT INTO login_throttle (throttle_key, failure_count, window_started_at) VALUES (?1, 1, ?2) \
                         ON CONFLICT (throttle_key) DO UPDATE SET failure_count = login_throttle.failure_count + 1 \
                         RETURNING failure_count, window_started_at",
                    )
                    .bind(&key)
                    .bind(format_timestamp(now))
                    .fetch_one(&mut *tx)
                    .await?;
                    let started: String = row.try_get("window_started_at")?;
                    counts.push(Count {
                        key,
                        attempts: row.try_get("failure_count")?,
                        window_started_at: parse_timestamp(&started).map_err(corrupt)?,
                    });
                }
                tx.commit().await?;
                Ok(Ok(Reservation { keys, counts }))
            }
            SqlConn::Postgres(mut conn) => {
                let mut tx = conn.begin().await?;
                for key in &names {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM login_throttle WHERE window_started_at <= $1")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                for key in &names {
                    let row = sqlx::query(
                        "SELECT failure_count, window_started_at FROM login_throttle WHERE throttle_key = $1",
                    )
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row {
                        counts.push(Count {
                            key: key.clone(),
                            attempts: row.try_get("failure_count")?,
                            window_started_at: row.try_get("window_started_at")?,
                        });
                    }
                }
                if let Err(wait) = decide(&keys, &counts, now) {
                    tx.rollback().await?;
                    return Ok(Err(wait));
                }
                counts.clear();
                for key in names {
                    let row = sqlx::query(
                        "INSERT INTO login_throttle (throttle_key, failure_count, window_started_at) VALUES ($1, 1, $2) \
                         ON CONFLICT (throttle_key) DO UPDATE SET failure_count = login_throttle.failure_count + 1 \
                         RETURNING failure_count, window_started_at",
                    )
                    .bind(&key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    counts.push(Count {
                        key,
                        attempts: row.try_get("failure_count")?,
                        window_started_at: row.try_get("window_started_at")?,
                    });
                }
                tx.commit().await?;
                Ok(Ok(Reservation { keys, counts }))
            }
        }
    })
    .await
}

/// Settles a reservation whose password was right: the client's and the browser's counts are cleared
/// (they know the password), and the account gets this attempt back (other clients' failures stay
/// counted: signing in does not hand a guessing crowd a fresh allowance).
#[tracing::instrument(name = "Settling a successful sign-in", skip_all)]
pub async fn succeeded(db: &SqlDb, reservation: Reservation) -> Result<(), StoreError> {
    let Reservation { keys, .. } = reservation;
    let cleared: Vec<String> = keys.client.iter().chain(&keys.device).cloned().collect();
    let account = keys.device.is_none().then_some(keys.account);
    db.write("clearing sign-in attempts", move |conn| async move {
        match conn {
            SqlConn::Sqlite(mut conn) => {
                for key in cleared {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = ?1")
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(account) = account {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = ?1 AND failure_count <= 1")
                        .bind(&account)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("UPDATE login_throttle SET failure_count = failure_count - 1 WHERE throttle_key = ?1")
                        .bind(&account)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            SqlConn::Postgres(mut conn) => {
                for key in cleared {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(account) = account {
                    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1 AND failure_count <= 1")
                        .bind(&account)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("UPDATE login_throttle SET failure_count = failure_count - 1 WHERE throttle_key = $1")
                        .bind(&account)
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

    const START: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00:00 UTC);

    fn keys(client: &str, device: Option<&str>) -> ThrottleKeys {
        ThrottleKeys::new(
            client.parse().ok(),
            "admin",
            device.map(|d| DeviceId(d.to_owned())).as_ref(),
        )
    }

    fn counts(keys: &ThrottleKeys, client: i64, account: i64) -> Vec<Count> {
        let mut counts = vec![Count {
            key: keys.account.clone(),
            attempts: account,
            window_started_at: START,
        }];
        if let Some(key) = &keys.client {
            counts.push(Count {
                key: key.clone(),
                attempts: client,
                window_started_at: START,
            });
        }
        counts
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a = keys("2001:db8:1:2:aaaa::1", None);
        let b = keys("2001:db8:1:2:bbbb::9", None);
        assert_eq!(a, b);
        assert_eq!(a.client.as_deref(), Some("client:2001:db8:1:2::/64"));
        let mapped = keys("::ffff:192.0.2.1", None);
        assert_eq!(mapped.client.as_deref(), Some("client:192.0.2.1"));
    }

    #[test]
    fn account_keys_ignore_case_and_never_hold_the_name() {
        let a = ThrottleKeys::new(None, "Admin ", None);
        let b = ThrottleKeys::new(None, "admin", None);
        assert_eq!(a.account, b.account);
        assert!(!a.account.contains("admin"));
    }

    #[test]
    fn the_policy_limits_clients_then_the_account_then_everyone_but_trusted_browsers() {
        let later = START + time::Duration::minutes(5);
        let guesser = keys("192.0.2.1", None);
        assert!(decide(&guesser, &counts(&guesser, 4, 4), later).is_ok());
        assert_eq!(
            decide(&guesser, &counts(&guesser, 5, 5), later),
            Err(Duration::from_secs(10 * 60 + 1))
        );
        // Past the account's limit: a client with attempts of its own is refused, a clean one may try.
        assert!(decide(&guesser, &counts(&guesser, 1, 20), later).is_err());
        assert!(decide(&guesser, &counts(&guesser, 0, 20), later).is_ok());
        assert!(decide(&guesser, &counts(&guesser, 0, 99), later).is_ok());
        assert!(decide(&guesser, &counts(&guesser, 0, 100), later).is_err());
        // A client without a known address never counts as clean.
        let unknown = ThrottleKeys::new(None, "admin", None);
        assert!(decide(&unknown, &counts(&unknown, 0, 20), later).is_err());
        // A trusted browser is limited by its own count only.
        let trusted = keys("192.0.2.1", Some("d1"));
        assert_eq!(trusted.counted(), vec!["device:d1"]);
        let device = |n| {
            vec![Count {
                key: "device:d1".into(),
                attempts: n,
                window_started_at: START,
            }]
        };
        assert!(decide(&trusted, &device(4), later).is_ok());
        assert!(decide(&trusted, &device(5), later).is_err());
    }

    #[test]
    fn a_failure_that_reaches_a_limit_locks_its_client_out() {
        let later = START + time::Duration::minutes(5);
        let guesser = keys("192.0.2.1", None);
        let reservation = |client, account| Reservation {
            keys: guesser.clone(),
            counts: counts(&guesser, client, account),
        };
        assert_eq!(reservation(4, 4).locked_after_failure(later), None);
        assert!(reservation(5, 5).locked_after_failure(later).is_some());
        assert!(reservation(1, 20).locked_after_failure(later).is_some());
    }
}
