//! Per-address and per-account rate limits on login, register and password resets.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsSettings;
use crate::errors::ApiError;

/// Keys kept before stale ones are pruned.
const PRUNE_ABOVE_KEYS: usize = 10_000;

/// The limiters; all checks pass when disabled.
#[derive(Debug)]
pub struct RateLimits {
    enabled: bool,
    login_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_per_account: DefaultKeyedRateLimiter<String>,
    register_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    reset_request_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    reset_confirm_per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

fn per_hour(n: u32) -> Quota {
    Quota::per_hour(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    /// Builds the limiters from settings.
    pub fn new(settings: &LimitsSettings) -> Self {
        Self {
            enabled: settings.rate_limit_enabled,
            login_per_ip: RateLimiter::keyed(per_minute(
                settings.rate_limit_login_per_ip_per_minute,
            )),
            login_per_account: RateLimiter::keyed(per_minute(
                settings.rate_limit_login_per_account_per_minute,
            )),
            register_per_ip: RateLimiter::keyed(per_hour(
                settings.rate_limit_register_per_ip_per_hour,
            )),
            reset_request_per_ip: RateLimiter::keyed(per_hour(
                settings.rate_limit_password_reset_per_ip_per_hour,
            )),
            reset_confirm_per_ip: RateLimiter::keyed(per_hour(
                settings.rate_limit_password_reset_per_ip_per_hour,
            )),
        }
    }

    /// Counts a login attempt from `ip` for `account`.
    pub fn check_login(&self, ip: IpAddr, account: &str) -> Result<(), ApiError> {
        check(self.enabled, &self.login_per_ip, &ip)?;
        check(
            self.enabled,
            &self.login_per_account,
            &account.trim().to_lowercase(),
        )
    }

    /// Counts a registration from `ip`.
    pub fn check_register(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(self.enabled, &self.register_per_ip, &ip)
    }

    /// Counts a password reset request from `ip`.
    pub fn check_reset_request(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(self.enabled, &self.reset_request_per_ip, &ip)
    }

    /// Counts a password reset confirmation (a code tried) from `ip`.
    pub fn check_reset_confirm(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(self.enabled, &self.reset_confirm_per_ip, &ip)
    }
}

fn check<K>(enabled: bool, limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), ApiError>
where
    K: Clone + Eq + std::hash::Hash,
{
    if !enabled {
        return Ok(());
    }
    if limiter.len() > PRUNE_ABOVE_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    })
}
