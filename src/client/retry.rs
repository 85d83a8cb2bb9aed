//! When a call is worth another attempt, and how long to wait before it.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::{DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, MAX_RETRY_AFTER};

/// 503 (overloaded, store down, shutting down) and 504 (deadline) are worth another attempt.
pub(super) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Anything that went wrong on the wire; not a request this client could not even build.
pub(super) fn is_retryable_transport(e: &reqwest::Error) -> bool {
    !e.is_builder() && !e.is_redirect() && !e.is_status()
}

/// `Retry-After` as delay-seconds or an HTTP date (relative to `now`), at most
/// [`MAX_RETRY_AFTER`]. `None` when unparsable.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at: SystemTime = chrono::DateTime::parse_from_rfc2822(value).ok()?.into();
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    pub(super) min: Duration,
    pub(super) max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: DEFAULT_BACKOFF_MIN,
            max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry + 1` (`retry` = retries already made), given a
    /// `Retry-After` hint and a random `unit` in [0, 1).
    ///
    /// Without a hint: "equal jitter", uniformly in [step/2, step] where step = min * 2^retry
    /// capped at max, so waits grow but clients that failed together spread out. With a hint:
    /// at least the hint, plus up to a quarter of it (at most 1 s) so that clients told the
    /// same `Retry-After` do not all return at the same instant.
    pub(super) fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let step = self
            .min
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let backoff = step.mul_f64(0.5 + 0.5 * unit);
        match retry_after {
            None => backoff,
            Some(hint) => {
                let spread = (hint / 4).min(Duration::from_secs(1));
                backoff.max(hint + spread.mul_f64(unit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_800_800); // 2025-06-01T18:00:00Z
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 18:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 17:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 99 Jun 2025"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        for retry in 0..40 {
            let step = (Duration::from_millis(100) * 2u32.pow(retry.min(20))).min(b.max);
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0] {
                let d = b.delay(retry, None, unit);
                assert!(
                    d >= step / 2 && d <= step,
                    "retry {retry} unit {unit}: {d:?}"
                );
            }
        }
        assert_eq!(b.delay(0, None, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(3, None, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(u32::MAX, None, 1.0), b.max);
    }

    #[test]
    fn backoff_honours_retry_after() {
        let b = Backoff::default();
        let hint = Duration::from_secs(1);
        for unit in [0.0, 0.5, 1.0] {
            let d = b.delay(0, Some(hint), unit);
            assert!(d >= hint && d <= hint + hint / 4, "{d:?}");
        }
        // A long backoff is not shortened by a short hint.
        assert!(b.delay(10, Some(hint), 0.0) >= Duration::from_secs(5));
        // The spread above a long hint is at most a second.
        let long = Duration::from_secs(30);
        assert!(b.delay(0, Some(long), 1.0) <= long + Duration::from_secs(1));
    }

    #[test]
    fn only_503_and_504_are_retried() {
        for s in [503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(s).unwrap()));
        }
        for s in [400, 401, 404, 405, 408, 413, 415, 429, 500, 502] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }
}
