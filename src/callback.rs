//! The bridge for calling a JS function from Rust: awaiting the promise it returns, or (for
//! notices) not waiting at all.
//!
//! The JS glue wraps every user callback so that it never throws and always returns a promise
//! resolving to `null` (success) or the error's message (a notice function catches everything
//! itself): a synchronous throw inside a
//! threadsafe-function call could otherwise abort the process (napi-rs #2174). The function is
//! held weakly (it does not keep the event loop alive) and dropped on `close()`.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Promise, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;

/// A JS function `(arg: T) => Promise<string | null>`.
pub type JsCallbackFn<T> = ThreadsafeFunction<T, Promise<Option<String>>, T, Status, false, true>;
/// A JS function `(arg: T) => void` that is told something and not waited for.
pub type JsNotifyFn<T> = ThreadsafeFunction<T, Unknown<'static>, T, Status, false, true>;

/// A JS function, held until `release()`.
pub struct JsFunction<F> {
    function: Mutex<Option<Arc<F>>>,
}

/// A callback whose promise is awaited.
pub type JsCallback<T> = JsFunction<JsCallbackFn<T>>;
/// A function called without waiting for it (from code that must not wait for JS).
pub type JsNotify<T> = JsFunction<JsNotifyFn<T>>;

impl<F> JsFunction<F> {
    pub fn new(function: F) -> Self {
        Self {
            function: Mutex::new(Some(Arc::new(function))),
        }
    }

    /// The function, unless released.
    fn get(&self) -> Option<Arc<F>> {
        self.function
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Drops the function so nothing of it outlives `close()`.
    pub fn release(&self) {
        self.function
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

impl<T: 'static + napi::bindgen_prelude::JsValuesTupleIntoVec> JsCallback<T> {
    /// Calls the function and waits for its promise. `Err` carries the message of whatever the
    /// user's callback threw or rejected with, or why it could not be called.
    pub async fn call(&self, arg: T) -> Result<(), String> {
        let Some(function) = self.get() else {
            return Err("the SDK was closed before the callback could run".to_string());
        };
        let promise = function
            .call_async_catch(arg)
            .await
            .map_err(|e| e.reason.clone())?;
        match promise.await {
            Ok(None) => Ok(()),
            Ok(Some(message)) => Err(message),
            Err(e) => Err(e.reason.clone()),
        }
    }
}

impl<T: 'static + napi::bindgen_prelude::JsValuesTupleIntoVec> JsNotify<T> {
    /// Queues a call on the JS thread and returns at once; after `release()`, does nothing.
    pub fn notify(&self, arg: T) {
        if let Some(function) = self.get() {
            // A full or closing queue only loses the notice; the caller has logged it anyway.
            let _ = function.call(arg, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}
