//! `ReminderStore` for the SQL databases, over the dialect layer of `sql.rs`. The claim is one
//! transaction: read the due rows under the dialect's lock (`FOR UPDATE SKIP LOCKED` on MariaDB
//! ≥ 10.6 and PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds its single write lock), then mark
//! them running. Every other write is one conditional `UPDATE`.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

use super::reminder_store::{
    clip_error, status, FireOutcome, NewReminder, ReminderRow, ReminderStore, LAST_ERROR_MAX_CHARS,
    REMINDER_TABLE_NAME,
};
use super::sql::{
    column_definition, number_binds, Column, ColumnType, SqlDialect, SqlStore, TableSpec,
};
use super::PersistenceError;

const ID: Column = Column::new("id", ColumnType::VarChar(64), false);

const COLUMNS: [Column; 10] = [
    Column::new("appointment_id", ColumnType::VarChar(255), false),
    Column::new("name", ColumnType::VarChar(255), false),
    Column::new("due_at", ColumnType::BigInt, false),
    Column::new("run_at", ColumnType::BigInt, false),
    Column::new("before_start", ColumnType::BigInt, true),
    Column::new("status", ColumnType::VarChar(16), false),
    Column::new("attempt", ColumnType::BigInt, false),
    Column::new("fired_at", ColumnType::BigInt, true),
    Column::new(
        "last_error",
        ColumnType::VarChar(LAST_ERROR_MAX_CHARS as u16),
        true,
    ),
    Column::new("created_at", ColumnType::BigInt, false),
];

const TABLE: TableSpec = TableSpec {
    name: REMINDER_TABLE_NAME,
    key: ID,
    columns: &COLUMNS,
};

/// (name, columns): the claim reads by (status, run_at); cancel and re-arm by appointment.
const INDEXES: [(&str, &str); 2] = [
    ("idx_reminder_status_run_at", "status, run_at"),
    ("idx_reminder_appointment", "appointment_id"),
];

const SELECT_COLUMNS: &str =
    "SELECT id, appointment_id, name, due_at, run_at, before_start, status, \
     attempt, fired_at, last_error, created_at FROM eka_webhook_reminder";

type RowTuple = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
);

fn row_of(t: RowTuple) -> ReminderRow {
    ReminderRow {
        id: t.0,
        appointment_id: t.1,
        name: t.2,
        due_at: t.3,
        run_at: t.4,
        before_start: t.5,
        status: t.6,
        attempt: t.7,
        fired_at: t.8,
        last_error: t.9,
        created_at: t.10,
    }
}

fn create_table_sql<D: SqlDialect>() -> String {
    let mut lines = vec![format!("{} {} NOT NULL", ID.name, D::column_type(ID.ty))];
    lines.extend(COLUMNS.iter().map(column_definition::<D>));
    lines.push(format!("PRIMARY KEY ({})", ID.name));
    if D::INLINE_INDEX {
        lines.extend(
            INDEXES
                .iter()
                .map(|(name, columns)| format!("INDEX {name} ({columns})")),
        );
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {REMINDER_TABLE_NAME} (\n  {}\n)",
        lines.join(",\n  ")
    )
}

/// A statement's text with the dialect's binds; built from the constants here only.
fn sql<D: SqlDialect>(text: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(if D::NUMBERED_BINDS {
        number_binds(text)
    } else {
        text.to_string()
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl<D> ReminderStore for SqlStore<D>
where
    D: SqlDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> i64: Encode<'a, D> + Type<D>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D> + Type<D>,
    for<'a> Option<i64>: Encode<'a, D> + Type<D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    for<'r> i64: Decode<'r, D>,
    usize: ColumnIndex<D::Row>,
{
    async fn ensure_reminder_table(&self) -> Result<(), PersistenceError> {
        self.create(create_table_sql::<D>()).await?;
        self.add_missing_columns(&TABLE).await?;
        if !D::INLINE_INDEX {
            for (name, columns) in INDEXES {
                let ddl = format!(
                    "CREATE INDEX IF NOT EXISTS {name} ON {REMINDER_TABLE_NAME} ({columns})"
                );
                self.create(ddl).await?;
            }
        }
        Ok(())
    }

    async fn insert_reminder(
        &self,
        r: &NewReminder,
        now: i64,
    ) -> Result<ReminderRow, PersistenceError> {
        let (prefix, suffix) = D::INSERT_IGNORE;
        let insert = format!(
            "{prefix} INTO eka_webhook_reminder (id, appointment_id, name, due_at, run_at, \
             before_start, status, attempt, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?){suffix}"
        );
        self.affected(|| {
            sqlx::query(sql::<D>(&insert))
                .bind(r.id.as_str())
                .bind(r.appointment_id.as_str())
                .bind(r.name.as_str())
                .bind(r.due_at)
                .bind(r.due_at)
                .bind(r.before_start)
                .bind(now)
        })
        .await?;
        let rearm =
            "UPDATE eka_webhook_reminder SET status = 'pending', attempt = 0, run_at = due_at, \
             fired_at = NULL, last_error = NULL \
             WHERE id = ? AND status IN ('failed', 'missed', 'cancelled')";
        self.affected(|| sqlx::query(sql::<D>(rearm)).bind(r.id.as_str()))
            .await?;
        let select = format!("{SELECT_COLUMNS} WHERE id = ?");
        let row: RowTuple = self
            .bounded(
                sqlx::query_as(sql::<D>(&select))
                    .bind(r.id.as_str())
                    .fetch_one(self.pool()),
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(row_of(row))
    }

    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ReminderRow>, PersistenceError> {
        let select = format!(
            "{SELECT_COLUMNS} WHERE status IN ('pending', 'running') AND run_at <= ? \
             ORDER BY run_at LIMIT ?{}",
            D::CLAIM_LOCK
        );
        let claim = || async {
            let mut tx = self.pool().begin_with(D::CLAIM_BEGIN).await?;
            let rows: Vec<RowTuple> = sqlx::query_as(sql::<D>(&select))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let update = format!(
                "UPDATE eka_webhook_reminder \
                 SET status = 'running', attempt = attempt + 1, run_at = ? WHERE id IN ({})",
                placeholders(rows.len())
            );
            let mut query = sqlx::query(sql::<D>(&update)).bind(lease_until);
            for row in &rows {
                query = query.bind(row.0.as_str());
            }
            query.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        };
        let rows = self.write(claim).await.map_err(|e| self.error(e))?;
        Ok(rows
            .into_iter()
            .map(|t| ReminderRow {
                status: status::RUNNING.to_string(),
                attempt: t.7 + 1,
                run_at: lease_until,
                ..row_of(t)
            })
            .collect())
    }

    async fn finish_fire(
        &self,
        claimed: &ReminderRow,
        fired_at: i64,
        outcome: &FireOutcome,
    ) -> Result<bool, PersistenceError> {
        let (new_status, run_at, error) = match outcome {
            FireOutcome::Finished { status, error } => {
                (*status, None, error.as_deref().map(clip_error))
            }
            FireOutcome::Retry { run_at, error } => {
                (status::PENDING, Some(*run_at), Some(clip_error(error)))
            }
        };
        let update = "UPDATE eka_webhook_reminder SET status = ?, run_at = COALESCE(?, run_at), \
             fired_at = ?, last_error = ? WHERE id = ? AND attempt = ? AND status = 'running'";
        let updated = self.affected(|| {
            sqlx::query(sql::<D>(update))
                .bind(new_status)
                .bind(run_at)
                .bind(fired_at)
                .bind(error.as_deref())
                .bind(claimed.id.as_str())
                .bind(claimed.attempt)
        });
        Ok(updated.await? > 0)
    }

    async fn cancel_reminders(&self, appointment_id: &str) -> Result<u64, PersistenceError> {
        let update = "UPDATE eka_webhook_reminder SET status = 'cancelled' \
             WHERE appointment_id = ? AND status = 'pending'";
        self.affected(|| sqlx::query(sql::<D>(update)).bind(appointment_id))
            .await
    }

    async fn rearm_reminders(
        &self,
        from: &str,
        to: &str,
        start_ms: i64,
    ) -> Result<u64, PersistenceError> {
        let update = "UPDATE eka_webhook_reminder SET appointment_id = ?, \
             due_at = ? - before_start * 1000, run_at = ? - before_start * 1000 \
             WHERE appointment_id = ? AND status = 'pending' AND before_start IS NOT NULL";
        self.affected(|| {
            sqlx::query(sql::<D>(update))
                .bind(to)
                .bind(start_ms)
                .bind(start_ms)
                .bind(from)
        })
        .await
    }

    async fn list_reminders(
        &self,
        appointment_id: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<ReminderRow>, PersistenceError> {
        let mut select = SELECT_COLUMNS.to_string();
        let filters: Vec<(&str, &str)> = [("appointment_id", appointment_id), ("status", status)]
            .into_iter()
            .filter_map(|(column, value)| value.map(|v| (column, v)))
            .collect();
        for (i, (column, _)) in filters.iter().enumerate() {
            select.push_str(if i == 0 { " WHERE " } else { " AND " });
            select.push_str(column);
            select.push_str(" = ?");
        }
        select.push_str(" ORDER BY due_at, id");
        let mut query = sqlx::query_as::<D, RowTuple>(sql::<D>(&select));
        for (_, value) in &filters {
            query = query.bind(*value);
        }
        let rows = self
            .bounded(query.fetch_all(self.pool()))
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows.into_iter().map(row_of).collect())
    }

    async fn next_run_at(&self) -> Result<Option<i64>, PersistenceError> {
        // ORDER BY + LIMIT rather than MIN(): MIN's type differs between the databases.
        let select = "SELECT run_at FROM eka_webhook_reminder \
             WHERE status IN ('pending', 'running') ORDER BY run_at LIMIT 1";
        let next: Option<i64> = self
            .bounded(sqlx::query_scalar(sql::<D>(select)).fetch_optional(self.pool()))
            .await
            .map_err(|e| self.error(e))?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_per_dialect() {
        let mysql = create_table_sql::<sqlx::MySql>();
        assert!(mysql.contains("INDEX idx_reminder_status_run_at (status, run_at)"));
        assert!(mysql.contains("last_error VARCHAR(1000) NULL DEFAULT NULL"));
        let sqlite = create_table_sql::<sqlx::Sqlite>();
        assert!(sqlite.contains("due_at INTEGER NOT NULL DEFAULT 0"));
        assert!(!sqlite.contains("INDEX"));
    }
}
