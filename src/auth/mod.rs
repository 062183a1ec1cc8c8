//! The admin account: who may write, and how that is checked.
//!
//! One admin, configured by `STRATUS_ADMIN_USERNAME` and `STRATUS_ADMIN_PASSWORD_HASH` (an argon2id PHC
//! string from `stratus hash-password`), optionally an API bearer token (`STRATUS_API_TOKEN_SHA256`, the
//! hex SHA-256 of the token; the token itself is never configured). The HTTP side (extractors, cookies,
//! redirects) is in `crate::http::auth`; this module holds the checks and the stored state:
//!
//! - [`password`]: argon2id hashing and verification;
//! - [`session`]: server-side sessions keyed by the SHA-256 of a random 256-bit cookie token;
//! - [`throttle`]: failed sign-ins counted per client and per account, shared by all instances;
//! - [`Auth`]: the configured account, the checks that must not leak timing, the write policy.
//!
//! Write policy: with neither a password hash nor an API token configured, writes (uploads, new users,
//! ...) are open to everyone, as in the seeds, and pages say so; nobody can sign in. With either
//! configured, a write needs a session or the bearer token.

pub mod cli;
pub mod password;
pub mod session;
pub mod throttle;

use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use crate::config::AdminSettings;

/// How many password checks may run at once. Each takes tens of milliseconds of CPU and ~19 MiB of memory
/// (by design); more at once would only slow every request of the instance, so the rest wait their turn.
const CONCURRENT_PASSWORD_CHECKS: usize = 2;

/// The configured admin account and API token. Cheap to share (`Arc` in the HTTP state).
pub struct Auth {
    admin: Option<Admin>,
    api_token_sha256: Option<[u8; 32]>,
    session_ttl: std::time::Duration,
    /// A hash with the admin's cost of a random password nobody knows, made on first need: wrong user
    /// names are checked against it, so they cost as long as the right one.
    dummy_hash: Arc<OnceLock<String>>,
    password_checks: Arc<Semaphore>,
}

/// The admin, as configured.
struct Admin {
    username: String,
    username_sha256: [u8; 32],
    password_hash: SecretString,
    credential_tag: Vec<u8>,
    /// Signs device cookies; derived from the password hash, so a new password retires every device.
    device_key: [u8; 32],
}

/// The cookie that marks a browser the admin has signed in from ([`Auth::device_cookie_value`]).
pub const DEVICE_COOKIE: &str = "stratus_device";

type HmacSha256 = hmac::Hmac<Sha256>;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("admin", &self.admin.as_ref().map(|a| a.username.as_str()))
            .field("api_token", &self.api_token_sha256.is_some())
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

/// The outcome of checking a user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// Both right: the admin's name and the tag to store with the session.
    Valid {
        /// The admin's user name.
        username: String,
        /// See [`Auth::credential_tag_matches`].
        credential_tag: Vec<u8>,
    },
    /// Wrong user name or wrong password: deliberately not told apart.
    Invalid,
    /// No admin is configured: nobody can sign in.
    NoAdmin,
}

impl Auth {
    /// The account described by the settings (the hash was checked to parse when they were read).
    pub fn new(settings: &AdminSettings) -> Self {
        let admin = settings.password_hash.as_ref().map(|hash| Admin {
            username: settings.username.clone(),
            username_sha256: Sha256::digest(settings.username.as_bytes()).into(),
            password_hash: hash.clone(),
            // A new password hash (a password change) ends every session made under the old one.
            credential_tag: Sha256::digest(hash.expose_secret().as_bytes())[..16].to_vec(),
            device_key: Sha256::new()
                .chain_update(b"stratus device cookie\0")
                .chain_update(hash.expose_secret().as_bytes())
                .finalize()
                .into(),
        });
        let dummy_hash = Arc::new(OnceLock::new());
        if let Some(admin) = &admin {
            // Made now, off the request path, so that even the first wrong user name costs no more than
            // the right one. A request that comes first makes it itself (`get_or_init` runs once).
            let (dummy, real) = (Arc::clone(&dummy_hash), admin.password_hash.clone());
            std::thread::spawn(move || {
                dummy.get_or_init(|| make_dummy_hash(real.expose_secret()));
            });
        }
        Self {
            admin,
            api_token_sha256: settings.api_token_sha256,
            session_ttl: settings.session_ttl,
            dummy_hash,
            password_checks: Arc::new(Semaphore::new(CONCURRENT_PASSWORD_CHECKS)),
        }
    }

    /// Whether an admin account is configured (someone can sign in).
    pub fn admin_configured(&self) -> bool {
        self.admin.is_some()
    }

    /// The admin's user name, when configured.
    pub fn admin_username(&self) -> Option<&str> {
        self.admin.as_ref().map(|a| a.username.as_str())
    }

    /// Whether writes are open to everyone: neither an admin nor an API token is configured.
    pub fn writes_are_open(&self) -> bool {
        self.admin.is_none() && self.api_token_sha256.is_none()
    }

    /// How long a session lasts after sign-in.
    pub fn session_ttl(&self) -> std::time::Duration {
        self.session_ttl
    }

    /// Whether a stored session belongs to the admin as configured now: same user name, same password
    /// hash. Renaming the admin or changing the password signs everyone out.
    pub fn session_is_current(&self, username: &str, credential_tag: &[u8]) -> bool {
        self.admin.as_ref().is_some_and(|admin| {
            admin.username == username && bool::from(admin.credential_tag.ct_eq(credential_tag))
        })
    }

    /// Whether `token` is the API bearer token: its SHA-256 is compared with the configured one in
    /// constant time. Always false when no token is configured.
    pub fn bearer_token_matches(&self, token: &str) -> bool {
        self.api_token_sha256.is_some_and(|want| {
            let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            bool::from(got.ct_eq(&want))
        })
    }

    /// A new device cookie's value, `<id>.<signature>` (hex), for a browser that has just signed in; none
    /// when no admin is configured.
    pub fn device_cookie_value(&self) -> Option<String> {
        let admin = self.admin.as_ref()?;
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        let id = hex::encode(id);
        let signature = device_signature(&admin.device_key, &id)?;
        Some(format!("{id}.{}", hex::encode(signature)))
    }

    /// The browser a device cookie names, if its signature is the admin's (checked in constant time).
    pub fn device_of(&self, cookie: &str) -> Option<throttle::DeviceId> {
        let admin = self.admin.as_ref()?;
        let (id, signature) = cookie.split_once('.')?;
        let well_formed = id.len() == 32
            && signature.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !well_formed {
            return None;
        }
        let given = hex::decode(signature).ok()?;
        let want = device_signature(&admin.device_key, id)?;
        bool::from(want.as_slice().ct_eq(&given)).then(|| throttle::DeviceId(id.to_owned()))
    }

    /// Checks a user name and password. Takes the same time whether the user name is right or not: the
    /// name is compared in constant time (as SHA-256 digests, so its length leaks nothing either), and a
    /// wrong name is still put through a full argon2 verification, against a dummy hash of the same cost.
    /// Runs on a blocking thread, at most [`CONCURRENT_PASSWORD_CHECKS`] at once.
    pub async fn check_login(&self, username: &str, password: SecretString) -> LoginCheck {
        let Some(admin) = &self.admin else {
            return LoginCheck::NoAdmin;
        };
        let Ok(_permit) = self.password_checks.clone().acquire_owned().await else {
            return LoginCheck::Invalid;
        };
        let given: [u8; 32] = Sha256::digest(username.as_bytes()).into();
        let name_matches = bool::from(given.ct_eq(&admin.username_sha256));
        let real = admin.password_hash.clone();
        let dummy = Arc::clone(&self.dummy_hash);
        let verified = tokio::task::spawn_blocking(move || {
            let real = real.expose_secret();
            let hash: &str = if name_matches {
                real
            } else {
                dummy.get_or_init(|| make_dummy_hash(real))
            };
            password::verify_password(password.expose_secret().as_bytes(), hash)
        })
        .await
        .unwrap_or(false);
        if name_matches && verified {
            LoginCheck::Valid {
                username: admin.username.clone(),
                credential_tag: admin.credential_tag.clone(),
            }
        } else {
            LoginCheck::Invalid
        }
    }
}

fn device_signature(key: &[u8; 32], id: &str) -> Option<Vec<u8>> {
    use hmac::Mac as _;
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// A hash, with the cost of `real`, of a random password that is thrown away.
fn make_dummy_hash(real: &str) -> String {
    let mut random = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    password::hash_like(&random, real).unwrap_or_default()
}
