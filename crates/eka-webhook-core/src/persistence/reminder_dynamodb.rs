//! `ReminderStore` on DynamoDB: table `eka_webhook_reminder` (HASH `id`), with the GSI
//! `status_run_at_index` (HASH `status`, RANGE `run_at`) that the claim queries. A row is
//! claimed by a conditional UpdateItem on the `status`, `run_at` and `attempt` that the query
//! saw, so of several instances that saw the same row exactly one wins it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, GlobalSecondaryIndex, KeyType, Projection, ProjectionType, ReturnValue,
    ScalarAttributeType, TableStatus,
};
use rand::seq::SliceRandom;

use super::dynamodb::{
    attribute, build_error, key, number, DynamoDbStore, ACTIVE_POLLS, ACTIVE_POLL_INTERVAL,
};
use super::reminder_store::{
    clip_error, status, FireOutcome, NewReminder, ReminderRow, ReminderStore, REMINDER_TABLE_NAME,
};
use super::PersistenceError;

pub const STATUS_RUN_AT_INDEX: &str = "status_run_at_index";
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

type Item = HashMap<String, AttributeValue>;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn row_of(item: &Item) -> Option<ReminderRow> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let int = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    Some(ReminderRow {
        id: text("id")?,
        appointment_id: text("appointment_id")?,
        name: text("name")?,
        due_at: int("due_at")?,
        run_at: int("run_at")?,
        before_start: int("before_start"),
        status: text("status")?,
        attempt: int("attempt")?,
        fired_at: int("fired_at"),
        last_error: text("last_error"),
        created_at: int("created_at").unwrap_or(0),
    })
}

impl DynamoDbStore {
    async fn reminder_table_status(&self) -> Result<Option<TableStatus>, PersistenceError> {
        let result = self
            .client()
            .await
            .describe_table()
            .table_name(REMINDER_TABLE_NAME)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.table.and_then(|t| t.table_status)),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(self.map_error("DescribeTable (reminders)", err)),
        }
    }

    /// Every item matching `filter` (a Scan: cancel, re-arm and list are rare next to claims).
    async fn scan_reminders(
        &self,
        filter: Option<&str>,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>, PersistenceError> {
        let mut request = self
            .client()
            .await
            .scan()
            .table_name(REMINDER_TABLE_NAME)
            .consistent_read(true)
            .set_filter_expression(filter.map(str::to_string));
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(*placeholder, value.clone());
        }
        let items = request.into_paginator().items().send().try_collect().await;
        items.map_err(|e| self.map_error("Scan (reminders)", e))
    }

    /// Due items of one status, earliest first.
    async fn query_due(
        &self,
        of_status: &str,
        now: i64,
        limit: i32,
    ) -> Result<Vec<Item>, PersistenceError> {
        let page = self
            .client()
            .await
            .query()
            .table_name(REMINDER_TABLE_NAME)
            .index_name(STATUS_RUN_AT_INDEX)
            .key_condition_expression("#s = :s AND run_at <= :now")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(of_status))
            .expression_attribute_values(":now", number(now))
            .limit(limit)
            .send()
            .await
            .map_err(|e| self.map_error("Query (due reminders)", e))?;
        Ok(page.items.unwrap_or_default())
    }

    /// Runs a conditional UpdateItem; `Ok(None)` when the condition failed. Every one tests the
    /// status, so `#s` stands for `status` (a reserved word in DynamoDB) in both expressions.
    async fn update_if(
        &self,
        id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Item>, PersistenceError> {
        let mut request = self
            .client()
            .await
            .update_item()
            .table_name(REMINDER_TABLE_NAME)
            .key("id", s(id))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .expression_attribute_names("#s", "status");
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err) if err.code() == Some(CONDITION_FAILED) => Ok(None),
            Err(err) => Err(self.map_error("UpdateItem (reminder)", err)),
        }
    }
}

#[async_trait]
impl ReminderStore for DynamoDbStore {
    async fn ensure_reminder_table(&self) -> Result<(), PersistenceError> {
        if self.reminder_table_status().await?.is_none() {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(STATUS_RUN_AT_INDEX)
                .key_schema(key("status", KeyType::Hash)?)
                .key_schema(key("run_at", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)?;
            let operation = "CreateTable (reminders)";
            self.create_table(operation, REMINDER_TABLE_NAME, "id", |request| {
                Ok(request
                    .attribute_definitions(attribute("status", ScalarAttributeType::S)?)
                    .attribute_definitions(attribute("run_at", ScalarAttributeType::N)?)
                    .global_secondary_indexes(gsi))
            })
            .await?;
        }
        for attempt in 0..ACTIVE_POLLS {
            if attempt > 0 {
                tokio::time::sleep(ACTIVE_POLL_INTERVAL).await;
            }
            if self.reminder_table_status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
        }
        Err(PersistenceError::IndexNotReady(format!(
            "DynamoDB table {REMINDER_TABLE_NAME} is not ACTIVE yet"
        )))
    }

    async fn insert_reminder(
        &self,
        r: &NewReminder,
        now: i64,
    ) -> Result<ReminderRow, PersistenceError> {
        let mut put = self
            .client()
            .await
            .put_item()
            .table_name(REMINDER_TABLE_NAME)
            .item("id", s(&r.id))
            .item("appointment_id", s(&r.appointment_id))
            .item("name", s(&r.name))
            .item("due_at", number(r.due_at))
            .item("run_at", number(r.due_at))
            .item("status", s(status::PENDING))
            .item("attempt", number(0))
            .item("created_at", number(now))
            .condition_expression("attribute_not_exists(id)");
        if let Some(before) = r.before_start {
            put = put.item("before_start", number(before));
        }
        match put.send().await {
            Ok(_) => {}
            Err(err) if err.code() == Some(CONDITION_FAILED) => {
                let rearmed = self
                    .update_if(
                        &r.id,
                        "SET #s = :p, attempt = :zero, run_at = due_at REMOVE fired_at, last_error",
                        "#s IN (:f, :m, :c)",
                        vec![
                            (":p", s(status::PENDING)),
                            (":zero", number(0)),
                            (":f", s(status::FAILED)),
                            (":m", s(status::MISSED)),
                            (":c", s(status::CANCELLED)),
                        ],
                    )
                    .await?;
                if let Some(row) = rearmed.as_ref().and_then(row_of) {
                    return Ok(row);
                }
            }
            Err(err) => return Err(self.map_error("PutItem (reminder)", err)),
        }
        let got = self
            .client()
            .await
            .get_item()
            .table_name(REMINDER_TABLE_NAME)
            .key("id", s(&r.id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_error("GetItem (reminder)", e))?;
        got.item.as_ref().and_then(row_of).ok_or_else(|| {
            PersistenceError::Database(format!("reminder {} vanished after its insert", r.id))
        })
    }

    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ReminderRow>, PersistenceError> {
        let mut claimed = Vec::new();
        for of_status in [status::PENDING, status::RUNNING] {
            let wanted = limit as usize - claimed.len();
            if wanted == 0 {
                break;
            }
            let mut seen: Vec<ReminderRow> = self
                .query_due(of_status, now, wanted as i32)
                .await?
                .iter()
                .filter_map(row_of)
                .collect();
            // Instances that read the same due rows try them in different orders, so fewer of
            // their conditional updates collide.
            seen.shuffle(&mut rand::rng());
            // A row this call just claimed is never claimed again by it (with a lease that has
            // already run out it would show up among the running ones).
            seen.retain(|row| !claimed.iter().any(|c: &ReminderRow| c.id == row.id));
            for item in seen {
                let won = self
                    .update_if(
                        &item.id,
                        "SET #s = :running, attempt = attempt + :one, run_at = :lease",
                        "#s = :seen AND run_at = :run AND attempt = :attempt",
                        vec![
                            (":running", s(status::RUNNING)),
                            (":one", number(1)),
                            (":lease", number(lease_until)),
                            (":seen", s(of_status)),
                            (":run", number(item.run_at)),
                            (":attempt", number(item.attempt)),
                        ],
                    )
                    .await?;
                if let Some(row) = won.as_ref().and_then(row_of) {
                    claimed.push(row);
                }
            }
        }
        Ok(claimed)
    }

    async fn finish_fire(
        &self,
        claimed: &ReminderRow,
        fired_at: i64,
        outcome: &FireOutcome,
    ) -> Result<bool, PersistenceError> {
        let mut values = vec![
            (":running", s(status::RUNNING)),
            (":attempt", number(claimed.attempt)),
            (":fired", number(fired_at)),
        ];
        let update = match outcome {
            FireOutcome::Finished { status, error } => {
                values.push((":new", s(status)));
                match error {
                    Some(e) => {
                        values.push((":err", s(&clip_error(e))));
                        "SET #s = :new, fired_at = :fired, last_error = :err"
                    }
                    None => "SET #s = :new, fired_at = :fired REMOVE last_error",
                }
            }
            FireOutcome::Retry { run_at, error } => {
                values.push((":new", s(status::PENDING)));
                values.push((":run", number(*run_at)));
                values.push((":err", s(&clip_error(error))));
                "SET #s = :new, fired_at = :fired, last_error = :err, run_at = :run"
            }
        };
        let condition = "#s = :running AND attempt = :attempt";
        Ok(self
            .update_if(&claimed.id, update, condition, values)
            .await?
            .is_some())
    }

    async fn cancel_reminders(&self, appointment_id: &str) -> Result<u64, PersistenceError> {
        let names = [("#s", "status")];
        let values = [(":a", s(appointment_id)), (":p", s(status::PENDING))];
        let items = self
            .scan_reminders(Some("appointment_id = :a AND #s = :p"), &names, &values)
            .await?;
        let mut cancelled = 0;
        for row in items.iter().filter_map(row_of) {
            let values = vec![(":p", s(status::PENDING)), (":c", s(status::CANCELLED))];
            if self
                .update_if(&row.id, "SET #s = :c", "#s = :p", values)
                .await?
                .is_some()
            {
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    async fn rearm_reminders(
        &self,
        from: &str,
        to: &str,
        start_ms: i64,
    ) -> Result<u64, PersistenceError> {
        let names = [("#s", "status")];
        let values = [(":a", s(from)), (":p", s(status::PENDING))];
        let filter = "appointment_id = :a AND #s = :p AND attribute_exists(before_start)";
        let items = self.scan_reminders(Some(filter), &names, &values).await?;
        let mut moved = 0;
        for row in items.iter().filter_map(row_of) {
            let Some(before) = row.before_start else {
                continue;
            };
            let due = start_ms - before * 1000;
            let values = vec![
                (":p", s(status::PENDING)),
                (":to", s(to)),
                (":due", number(due)),
            ];
            let update = "SET appointment_id = :to, due_at = :due, run_at = :due";
            if self
                .update_if(&row.id, update, "#s = :p", values)
                .await?
                .is_some()
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn list_reminders(
        &self,
        appointment_id: Option<&str>,
        of_status: Option<&str>,
    ) -> Result<Vec<ReminderRow>, PersistenceError> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(a) = appointment_id {
            clauses.push("appointment_id = :a");
            values.push((":a", s(a)));
        }
        if let Some(st) = of_status {
            clauses.push("#s = :s");
            values.push((":s", s(st)));
        }
        let filter = (!clauses.is_empty()).then(|| clauses.join(" AND "));
        let names: &[(&str, &str)] = if of_status.is_some() {
            &[("#s", "status")]
        } else {
            &[]
        };
        let items = self
            .scan_reminders(filter.as_deref(), names, &values)
            .await?;
        let mut rows: Vec<ReminderRow> = items.iter().filter_map(row_of).collect();
        rows.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(rows)
    }

    async fn next_run_at(&self) -> Result<Option<i64>, PersistenceError> {
        let mut next: Option<i64> = None;
        for of_status in [status::PENDING, status::RUNNING] {
            let first = self.query_due(of_status, i64::MAX, 1).await?;
            if let Some(run_at) = first.iter().filter_map(row_of).map(|r| r.run_at).next() {
                next = Some(next.map_or(run_at, |n| n.min(run_at)));
            }
        }
        Ok(next)
    }
}
