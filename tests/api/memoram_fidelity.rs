//! Fidelity to Memoram's published contract: `tests/fixtures/memoram/` holds the docs' examples
//! (see the README there for each one's page). Every fixture decodes with the client's models,
//! and the simulator answers each endpoint with the same keys and JSON types as its fixture.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use simulators::memoram::{MemoramSimulator, MemoramSimulatorConfig};
use talk_to_mementos::memoram::cipher::ContentCipher;
use talk_to_mementos::memoram::connections::MemoramConnection;
use talk_to_mementos::memoram::{
    access_request_body, memory_body, AccessRequest, AccessStatus, BlobPage, Credentials,
    MemoryBlob, MemoryDraft, Tag, TagList, Write,
};

use crate::fidelity::shape_differences;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/memoram")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir().join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(fixture(name))
        .unwrap_or_else(|e| panic!("{name} does not decode with the client's model: {e}"))
}

#[test]
fn every_memoram_fixture_decodes_with_the_clients_models() {
    let mut checked = BTreeSet::new();
    let mut check = |name: &str, test: &dyn Fn(&str)| {
        test(name);
        checked.insert(name.to_owned());
    };
    check("auth_token.json", &|name| {
        let token: talk_to_mementos::memoram::DeveloperTokenResponse = decode(name);
        assert!(!token.token.is_empty());
    });
    for name in ["access_request_created.json", "access_request.json"] {
        check(name, &|name| {
            let request: AccessRequest = decode(name);
            assert!(!request.id.is_empty());
            assert_ne!(request.status, AccessStatus::Unknown);
        });
    }
    check("access_requests_list.json", &|name| {
        let items: Vec<AccessRequest> =
            serde_json::from_value(fixture(name)["items"].clone()).expect("items");
        assert_eq!(items.len(), 1);
    });
    check("credentials.json", &|name| {
        let credentials: Credentials = decode(name);
        assert_eq!(credentials.key_version, 123);
    });
    for name in ["memory_blobs_guide.json", "memory_blobs_reference.json"] {
        check(name, &|name| {
            let page: BlobPage = decode(name);
            let blob = page.memory_blobs.first().expect("a blob");
            assert!(blob.content.is_some());
            assert!(!blob.tags.is_empty());
            assert!(page.next_cursor.is_some());
        });
    }
    for name in [
        "memory_blob.json",
        "memory_blob_created.json",
        "memory_blob_updated.json",
    ] {
        check(name, &|name| {
            let blob: MemoryBlob = decode(name);
            assert!(!blob.id.is_empty());
        });
    }
    check("tags.json", &|name| {
        let tags: TagList = decode(name);
        assert!(tags.items.len() >= 2);
    });
    check("tag.json", &|name| {
        let tag: Tag = decode(name);
        assert!(!tag.name.is_empty());
    });
    // The request examples are what the client sends: checked by the simulator test below.
    for name in [
        "request_create_access_request.json",
        "request_create_memory.json",
        "request_update_memory.json",
    ] {
        check(name, &|name| {
            assert!(fixture(name).is_object());
        });
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(on_disk, checked, "every fixture is checked");
}

fn assert_same_shape(fixture_name: &str, status: StatusCode, actual: &Value) {
    let differences = shape_differences(&fixture(fixture_name), actual, "", &[]);
    assert!(
        differences.is_empty(),
        "the Memoram simulator drifted from {fixture_name} (status {status}): {differences:#?}"
    );
}

struct Api {
    client: reqwest::Client,
    base: url::Url,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("simulator answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_memoram_simulator_answers_in_the_shapes_of_the_published_fixtures() {
    let simulator = MemoramSimulator::start(
        TcpListener::bind("127.0.0.1:0").expect("bind"),
        MemoramSimulatorConfig::default(),
    )
    .expect("starts");
    let handle = simulator.handle();
    let client = reqwest::Client::new();
    let base = simulator.api_url();
    let response = client
        .post(format!("{base}/auth/token"))
        .json(&json!({"api_key": MemoramSimulatorConfig::default().api_key}))
        .send()
        .await
        .expect("token");
    let status = response.status();
    let token: Value = response.json().await.expect("json");
    assert_same_shape("auth_token.json", status, &token);
    let api = Api {
        client,
        base,
        token: token["token"].as_str().expect("token").to_owned(),
    };
    use reqwest::Method;

    let user = handle.demo_user();
    let memory_key = SecretString::from(user.memory_key.clone());
    // The bodies are the ones the app's client sends, checked against the documented requests.
    let request_body = access_request_body(&memory_key, "fidelity");
    assert!(shape_differences(
        &fixture("request_create_access_request.json"),
        &request_body,
        "",
        &[]
    )
    .is_empty());
    let (status, created) = api
        .call(Method::POST, "/access-requests", Some(request_body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_same_shape("access_request_created.json", status, &created);
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, one) = api
        .call(Method::GET, &format!("/access-requests/{id}"), None)
        .await;
    assert_same_shape("access_request.json", status, &one);
    let (status, list) = api.call(Method::GET, "/access-requests", None).await;
    assert_same_shape("access_requests_list.json", status, &list);
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/access-requests/{id}/credentials"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "403 while pending");
    assert!(handle.approve(&id));
    let (status, credentials) = api
        .call(
            Method::GET,
            &format!("/access-requests/{id}/credentials"),
            None,
        )
        .await;
    assert_same_shape("credentials.json", status, &credentials);

    let user_id = &user.user_id;
    let (status, page) = api
        .call(
            Method::GET,
            &format!("/memory-blobs?user_id={user_id}&limit=2"),
            None,
        )
        .await;
    assert_same_shape("memory_blobs_reference.json", status, &page);
    assert_same_shape("memory_blobs_guide.json", status, &page);
    let blob_id = page["memoryBlobs"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, blob) = api
        .call(
            Method::GET,
            &format!("/memory-blobs/{blob_id}?user_id={user_id}"),
            None,
        )
        .await;
    assert_same_shape("memory_blob.json", status, &blob);

    let mut connection = MemoramConnection::new(&memory_key);
    connection.set_credentials(serde_json::from_value(credentials.clone()).expect("credentials"));
    let keys = connection.credentials.clone().expect("keys");
    let draft = MemoryDraft {
        title: "t".to_owned(),
        summary: "s".to_owned(),
        content: "sealed by the app".to_owned(),
        tags: vec!["a".to_owned()],
        importance: Some(0.5),
        confidence: Some(0.5),
        source: "fidelity".to_owned(),
    };
    let create = memory_body(
        ContentCipher::Aes256Gcm,
        &keys,
        &memory_key,
        &draft,
        Write::Create,
    )
    .expect("body");
    let update = memory_body(
        ContentCipher::Aes256Gcm,
        &keys,
        &memory_key,
        &draft,
        Write::Update,
    )
    .expect("body");
    assert!(shape_differences(&fixture("request_create_memory.json"), &create, "", &[]).is_empty());
    let (status, created) = api.call(Method::POST, "/memory-blobs", Some(create)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_same_shape("memory_blob_created.json", status, &created);
    let new_id = created["id"].as_str().expect("id").to_owned();
    assert!(shape_differences(&fixture("request_update_memory.json"), &update, "", &[]).is_empty());
    let (status, updated) = api
        .call(
            Method::PATCH,
            &format!("/memory-blobs/{new_id}"),
            Some(update),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape("memory_blob_updated.json", status, &updated);
    // What the app sealed, the provider (holding the key) reads back.
    let stored = handle
        .blobs(user_id)
        .into_iter()
        .find(|b| b.id == new_id)
        .expect("stored");
    let key = SecretString::from(user.encryption_key_hex.clone());
    assert_eq!(
        ContentCipher::Aes256Gcm
            .open(&key, &stored.content)
            .as_deref(),
        Ok("sealed by the app")
    );

    let (status, tags) = api
        .call(Method::GET, &format!("/tags?user_id={user_id}"), None)
        .await;
    assert_same_shape("tags.json", status, &tags);
    let tag_id = tags["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, tag) = api
        .call(
            Method::GET,
            &format!("/tags/{tag_id}?user_id={user_id}"),
            None,
        )
        .await;
    assert_same_shape("tag.json", status, &tag);
    simulator.stop().await;
}
