//! Per-tenant token buckets (CONTRACT §10): `rate` tokens a second up to `burst`; a request
//! takes one token or is refused with a whole-second `Retry-After`.

/// A tenant's limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens added per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
}

impl Limit {
    /// `rps` requests a second with a burst of `rps` (`--rate-limit RPS`); `None` for 0
    /// (unlimited).
    pub fn per_second(rps: u32) -> Option<Limit> {
        (rps > 0).then(|| Limit {
            rate: f64::from(rps),
            burst: f64::from(rps),
        })
    }
}

/// The state of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(limit: Limit, now_ms: i64) -> Bucket {
        Bucket {
            tokens: limit.burst,
            updated_ms: now_ms,
        }
    }

    fn refill(&mut self, limit: Limit, now_ms: i64) {
        let elapsed = (now_ms - self.updated_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * limit.rate).min(limit.burst);
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// Takes a token at `now_ms` if there is one.
    pub fn take(&mut self, limit: Limit, now_ms: i64) -> Decision {
        self.refill(limit, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Decision::Allowed(self.quota(limit))
        } else {
            let wait = (1.0 - self.tokens) / limit.rate;
            Decision::Limited {
                retry_after_seconds: (wait.ceil() as u64).max(1),
                quota: self.quota(limit),
            }
        }
    }

    /// A bucket as stored: its tokens at `updated_ms`.
    pub fn stored(tokens: f64, updated_ms: i64) -> Bucket {
        Bucket { tokens, updated_ms }
    }

    /// Its tokens and when they were counted, to store.
    pub fn parts(&self) -> (f64, i64) {
        (self.tokens, self.updated_ms)
    }

    /// Takes up to `want` tokens at `now_ms` (several nodes lease tokens from one shared
    /// bucket): how many it took, and the decision for the first of them.
    pub fn take_up_to(&mut self, limit: Limit, now_ms: i64, want: u32) -> (u32, Decision) {
        let first = self.take(limit, now_ms);
        if !matches!(first, Decision::Allowed(_)) {
            return (0, first);
        }
        let more = (self.tokens.floor().max(0.0) as u32).min(want.saturating_sub(1));
        self.tokens -= f64::from(more);
        (1 + more, first)
    }

    /// Returns a token taken for a request that was then refused for another reason (a
    /// refused request changes nothing); the quota after it.
    pub fn give_back(&mut self, limit: Limit) -> Quota {
        self.tokens = (self.tokens + 1.0).min(limit.burst);
        self.quota(limit)
    }

    fn quota(&self, limit: Limit) -> Quota {
        Quota {
            limit: limit.burst as u32,
            window_seconds: (limit.burst / limit.rate).ceil().max(1.0) as u64,
            remaining: self.tokens.floor().max(0.0) as u32,
            reset_seconds: ((limit.burst - self.tokens) / limit.rate).ceil().max(0.0) as u64,
        }
    }
}

/// What the `RateLimit-Policy` / `RateLimit` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per window (the burst).
    pub limit: u32,
    /// The window, seconds.
    pub window_seconds: u64,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_seconds: u64,
}

/// The outcome of taking a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed(Quota),
    /// Refused: retry after this many whole seconds (≥ 1).
    Limited {
        /// `Retry-After`.
        retry_after_seconds: u64,
        /// The quota now.
        quota: Quota,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_given_back_is_there_again_but_never_above_the_burst() {
        let limit = Limit::per_second(2).unwrap();
        let mut b = Bucket::full(limit, 0);
        assert!(matches!(b.take(limit, 0), Decision::Allowed(q) if q.remaining == 1));
        assert_eq!(b.give_back(limit).remaining, 2);
        assert_eq!(b.give_back(limit).remaining, 2, "capped at the burst");
    }

    #[test]
    fn ten_per_second_with_a_burst_of_ten() {
        let limit = Limit::per_second(10).unwrap();
        let mut b = Bucket::full(limit, 0);
        for i in 0..10 {
            assert!(matches!(b.take(limit, 0), Decision::Allowed(q) if q.remaining == 9 - i));
        }
        assert_eq!(
            b.take(limit, 0),
            Decision::Limited {
                retry_after_seconds: 1,
                quota: Quota {
                    limit: 10,
                    window_seconds: 1,
                    remaining: 0,
                    reset_seconds: 1
                }
            }
        );
        // 100 ms later one token is back.
        assert!(matches!(b.take(limit, 100), Decision::Allowed(_)));
        assert!(matches!(b.take(limit, 100), Decision::Limited { .. }));
        // Never more than the burst.
        assert!(matches!(b.take(limit, 60_000), Decision::Allowed(q) if q.remaining == 9));
        assert_eq!(Limit::per_second(0), None);
    }

    #[test]
    fn tokens_are_leased_up_to_what_the_bucket_holds() {
        let limit = Limit::per_second(10).unwrap();
        let mut b = Bucket::full(limit, 0);
        let (got, first) = b.take_up_to(limit, 0, 4);
        assert_eq!(got, 4);
        assert!(matches!(first, Decision::Allowed(q) if q.remaining == 9));
        assert_eq!(b.take_up_to(limit, 0, 100).0, 6, "what is left");
        assert!(matches!(
            b.take_up_to(limit, 0, 3),
            (0, Decision::Limited { .. })
        ));
        // Stored and read back, the bucket goes on where it was.
        let (tokens, at) = b.parts();
        let mut again = Bucket::stored(tokens, at);
        assert_eq!(again.take_up_to(limit, 200, 5).0, 2, "two tokens in 200 ms");
    }

    #[test]
    fn retry_after_is_whole_seconds_from_the_bucket() {
        let limit = Limit {
            rate: 0.25,
            burst: 1.0,
        };
        let mut b = Bucket::full(limit, 0);
        assert!(matches!(b.take(limit, 0), Decision::Allowed(_)));
        assert!(matches!(
            b.take(limit, 0),
            Decision::Limited {
                retry_after_seconds: 4,
                ..
            }
        ));
        assert!(matches!(
            b.take(limit, 2500),
            Decision::Limited {
                retry_after_seconds: 2,
                ..
            }
        ));
        assert!(matches!(b.take(limit, 4000), Decision::Allowed(_)));
    }
}
