//! A table's lazy creation, run once even under concurrent first calls: callers that arrive
//! while an attempt runs join it rather than queue behind it and each retry in turn (with the
//! database down, N concurrent webhooks then wait one connect timeout, not N). A failure is not
//! cached, so the next call retries.

use futures::future::{BoxFuture, FutureExt, Shared};

use super::PersistenceError;

/// One attempt, awaited by every caller that arrives while it runs.
type Attempt = Shared<BoxFuture<'static, Result<(), PersistenceError>>>;

enum State {
    NotReady,
    InFlight(Attempt),
    Ready,
}

pub struct Readiness(std::sync::Mutex<State>);

impl Default for Readiness {
    fn default() -> Self {
        Self(std::sync::Mutex::new(State::NotReady))
    }
}

impl Readiness {
    /// Ok once `create` has succeeded; otherwise joins the attempt in flight or starts one.
    pub async fn ensure(
        &self,
        create: impl FnOnce() -> BoxFuture<'static, Result<(), PersistenceError>>,
    ) -> Result<(), PersistenceError> {
        let attempt = {
            let mut state = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match &*state {
                State::Ready => return Ok(()),
                State::InFlight(attempt) => attempt.clone(),
                State::NotReady => {
                    let attempt = create().shared();
                    *state = State::InFlight(attempt.clone());
                    attempt
                }
            }
        };
        let result = attempt.clone().await;
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the attempt still on record decides: a later one may already be running.
        if matches!(&*state, State::InFlight(current) if current.ptr_eq(&attempt)) {
            *state = if result.is_ok() {
                State::Ready
            } else {
                State::NotReady
            };
        }
        result
    }
}
