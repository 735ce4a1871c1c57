//! `ReminderStore` for the SQL databases, over the dialect layer of `sql.rs`. The claim is one
//! transaction: read the due rows under the dialect's lock (`FOR UPDATE SKIP LOCKED` on MariaDB
//! ≥ 10.6 and PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds its single write lock), then mark
//! them running. Every other write is one conditional `UPDATE`.

use async_trait::async_trait;

use super::reminder_store::{
    clip_error, status, FireOutcome, NewReminder, ReminderRow, ReminderStore, LAST_ERROR_MAX_CHARS,
    REMINDER_TABLE_NAME,
};
use super::sql::{
    column_definition, number_binds, Column, ColumnType, SqlDialect, SqlStore, TableSpec, Value,
};
use super::PersistenceError;
use Value::{Int, IntOrNull, Text, TextOrNull};

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

/// A row's columns, in `SELECT_COLUMNS`'s order.
pub type ReminderTuple = (
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

fn row_of(t: ReminderTuple) -> ReminderRow {
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
impl<D: SqlDialect> ReminderStore for SqlStore<D> {
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
        let id = Text(&r.id);
        let values = [
            id,
            Text(&r.appointment_id),
            Text(&r.name),
            Int(r.due_at),
            Int(r.due_at),
            IntOrNull(r.before_start),
            Int(now),
        ];
        self.affected(|| D::query(sql::<D>(&insert), &values))
            .await?;
        let rearm =
            "UPDATE eka_webhook_reminder SET status = 'pending', attempt = 0, run_at = due_at, \
             fired_at = NULL, last_error = NULL \
             WHERE id = ? AND status IN ('failed', 'missed', 'cancelled')";
        self.affected(|| D::query(sql::<D>(rearm), &[id])).await?;
        let select = format!("{SELECT_COLUMNS} WHERE id = ?");
        let row: ReminderTuple = self
            .bounded(
                D::query(sql::<D>(&select), &[id])
                    .try_map(D::read)
                    .fetch_one(D::on_pool(self.pool())),
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
            let due = [Int(now), Int(i64::from(limit))];
            let rows: Vec<ReminderTuple> = D::query(sql::<D>(&select), &due)
                .try_map(D::read)
                .fetch_all(D::on_connection(&mut tx))
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
            let ids = rows.iter().map(|row| Text(&row.0));
            let values: Vec<Value> = std::iter::once(Int(lease_until)).chain(ids).collect();
            D::query(sql::<D>(&update), &values)
                .execute(D::on_connection(&mut tx))
                .await?;
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
        let values = [
            Text(new_status),
            IntOrNull(run_at),
            Int(fired_at),
            TextOrNull(error.as_deref()),
            Text(&claimed.id),
            Int(claimed.attempt),
        ];
        let updated = self.affected(|| D::query(sql::<D>(update), &values));
        Ok(updated.await? > 0)
    }

    async fn cancel_reminders(&self, appointment_id: &str) -> Result<u64, PersistenceError> {
        let update = "UPDATE eka_webhook_reminder SET status = 'cancelled' \
             WHERE appointment_id = ? AND status = 'pending'";
        let values = [Text(appointment_id)];
        self.affected(|| D::query(sql::<D>(update), &values)).await
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
        let values = [Text(to), Int(start_ms), Int(start_ms), Text(from)];
        self.affected(|| D::query(sql::<D>(update), &values)).await
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
        let values: Vec<Value> = filters.iter().map(|(_, v)| Text(v)).collect();
        let rows: Vec<ReminderTuple> = self.rows(sql::<D>(&select), &values).await?;
        Ok(rows.into_iter().map(row_of).collect())
    }

    async fn next_run_at(&self) -> Result<Option<i64>, PersistenceError> {
        // ORDER BY + LIMIT rather than MIN(): MIN's type differs between the databases.
        let select = "SELECT run_at FROM eka_webhook_reminder \
             WHERE status IN ('pending', 'running') ORDER BY run_at LIMIT 1";
        let next: Vec<(Option<i64>,)> = self.rows(sql::<D>(select), &[]).await?;
        Ok(next.into_iter().next().and_then(|(run_at,)| run_at))
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
