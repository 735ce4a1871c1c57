//! DynamoDB backend of the schedule table, wire-compatible with the Python SDK 0.1.4
//! (`eka_webhook_sdk/persistence/dynamodb.py`): same table, key, GSI, billing mode, attribute
//! names and types, and the same UpdateItem expressions, so both SDKs can share one table.
//!
//! The client is built on the first call (loading the standard AWS configuration chain is
//! async), once, and shared; constructing the store never blocks. No single DynamoDB call,
//! retries included, takes longer than the configured connect timeout, so a DynamoDB endpoint
//! that is down delays a webhook by at most that.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::Region;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider as TlsProvider};
use tokio::sync::OnceCell;

use super::ledger::{Claim, ClaimWindow, DeliveryStore, DELIVERY_TABLE_NAME, STATUS_DONE};
use super::{
    AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME,
};
use crate::config::DynamodbConfig;
use crate::logger;

/// The GSI the range query reads: HASH `status` (S), RANGE `start_time` (N), INCLUDE `visit_type`.
pub const STATUS_START_TIME_INDEX: &str = "status_start_time_index";

/// After CreateTable, DescribeTable is polled until ACTIVE at most this many times, one second
/// apart (the Python SDK's "max ~30s"); then `ensure_table` returns anyway, as Python does.
pub(super) const ACTIVE_POLLS: u32 = 30;
pub(super) const ACTIVE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Retries are kept short: persistence is auxiliary and must not hold a webhook up.
const MAX_ATTEMPTS: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Error codes DynamoDB (and the AWS front end) answer when the credentials or the signature
/// are rejected.
const AUTH_ERROR_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "MissingAuthenticationToken",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "AccessDeniedException",
];

pub struct DynamoDbStore {
    config: DynamodbConfig,
    client: OnceCell<Client>,
    query_page_limit: Option<i32>,
    /// Set once the delivery ledger's table exists; a failure is retried on the next claim.
    ledger_ready: OnceCell<()>,
}

impl fmt::Debug for DynamoDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `DynamodbConfig`'s secret key is a `Secret`, whose Debug is redacted.
        f.debug_struct("DynamoDbStore")
            .field("config", &self.config)
            .field("client_ready", &self.client.initialized())
            .finish()
    }
}

impl DynamoDbStore {
    /// Does no I/O: the client is built on the first call.
    pub fn new(config: DynamodbConfig) -> Self {
        Self {
            config,
            client: OnceCell::new(),
            query_page_limit: None,
            ledger_ready: OnceCell::new(),
        }
    }

    /// Test knob: caps the items per Query page (DynamoDB's `Limit`) so that pagination is
    /// exercised with few rows. Production code never sets it.
    #[doc(hidden)]
    pub fn with_query_page_limit(mut self, limit: i32) -> Self {
        self.query_page_limit = Some(limit);
        self
    }

    pub(super) async fn client(&self) -> &Client {
        self.client.get_or_init(|| build_client(&self.config)).await
    }

    /// Where requests go, for error messages (an endpoint URL or the region; never a secret).
    fn target(&self) -> String {
        match &self.config.endpoint {
            Some(endpoint) => format!("endpoint {endpoint}"),
            None => format!("region {}", self.config.region),
        }
    }

    pub(super) fn map_error<E>(&self, operation: &str, err: SdkError<E>) -> PersistenceError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let context = format!("DynamoDB {operation} ({})", self.target());
        match &err {
            SdkError::ServiceError(service) => classify_service_error(
                &context,
                service.raw().status().as_u16(),
                err.code().unwrap_or("Unknown"),
                err.message().unwrap_or(""),
            ),
            SdkError::TimeoutError(_) => PersistenceError::Unreachable(format!(
                "{context} timed out after {:?}",
                self.config.connect_timeout
            )),
            SdkError::DispatchFailure(_) if chain_has::<CredentialsError>(&err) => PersistenceError::Auth(format!(
                "{context}: no usable AWS credentials (pass accessKeyId/secretAccessKey or configure the standard AWS chain): {}",
                DisplayErrorContext(&err)
            )),
            SdkError::DispatchFailure(_) => {
                PersistenceError::Unreachable(format!("{context}: {}", DisplayErrorContext(&err)))
            }
            _ => PersistenceError::Database(format!("{context} failed: {}", DisplayErrorContext(&err))),
        }
    }

    async fn describe_table(&self) -> Result<Option<TableDescription>, PersistenceError> {
        self.describe(SCHEDULE_TABLE_NAME).await
    }

    async fn describe(&self, table: &str) -> Result<Option<TableDescription>, PersistenceError> {
        let result = self
            .client()
            .await
            .describe_table()
            .table_name(table)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.table),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(self.map_error("DescribeTable", err)),
        }
    }

    /// CreateTable exactly as the Python SDK issues it.
    async fn create_schedule_table(&self) -> Result<(), PersistenceError> {
        let gsi = status_start_time_index!(GlobalSecondaryIndex)?;
        self.create_table(
            "CreateTable",
            SCHEDULE_TABLE_NAME,
            "appointment_id",
            |request| {
                let request = gsi_attributes()?
                    .into_iter()
                    .fold(request, |request, a| request.attribute_definitions(a));
                Ok(request.global_secondary_indexes(gsi))
            },
        )
        .await
    }

    /// CreateTable of `table`: HASH key `hash_key` (a string), billed on demand, with what
    /// `define` adds. Another process (perhaps the Python SDK) creating it between our
    /// DescribeTable and CreateTable is the same outcome, so that is success too.
    pub(super) async fn create_table(
        &self,
        operation: &str,
        table: &str,
        hash_key: &str,
        define: impl FnOnce(
            CreateTableFluentBuilder,
        ) -> Result<CreateTableFluentBuilder, PersistenceError>,
    ) -> Result<(), PersistenceError> {
        let request = self
            .client()
            .await
            .create_table()
            .table_name(table)
            .attribute_definitions(attribute(hash_key, ScalarAttributeType::S)?)
            .key_schema(key(hash_key, KeyType::Hash)?)
            .billing_mode(BillingMode::PayPerRequest);
        match define(request)?.send().await {
            Err(err) if err.code() != Some("ResourceInUseException") => {
                Err(self.map_error(operation, err))
            }
            _ => Ok(()),
        }
    }

    /// UpdateTable adding the GSI to a table created without it (as Python does; the index
    /// builds asynchronously, which can take minutes on a large table).
    async fn add_gsi(&self) -> Result<(), PersistenceError> {
        let create = status_start_time_index!(CreateGlobalSecondaryIndexAction)?;
        self.client()
            .await
            .update_table()
            .table_name(SCHEDULE_TABLE_NAME)
            .set_attribute_definitions(Some(gsi_attributes()?))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.map_error("UpdateTable (add GSI)", err))
    }

    async fn wait_until_active(&self, table_name: &str) -> Result<(), PersistenceError> {
        for attempt in 0..ACTIVE_POLLS {
            if attempt > 0 {
                tokio::time::sleep(ACTIVE_POLL_INTERVAL).await;
            }
            let table = self.describe(table_name).await?;
            if table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
        }
        logger::warn(&format!(
            "WebhookSDK: DynamoDB table {table_name} is not ACTIVE after {ACTIVE_POLLS} s; continuing"
        ));
        Ok(())
    }

    /// An UpdateItem of one row of the schedule table.
    async fn update_schedule_row(&self, appointment_id: &str) -> UpdateItemFluentBuilder {
        self.client()
            .await
            .update_item()
            .table_name(SCHEDULE_TABLE_NAME)
            .key(
                "appointment_id",
                AttributeValue::S(appointment_id.to_string()),
            )
    }

    /// `true` when the item existed (the update ran), `false` when the condition
    /// `attribute_exists(appointment_id)` failed.
    async fn update_existing(
        &self,
        operation: &str,
        appointment_id: &str,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, PersistenceError> {
        let mut request = self
            .update_schedule_row(appointment_id)
            .await
            .update_expression(expression)
            .condition_expression("attribute_exists(appointment_id)");
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(err) => Err(self.map_error(operation, err)),
        }
    }

    /// Every `(start_time, appointment_id)` of `status` in the inclusive window, following
    /// `LastEvaluatedKey` to the last page. `visit_type` filters on the projected attribute.
    async fn query_ids_by_status(
        &self,
        status: &str,
        start_time: i64,
        end_time: i64,
        visit_type: Option<&str>,
    ) -> Result<Vec<(i64, String)>, PersistenceError> {
        let mut request = self
            .client()
            .await
            .query()
            .table_name(SCHEDULE_TABLE_NAME)
            .index_name(STATUS_START_TIME_INDEX)
            .key_condition_expression("#s = :s AND #st BETWEEN :start AND :end")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#st", "start_time")
            .expression_attribute_values(":s", AttributeValue::S(status.to_string()))
            .expression_attribute_values(":start", number(start_time))
            .expression_attribute_values(":end", number(end_time))
            .projection_expression("appointment_id, #st")
            .set_limit(self.query_page_limit);
        if let Some(visit_type) = visit_type {
            request = request
                .filter_expression("#vt = :vt")
                .expression_attribute_names("#vt", "visit_type")
                .expression_attribute_values(":vt", AttributeValue::S(visit_type.to_string()));
        }
        let items = match request.into_paginator().items().send().try_collect().await {
            Ok(items) => items,
            Err(err) => return Err(self.query_error(status, err).await),
        };
        let start_and_id = items.iter().filter_map(|item| {
            let id = item.get("appointment_id")?.as_s().ok()?;
            let start = item.get("start_time")?.as_n().ok()?.parse::<i64>().ok()?;
            Some((start, id.clone()))
        });
        Ok(start_and_id.collect())
    }

    /// A Query error; a GSI that is missing or still building becomes `IndexNotReady`, with
    /// its state from DescribeTable when that can be read.
    async fn query_error<E>(&self, status: &str, err: SdkError<E>) -> PersistenceError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mapped = self.map_error(&format!("Query (status={status})"), err);
        let PersistenceError::IndexNotReady(reason) = mapped else {
            return mapped;
        };
        let state = match self.describe_table().await {
            Ok(Some(table)) => describe_gsi_state(&table),
            Ok(None) => format!("table {SCHEDULE_TABLE_NAME} does not exist"),
            Err(_) => "its state could not be read".to_string(),
        };
        PersistenceError::IndexNotReady(format!("{reason}; {state}"))
    }
}

#[async_trait]
impl ScheduleStore for DynamoDbStore {
    async fn ensure_table(&self) -> Result<(), PersistenceError> {
        let existing = self.describe_table().await.inspect_err(|err| {
            logger::error(&format!(
                "WebhookSDK: DynamoDB DescribeTable failed for {SCHEDULE_TABLE_NAME}: {err}"
            ));
        })?;
        if let Some(table) = existing {
            check_compatible(&table)?;
            if !has_gsi(&table) {
                logger::log(&format!(
                    "WebhookSDK: DynamoDB table {SCHEDULE_TABLE_NAME} is missing GSI {STATUS_START_TIME_INDEX}; \
                     submitting UpdateTable. Index creation runs asynchronously and may take several minutes \
                     — find_appointments_between will fail until the index is ACTIVE."
                ));
                self.add_gsi().await.inspect_err(|err| {
                    logger::error(&format!(
                        "WebhookSDK: DynamoDB UpdateTable (add GSI) failed for {SCHEDULE_TABLE_NAME}: {err}"
                    ));
                })?;
            }
            return Ok(());
        }
        self.create_schedule_table().await.inspect_err(|err| {
            logger::error(&format!(
                "WebhookSDK: DynamoDB CreateTable failed for {SCHEDULE_TABLE_NAME}: {err}"
            ));
        })?;
        self.wait_until_active(SCHEDULE_TABLE_NAME).await
    }

    /// The Python SDK's UpdateItem: `created_at` only when absent (`if_not_exists`), `p_aid`
    /// only when given, `reminder_sent_at` untouched.
    async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError> {
        let mut expression =
            "SET start_time = :st, end_time = :et, #s = :s, visit_type = :vt, created_at = if_not_exists(created_at, :now)"
                .to_string();
        let mut request = self
            .update_schedule_row(&record.appointment_id)
            .await
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":st", number(record.start_time))
            .expression_attribute_values(":et", number(record.end_time))
            .expression_attribute_values(":s", AttributeValue::S(record.status.clone()))
            .expression_attribute_values(":vt", AttributeValue::S(record.visit_type.clone()))
            .expression_attribute_values(":now", number(crate::signature::unix_now()));
        if let Some(p_aid) = record.p_aid.as_deref().filter(|p| !p.is_empty()) {
            expression.push_str(", p_aid = :paid");
            request =
                request.expression_attribute_values(":paid", AttributeValue::S(p_aid.to_string()));
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                let err = self.map_error("UpdateItem (upsert)", err);
                logger::error(&format!(
                    "WebhookSDK: DynamoDB upsert failed for appointment_id={}: {err}",
                    record.appointment_id
                ));
                err
            })
    }

    async fn update_status(
        &self,
        appointment_id: &str,
        status: &str,
    ) -> Result<bool, PersistenceError> {
        self.update_existing(
            "UpdateItem (status)",
            appointment_id,
            "SET #s = :s",
            &[("#s", "status")],
            vec![(":s", AttributeValue::S(status.to_string()))],
        )
        .await
    }

    async fn mark_reminder_sent(
        &self,
        appointment_id: &str,
        now: i64,
    ) -> Result<bool, PersistenceError> {
        self.update_existing(
            "UpdateItem (reminder_sent)",
            appointment_id,
            "SET reminder_sent_at = :ts",
            &[],
            vec![(":ts", number(now))],
        )
        .await
    }

    async fn find_appointment_ids_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentIdsBetween, PersistenceError> {
        let (booked, followup) = tokio::try_join!(
            self.query_ids_by_status("BK", start_time, end_time, None),
            self.query_ids_by_status("IN", start_time, end_time, Some("FLW")),
        )?;
        Ok(AppointmentIdsBetween {
            appointments: sorted_ids(booked),
            followup_appointments: sorted_ids(followup),
        })
    }

    async fn close(&self) {}
}

impl DynamoDbStore {
    /// The ledger's table (HASH `id`, on demand), made on first use.
    async fn ensure_ledger_table(&self) -> Result<(), PersistenceError> {
        let ensure = || async {
            if self.describe(DELIVERY_TABLE_NAME).await?.is_some() {
                return Ok(());
            }
            self.create_table("CreateTable (ledger)", DELIVERY_TABLE_NAME, "id", Ok)
                .await?;
            self.wait_until_active(DELIVERY_TABLE_NAME).await
        };
        self.ledger_ready.get_or_try_init(ensure).await.map(drop)
    }
}

#[async_trait]
impl DeliveryStore for DynamoDbStore {
    /// A conditional PutItem: absent, a stale claim, or expired.
    async fn claim(
        &self,
        id: &str,
        event: &str,
        w: ClaimWindow,
    ) -> Result<Claim, PersistenceError> {
        self.ensure_ledger_table().await?;
        let client = self.client().await;
        let put = client
            .put_item()
            .table_name(DELIVERY_TABLE_NAME)
            .item("id", AttributeValue::S(id.to_string()))
            .item("event", AttributeValue::S(event.to_string()))
            .item("received_at", number(w.now))
            .item("status", AttributeValue::S(w.status().into()))
            .condition_expression(
                "attribute_not_exists(id) OR (#s = :processing AND received_at < :stale) \
                 OR received_at < :expired",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":processing", AttributeValue::S("processing".into()))
            .expression_attribute_values(":stale", number(w.stale_before))
            .expression_attribute_values(":expired", number(w.expired_before))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Claimed),
            Err(SdkError::ServiceError(service))
                if service.err().is_conditional_check_failed_exception() =>
            {
                let existing = match service.into_err() {
                    PutItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                let status = existing.as_ref().and_then(|item| item.get("status"));
                match status.and_then(|s| s.as_s().ok()) {
                    Some(s) if s == STATUS_DONE => Ok(Claim::Done),
                    _ => Ok(Claim::InProgress),
                }
            }
            Err(err) => Err(self.map_error("PutItem (ledger)", err)),
        }
    }

    async fn finish(&self, id: &str) -> Result<(), PersistenceError> {
        self.ensure_ledger_table().await?;
        let update = self
            .client()
            .await
            .update_item()
            .table_name(DELIVERY_TABLE_NAME);
        update
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET #s = :done")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":done", AttributeValue::S(STATUS_DONE.into()))
            .send()
            .await
            .map(drop)
            .map_err(|err| self.map_error("UpdateItem (ledger)", err))
    }

    async fn release(&self, id: &str) -> Result<(), PersistenceError> {
        self.ensure_ledger_table().await?;
        let delete = self
            .client()
            .await
            .delete_item()
            .table_name(DELIVERY_TABLE_NAME);
        let deleted = delete
            .key("id", AttributeValue::S(id.to_string()))
            .condition_expression("#s = :processing")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":processing", AttributeValue::S("processing".into()))
            .send()
            .await;
        match deleted {
            Err(err) if err.code() != Some("ConditionalCheckFailedException") => {
                Err(self.map_error("DeleteItem (ledger)", err))
            }
            _ => Ok(()),
        }
    }

    /// Expired entries are overwritten by the next claim of their id; a DynamoDB TTL on
    /// `received_at` is the way to reclaim their space, and is left to the table's owner.
    async fn purge(&self, _before: i64) -> Result<(), PersistenceError> {
        Ok(())
    }
}

/// The client: explicit credentials when configured, else the standard chain (env, profile,
/// web identity, ECS, IMDS); the endpoint override for local servers; bounded timeouts.
async fn build_client(config: &DynamodbConfig) -> Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(TlsProvider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.connect_timeout)
        .operation_timeout(config.connect_timeout)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .http_client(http_client)
        .timeout_config(timeouts)
        .retry_config(retries);
    if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        loader = loader.credentials_provider(Credentials::from_keys(id, secret.expose(), None));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
}

/// A service error (HTTP status, error code, message) becomes the variant a caller can act on.
fn classify_service_error(
    context: &str,
    http_status: u16,
    code: &str,
    message: &str,
) -> PersistenceError {
    let detail = if message.is_empty() {
        format!("{code} (HTTP {http_status})")
    } else {
        format!("{code}: {message}")
    };
    // DynamoDB answers a bad key or signature with a 400 and one of these codes; a 401/403 whose
    // body could not be parsed (a proxy, or moto's XML error page) means the same.
    if AUTH_ERROR_CODES.contains(&code) || http_status == 401 || http_status == 403 {
        return PersistenceError::Auth(format!("{context}: {detail}"));
    }
    // A GSI that is still building ("Cannot read from backfilling global secondary index"), or
    // not there at all (DynamoDB: ValidationException "The table does not have the specified
    // index"; moto: ResourceNotFoundException "Invalid index").
    let lower = message.to_ascii_lowercase();
    let about_index = lower.contains("backfilling")
        || lower.contains("specified index")
        || (code == "ResourceNotFoundException" && message.contains(STATUS_START_TIME_INDEX));
    if about_index && (code == "ValidationException" || code == "ResourceNotFoundException") {
        return PersistenceError::IndexNotReady(format!(
            "{context}: GSI {STATUS_START_TIME_INDEX} of {SCHEDULE_TABLE_NAME} is missing or not ACTIVE yet \
             (after UpdateTable it builds asynchronously, which can take several minutes); \
             findAppointmentsBetween works once it is ACTIVE ({detail})"
        ));
    }
    if code == "ResourceNotFoundException" {
        return PersistenceError::Database(format!(
            "{context}: table {SCHEDULE_TABLE_NAME} not found (it is created on the first webhook or query): {detail}"
        ));
    }
    // The request itself is refused (an item or key too large, a value DynamoDB cannot store):
    // sending it again cannot succeed.
    if code == "ValidationException" {
        return PersistenceError::Rejected(format!("{context}: {detail}"));
    }
    PersistenceError::Database(format!("{context} failed: {detail}"))
}

fn describe_gsi_state(table: &TableDescription) -> String {
    match table
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(STATUS_START_TIME_INDEX))
    {
        None => format!("the table has no index {STATUS_START_TIME_INDEX}"),
        Some(gsi) => format!(
            "index status {}{}",
            gsi.index_status().map(|s| s.as_str()).unwrap_or("unknown"),
            if gsi.backfilling() == Some(true) {
                " (backfilling)"
            } else {
                ""
            }
        ),
    }
}

fn has_gsi(table: &TableDescription) -> bool {
    table
        .global_secondary_indexes()
        .iter()
        .any(|g| g.index_name() == Some(STATUS_START_TIME_INDEX))
}

/// A table under our name whose key (or GSI key) is not the one both SDKs write would fail on
/// every write; say so once, clearly, instead.
fn check_compatible(table: &TableDescription) -> Result<(), PersistenceError> {
    let keys = |schema: &[KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect()
    };
    let table_keys = keys(table.key_schema());
    if table_keys != [("appointment_id".to_string(), "HASH".to_string())] {
        return Err(PersistenceError::IncompatibleSchema(format!(
            "DynamoDB table {SCHEDULE_TABLE_NAME} has key schema {table_keys:?}; expected HASH appointment_id (S)"
        )));
    }
    let gsi = table
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(STATUS_START_TIME_INDEX));
    if let Some(gsi) = gsi {
        let gsi_keys = keys(gsi.key_schema());
        let expected = [
            ("status".to_string(), "HASH".to_string()),
            ("start_time".to_string(), "RANGE".to_string()),
        ];
        if gsi_keys != expected {
            return Err(PersistenceError::IncompatibleSchema(format!(
                "DynamoDB index {STATUS_START_TIME_INDEX} has key schema {gsi_keys:?}; expected HASH status (S), RANGE start_time (N)"
            )));
        }
    }
    Ok(())
}

fn sorted_ids(mut rows: Vec<(i64, String)>) -> Vec<String> {
    rows.sort();
    rows.into_iter().map(|(_, id)| id).collect()
}

pub(super) fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(super) fn attribute(
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, PersistenceError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(build_error)
}

pub(super) fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, PersistenceError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_error)
}

/// The status/start_time index, from CreateTable's or UpdateTable's builder: two SDK types with
/// the same setters and no trait in common.
macro_rules! status_start_time_index {
    ($index:ty) => {
        <$index>::builder()
            .index_name(STATUS_START_TIME_INDEX)
            .set_key_schema(Some(gsi_key_schema()?))
            .projection(gsi_projection())
            .build()
            .map_err(build_error)
    };
}
use status_start_time_index;

/// The attributes the index's keys use.
fn gsi_attributes() -> Result<Vec<AttributeDefinition>, PersistenceError> {
    Ok(vec![
        attribute("status", ScalarAttributeType::S)?,
        attribute("start_time", ScalarAttributeType::N)?,
    ])
}

fn gsi_key_schema() -> Result<Vec<KeySchemaElement>, PersistenceError> {
    Ok(vec![
        key("status", KeyType::Hash)?,
        key("start_time", KeyType::Range)?,
    ])
}

fn gsi_projection() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes("visit_type")
        .build()
}

pub(super) fn build_error(err: BuildError) -> PersistenceError {
    PersistenceError::Database(format!("DynamoDB request could not be built: {err}"))
}

fn chain_has<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_map_to_actionable_variants() {
        let ctx = "DynamoDB Query (endpoint http://x)";
        assert!(matches!(
            classify_service_error(
                ctx,
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid."
            ),
            PersistenceError::Auth(_)
        ));
        assert!(matches!(
            classify_service_error(
                ctx,
                400,
                "InvalidSignatureException",
                "The request signature we calculated does not match"
            ),
            PersistenceError::Auth(_)
        ));
        // What DynamoDB answers while a new GSI is still building, and before it exists.
        for message in [
            "Cannot read from backfilling global secondary index: status_start_time_index",
            "The table does not have the specified index: status_start_time_index",
        ] {
            match classify_service_error(ctx, 400, "ValidationException", message) {
                PersistenceError::IndexNotReady(text) => {
                    assert!(
                        text.contains("status_start_time_index") && text.contains("not ACTIVE yet"),
                        "{text}"
                    );
                }
                other => panic!("{message}: {other:?}"),
            }
        }
        // moto's answer for a missing index, and a 403 whose body is not DynamoDB's JSON.
        assert!(matches!(
            classify_service_error(
                ctx,
                400,
                "ResourceNotFoundException",
                "Invalid index: status_start_time_index for table: t"
            ),
            PersistenceError::IndexNotReady(_)
        ));
        assert!(matches!(
            classify_service_error(ctx, 403, "Unknown", ""),
            PersistenceError::Auth(_)
        ));
        match classify_service_error(
            ctx,
            400,
            "ResourceNotFoundException",
            "Requested resource not found",
        ) {
            PersistenceError::Database(text) => assert!(text.contains("not found"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_service_error(
                ctx,
                400,
                "ValidationException",
                "Invalid KeyConditionExpression"
            ),
            PersistenceError::Rejected(_)
        ));
    }

    #[test]
    fn ids_sort_by_start_time_then_id() {
        let rows = vec![
            (20, "b".to_string()),
            (10, "z".to_string()),
            (20, "a".to_string()),
        ];
        assert_eq!(sorted_ids(rows), ["z", "a", "b"]);
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let store = DynamoDbStore::new(DynamodbConfig {
            region: "eu-west-1".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(crate::secret::Secret::new("wJalrXUtnFEMI-very-secret")),
            endpoint: None,
            connect_timeout: Duration::from_secs(5),
        });
        let text = format!("{store:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("eu-west-1"), "{text}");
    }
}
