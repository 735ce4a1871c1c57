//! The bridge for calling a JS function from Rust and awaiting the promise it returns.
//!
//! The JS glue wraps every user callback so that it never throws and always returns a promise
//! resolving to `null` (success) or the error's message: a synchronous throw inside a
//! threadsafe-function call could otherwise abort the process (napi-rs #2174). The function is
//! held weakly (it does not keep the event loop alive) and dropped on `close()`.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;

/// A JS function `(arg: T) => Promise<string | null>`.
pub type JsCallbackFn<T> = ThreadsafeFunction<T, Promise<Option<String>>, T, Status, false, true>;

pub struct JsCallback<T: 'static + napi::bindgen_prelude::JsValuesTupleIntoVec> {
    function: Mutex<Option<Arc<JsCallbackFn<T>>>>,
}

impl<T: 'static + napi::bindgen_prelude::JsValuesTupleIntoVec> JsCallback<T> {
    pub fn new(function: JsCallbackFn<T>) -> Self {
        Self {
            function: Mutex::new(Some(Arc::new(function))),
        }
    }

    /// Calls the function and waits for its promise. `Err` carries the message of whatever the
    /// user's callback threw or rejected with, or why it could not be called.
    pub async fn call(&self, arg: T) -> Result<(), String> {
        let function = self
            .function
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(function) = function else {
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

    /// Drops the function so nothing of it outlives `close()`.
    pub fn release(&self) {
        self.function
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}
