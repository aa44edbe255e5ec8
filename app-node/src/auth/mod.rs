//! Uploader credentials and the guards around checking them.
//!
//! `secrets` holds the primitives (argon2 hashes, random secrets stored as
//! digests); `pool` checks passwords on threads of their own; `throttle`
//! limits sign-in attempts per client and per user name.

mod pool;
mod secrets;
mod throttle;

pub use pool::{PasswordPool, PoolBusy};
pub use secrets::{digest, hash_password, new_secret, same, verify_password, AuthError};
pub use throttle::{client_net, LoginThrottle};
