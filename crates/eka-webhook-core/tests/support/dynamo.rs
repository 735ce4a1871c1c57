//! DynamoDB test support: a store and a raw client on a moto server.


use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use eka_webhook_core::config::DynamodbConfig;
use eka_webhook_core::persistence::dynamodb::DynamoDbStore;
use eka_webhook_core::secret::Secret;

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
