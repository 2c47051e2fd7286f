//! A small client-side rate limiter, one per practice (per task: a shared store would replace it
//! when one task is no longer enough): a token bucket refilled at the plan's requests per minute,
//! plus a pause that Sikka's own `X-Rate-Limit-Remaining: 0` / `X-Rate-Limit-Reset` or a 429
//! imposes. Waiting never runs past the caller's deadline.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct Limiter {
    per_minute: f64,
    burst: f64,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
}

/// Waiting for a permit would pass the deadline; `Some(wait)` is how long it would have taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WouldExceedDeadline(pub Duration);

impl Limiter {
    /// `per_minute` requests a minute on average, bursts of up to `per_minute / 6` (10 s worth).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        let burst = (per_minute / 6.0).max(1.0);
        Self {
            per_minute,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                refilled: Instant::now(),
                paused_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a permit, waiting for one if needed; fails at once when the wait would pass
    /// `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), WouldExceedDeadline> {
        let wait = {
            let mut s = self.lock();
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
            s.tokens = (s.tokens + elapsed * self.per_minute / 60.0).min(self.burst);
            s.refilled = now;
            let pause = s
                .paused_until
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            // Take the token now (possibly going negative) so concurrent callers queue fairly.
            let debt = if s.tokens >= 1.0 {
                0.0
            } else {
                (1.0 - s.tokens) * 60.0 / self.per_minute
            };
            let wait = pause.max(Duration::from_secs_f64(debt));
            if now + wait > deadline {
                return Err(WouldExceedDeadline(wait));
            }
            s.tokens -= 1.0;
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Sikka said the window is spent: no request before `reset` from now.
    pub fn pause_for(&self, reset: Duration) {
        let now = Instant::now();
        // A pause too long to represent is as good as the longest one that is.
        let until = now
            .checked_add(reset)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
        let mut s = self.lock();
        if s.paused_until.is_none_or(|t| t < until) {
            s.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_spaces_requests_at_the_plan_rate() {
        let limiter = Limiter::new(60);
        let far = Instant::now() + Duration::from_secs(60);
        let start = Instant::now();
        for _ in 0..10 {
            limiter.acquire(far).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a burst of 10 is free");
        limiter.acquire(far).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(999),
            "then one a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_past_the_deadline_fails_fast() {
        let limiter = Limiter::new(240);
        limiter.pause_for(Duration::from_secs(30));
        let soon = Instant::now() + Duration::from_secs(5);
        assert!(limiter.acquire(soon).await.is_err());
        let later = Instant::now() + Duration::from_secs(31);
        limiter.acquire(later).await.unwrap();
    }
}
