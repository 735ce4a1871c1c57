//! Background tasks (the write queue's worker, the reminder scheduler) outlive a panic: it is
//! caught, logged as `[ERROR]`, and the task is started again, so one bug cannot silently stop
//! every later retry or reminder of the process.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;

use crate::logger;

/// Pause before a restart, so a task that panics at once does not spin.
const RESTART_DELAY: Duration = Duration::from_millis(100);

/// Spawns the task `start` makes, and a new one each time it panics, until one returns.
pub fn spawn_supervised<F, Fut>(name: &'static str, mut start: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Err(panic) = AssertUnwindSafe(start()).catch_unwind().await {
            logger::error(&format!(
                "WebhookSDK: the {name} panicked ({}); restarting it",
                panic_message(panic.as_ref())
            ));
            tokio::time::sleep(RESTART_DELAY).await;
        }
    })
}

/// The text a panic was raised with, when it has one.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_panicking_task_is_restarted_until_it_returns() {
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = starts.clone();
        let task = spawn_supervised("test task", move || {
            let start = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if start < 2 {
                    panic!("bug number {start}");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "no message");
    }
}
