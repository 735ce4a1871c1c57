//! Without accessKeyId/secretAccessKey the store uses the standard AWS chain. Its own test
//! binary, because it sets process-wide environment variables.

mod support;

use std::time::{Duration, Instant};

use eka_webhook_core::persistence::dynamodb::DynamoDbStore;
use eka_webhook_core::persistence::{PersistenceError, ScheduleStore};
use support::moto::Moto;
use support::{appointments_between, dynamo_config};

#[tokio::test]
async fn uses_the_standard_chain_when_no_keys_are_configured() {
    let moto = Moto::start().await;
    let mut config = dynamo_config(&moto.endpoint);
    config.access_key_id = None;
    config.secret_access_key = None;

    // An empty chain: no env keys, no profile files, no instance metadata.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let started = Instant::now();
    match DynamoDbStore::new(config.clone()).ensure_table().await {
        Err(PersistenceError::Auth(text)) => assert!(text.contains("credentials"), "{text}"),
        other => panic!("expected Auth for an empty credential chain, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Keys in the environment (the chain's first provider) are picked up.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFROMENV");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret-from-env");
    let store = DynamoDbStore::new(config);
    store.ensure_table().await.unwrap();
    assert!(appointments_between(&store, 0, 1).await.is_empty());
}
