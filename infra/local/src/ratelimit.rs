//! The per-IP request limit the deployed stack gets from AWS WAF (a rate-based rule, keyed on
//! the client IP, answering 429 with `Retry-After`), reproduced for the local stack with the
//! same numbers so clients can be tested against it: at most `limit` requests per IP in each
//! fixed window of `window` seconds.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A fixed-window counter per client IP.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `limit` requests per IP per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// From `KUPE_RATE_LIMIT` (requests per window, default 300) and
    /// `KUPE_RATE_LIMIT_WINDOW_SECONDS` (default 60), the template's defaults.
    pub fn from_env() -> Self {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        Self::new(
            u32::try_from(num("KUPE_RATE_LIMIT", 300)).unwrap_or(u32::MAX),
            Duration::from_secs(num("KUPE_RATE_LIMIT_WINDOW_SECONDS", 60).max(1)),
        )
    }

    /// Counts a request from `ip` at `now`; `Err(seconds)` to wait when over the limit: the
    /// whole seconds until the IP's next window opens, rounded up.
    pub fn check(&self, ip: &str, now: Instant) -> Result<(), u64> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(ip.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > self.limit {
            // `Retry-After` is a promise: a retry that waits exactly this long finds the next
            // window open, so the time left is rounded up, never down.
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_limit_waits_for_the_window_and_other_ips_are_unaffected() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("10.0.0.1", t0).is_ok());
        }
        let wait = limiter
            .check("10.0.0.1", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, 50);
        assert!(
            limiter.check("10.0.0.2", t0).is_ok(),
            "another IP has its own window"
        );
        assert!(
            limiter
                .check("10.0.0.1", t0 + Duration::from_secs(61))
                .is_ok(),
            "a new window"
        );
    }

    #[test]
    fn a_retry_after_exactly_the_promised_wait_is_served() {
        let t0 = Instant::now();
        for ms in [1, 400, 999, 1000, 1001, 1500, 2999] {
            let limiter = RateLimiter::new(1, Duration::from_secs(3));
            assert!(limiter.check("10.0.0.1", t0).is_ok());
            let at = t0 + Duration::from_millis(ms);
            let wait = limiter.check("10.0.0.1", at).unwrap_err();
            let again = at + Duration::from_secs(wait);
            assert!(limiter.check("10.0.0.1", again).is_ok(), "429 at +{ms} ms");
            assert!(wait <= 3, "never more than the window: {wait}");
        }
    }
}
