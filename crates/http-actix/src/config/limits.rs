//! The limits section: how large a request or a polygon may be, and how often clients may log in,
//! register and ask for password resets.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Request sizes, polygon sizes and the rate limits on login and register.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LimitsSettings {
    /// Largest accepted JSON body, in bytes.
    pub body_limit_bytes: usize,
    /// Most positions a submitted polygon may have.
    pub polygon_max_positions: usize,
    /// Most rings (shell plus holes) a submitted polygon may have.
    pub polygon_max_rings: usize,
    /// Rate-limit login and register.
    pub rate_limit_enabled: bool,
    /// Login attempts per minute per client address.
    pub rate_limit_login_per_ip_per_minute: u32,
    /// Login attempts per minute per account (email).
    pub rate_limit_login_per_account_per_minute: u32,
    /// Registrations per hour per client address.
    pub rate_limit_register_per_ip_per_hour: u32,
    /// Password reset requests per hour per client address, and (counted apart) code
    /// confirmations per hour per client address.
    pub rate_limit_password_reset_per_ip_per_hour: u32,
    /// Use the `X-Forwarded-For` address for rate limits (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            polygon_max_positions: 10_000,
            polygon_max_rings: 100,
            rate_limit_enabled: true,
            rate_limit_login_per_ip_per_minute: 30,
            rate_limit_login_per_account_per_minute: 10,
            rate_limit_register_per_ip_per_hour: 20,
            rate_limit_password_reset_per_ip_per_hour: 20,
            trust_forwarded_for: false,
        }
    }
}

impl LimitsSettings {
    /// Checks that every limit lets something through.
    ///
    /// # Errors
    /// The first limit too small to use, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::invalid(
                "body_limit_bytes",
                "must be at least 1024",
            ));
        }
        if self.polygon_max_positions < 4 || self.polygon_max_rings == 0 {
            return Err(ConfigError::invalid(
                "polygon_max_positions",
                "polygons need at least 4 positions and 1 ring",
            ));
        }
        if self.rate_limit_enabled
            && [
                self.rate_limit_login_per_ip_per_minute,
                self.rate_limit_login_per_account_per_minute,
                self.rate_limit_register_per_ip_per_hour,
                self.rate_limit_password_reset_per_ip_per_hour,
            ]
            .contains(&0)
        {
            return Err(ConfigError::invalid(
                "rate_limit_*",
                "limits must be at least 1 (or set rate_limit_enabled = false)",
            ));
        }
        Ok(())
    }
}
