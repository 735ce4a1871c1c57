//! DynamoDB test support: a store and a raw client on a moto server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, Select, TableDescription,
};
use aws_sdk_dynamodb::Client;
use eka_webhook_core::config::{DynamodbConfig, PersistenceConfig};
use eka_webhook_core::persistence::dynamodb::{DynamoDbStore, STATUS_START_TIME_INDEX};
use eka_webhook_core::persistence::{ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME};
use eka_webhook_core::secret::Secret;

use super::moto::Moto;
use super::{Harness, RawRow};

pub const REGION: &str = "us-east-1";
pub const SECRET_KEY: &str = "moto-secret-key-never-printed";

pub fn dynamo_config(endpoint: &str) -> DynamodbConfig {
    DynamodbConfig {
        region: REGION.to_string(),
        access_key_id: Some("AKIDMOTOTEST".to_string()),
        secret_access_key: Some(Secret::new(SECRET_KEY)),
        endpoint: Some(endpoint.to_string()),
        connect_timeout: Duration::from_secs(5),
    }
}

pub fn store(endpoint: &str) -> DynamoDbStore {
    DynamoDbStore::new(dynamo_config(endpoint))
}

/// A plain SDK client on the same server, to set up and inspect tables independently of the
/// store under test.
pub fn raw_client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::from_keys("AKIDMOTOTEST", SECRET_KEY, None))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

/// The raw item, read consistently.
pub async fn get_item(client: &Client, id: &str) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(SCHEDULE_TABLE_NAME)
        .key("appointment_id", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

pub async fn describe(client: &Client) -> TableDescription {
    client
        .describe_table()
        .table_name(SCHEDULE_TABLE_NAME)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
}

/// The key schema, GSI and projection (what matters for reads and writes).
pub fn assert_key_and_gsi(table: &TableDescription) {
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("appointment_id", "HASH")]);
    let gsis = table.global_secondary_indexes();
    assert_eq!(gsis.len(), 1, "{gsis:?}");
    let gsi = &gsis[0];
    assert_eq!(gsi.index_name(), Some(STATUS_START_TIME_INDEX));
    let gsi_keys: Vec<_> = gsi
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(gsi_keys, [("status", "HASH"), ("start_time", "RANGE")]);
    let projection = gsi.projection().unwrap();
    assert_eq!(projection.projection_type().unwrap().as_str(), "INCLUDE");
    assert_eq!(projection.non_key_attributes(), ["visit_type"]);
}

/// A table the way a Python SDK release before the GSI created it: hash key only.
pub async fn create_table_without_gsi(client: &Client) {
    create_table_keyed_by(client, "appointment_id").await;
}

/// The schedule table with `key` (a string) as its only key and no index.
pub async fn create_table_keyed_by(client: &Client, key: &str) {
    client
        .create_table()
        .table_name(SCHEDULE_TABLE_NAME)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// A moto server of its own for one test of the shared persistence suite.
pub struct DynamoHarness {
    moto: Moto,
    pub client: Client,
    store: Arc<DynamoDbStore>,
}

impl DynamoHarness {
    pub async fn new(_tag: &str) -> Self {
        let moto = Moto::start().await;
        let client = raw_client(&moto.endpoint);
        Self {
            store: Arc::new(store(&moto.endpoint)),
            client,
            moto,
        }
    }
}

#[async_trait]
impl Harness for DynamoHarness {
    fn store(&self) -> Arc<dyn ScheduleStore> {
        self.store.clone()
    }

    fn persistence_config(&self) -> PersistenceConfig {
        PersistenceConfig::Dynamodb(dynamo_config(&self.moto.endpoint))
    }

    async fn row(&self, id: &str) -> Option<RawRow> {
        let item = get_item(&self.client, id).await?;
        let number = |name: &str| {
            item.get(name)
                .map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
        };
        let text = |name: &str| item.get(name).map(|v| v.as_s().unwrap().clone());
        Some(RawRow {
            start_time: number("start_time").unwrap(),
            end_time: number("end_time").unwrap(),
            status: text("status").unwrap(),
            visit_type: text("visit_type").unwrap(),
            // An item written before the SDK set created_at reads as the SQL column's default.
            created_at: number("created_at").unwrap_or(0),
            p_aid: text("p_aid"),
            reminder_sent_at: number("reminder_sent_at"),
        })
    }

    async fn count(&self) -> i64 {
        let scan = self
            .client
            .scan()
            .table_name(SCHEDULE_TABLE_NAME)
            .select(Select::Count)
            .consistent_read(true)
            .send()
            .await;
        scan.unwrap().count() as i64
    }

    async fn set_created_at(&self, id: &str, created_at: i64) {
        self.client
            .update_item()
            .table_name(SCHEDULE_TABLE_NAME)
            .key("appointment_id", AttributeValue::S(id.into()))
            .update_expression("SET created_at = :c")
            .expression_attribute_values(":c", AttributeValue::N(created_at.to_string()))
            .send()
            .await
            .unwrap();
    }

    async fn create_older_table_with(&self, row: &ScheduleRecord) {
        create_table_without_gsi(&self.client).await;
        let text = |value: &str| AttributeValue::S(value.into());
        let number = |value: i64| AttributeValue::N(value.to_string());
        self.client
            .put_item()
            .table_name(SCHEDULE_TABLE_NAME)
            .item("appointment_id", text(&row.appointment_id))
            .item("start_time", number(row.start_time))
            .item("end_time", number(row.end_time))
            .item("status", text(&row.status))
            .item("visit_type", text(&row.visit_type))
            .send()
            .await
            .unwrap();
    }

    async fn assert_table_complete(&self) {
        assert_key_and_gsi(&describe(&self.client).await);
    }

    async fn cleanup(self: Box<Self>) {
        self.store.close().await;
    }
}
