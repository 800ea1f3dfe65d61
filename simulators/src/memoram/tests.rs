//! The simulator over real HTTP: a server on a random port, a reqwest client that does not
//! follow redirects.

use std::net::TcpListener;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::pkce_s256;
use crate::FaultBody;

const OTHER_API_KEY: &str = "other-memoram-api-key";
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/memoram/callback";

struct Harness {
    sim: MemoramSimulator,
    client: Client,
}

impl Harness {
    fn start(config: MemoramSimulatorConfig) -> Harness {
        let sim = MemoramSimulator::start(
            TcpListener::bind("127.0.0.1:0").expect("bind"),
            MemoramSimulatorConfig {
                other_api_keys: vec![OTHER_API_KEY.to_owned()],
                ..config
            },
        )
        .expect("simulator starts");
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Harness { sim, client }
    }

    fn new() -> Harness {
        Harness::start(MemoramSimulatorConfig::default())
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.sim.base_url().as_str().trim_end_matches('/'),
            path
        )
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.sim.api_url())
    }

    async fn developer_token_for(&self, api_key: &str) -> String {
        let response = self
            .client
            .post(self.api("/auth/token"))
            .json(&json!({"api_key": api_key}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        json_of(response).await["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    async fn developer_token(&self) -> String {
        self.developer_token_for(&MemoramSimulatorConfig::default().api_key)
            .await
    }

    async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: &Value,
    ) -> Response {
        self.client
            .request(method, self.api(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    /// A developer token whose connector holds an approved request for the demo user.
    async fn approved(&self) -> (String, UserInfo) {
        let token = self.developer_token().await;
        let user = self.sim.handle().demo_user();
        let response = self
            .send_json(
                reqwest::Method::POST,
                &token,
                "/access-requests",
                &json!({"memoryKey": user.memory_key, "reason": "Answer questions from your memories"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = json_of(response).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        assert!(self.sim.handle().approve(&id));
        (token, user)
    }
}

async fn json_of(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

fn claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "header.claims.signature");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).expect("b64").len(), 32);
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json")
}

fn key_of(user: &UserInfo) -> crypto::Key {
    hex::decode(&user.encryption_key_hex)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

#[tokio::test]
async fn developer_tokens_are_jwts_that_expire() {
    let h = Harness::new();
    let handle = h.sim.handle();
    let wrong = h
        .client
        .post(h.api("/auth/token"))
        .json(&json!({"api_key": "nope"}))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(wrong).await["error"], "unauthorized");
    let missing = h
        .client
        .post(h.api("/auth/token"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    let response = h
        .client
        .post(h.api("/auth/token"))
        .json(&json!({"api_key": "demo-memoram-api-key"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let token = body["token"].as_str().expect("token").to_owned();
    let c = claims(&token);
    assert_eq!(c["sub"], handle.ai_connector_id());
    assert_eq!(
        c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
        3600
    );

    // Clamped to 1 s, and never beyond the configured 3600 s (the provider may override).
    for (asked, lifetime) in [(json!(5), 5), (json!(0), 1), (json!(1e9), 3600)] {
        let response = h
            .client
            .post(h.api("/auth/token"))
            .json(&json!({"api_key": "demo-memoram-api-key", "expires_in": asked}))
            .send()
            .await
            .expect("send");
        let c = claims(json_of(response).await["token"].as_str().expect("token"));
        assert_eq!(
            c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
            lifetime
        );
    }
    assert_eq!(handle.developer_tokens_issued(), 4);

    assert_eq!(
        h.get(&token, "/access-requests").await.status(),
        StatusCode::OK
    );
    let anonymous = h
        .client
        .get(h.api("/access-requests"))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_eq!(
        json_of(anonymous).await,
        json!({"error": "unauthorized", "message": "Invalid or expired token"})
    );
    handle.expire_developer_tokens();
    let expired = h.get(&token, "/access-requests").await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let fresh = h.developer_token().await;
    assert_eq!(
        h.get(&fresh, "/access-requests").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_access_request_goes_pending_approved_revoked() {
    let h = Harness::new();
    let handle = h.sim.handle();
    let token = h.developer_token().await;
    let user = handle.demo_user();
    let create = |body: Value| {
        let token = token.clone();
        let h = &h;
        async move {
            h.send_json(reqwest::Method::POST, &token, "/access-requests", &body)
                .await
        }
    };
    let too_long = "x".repeat(256);
    for bad in [
        json!({"memoryKey": user.memory_key}),
        json!({"memoryKey": user.memory_key, "reason": "  "}),
        json!({"memoryKey": user.memory_key, "reason": too_long}),
        json!({"reason": "why"}),
    ] {
        let response = create(bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(response).await["error"], "bad_request");
    }
    let unknown = create(json!({"memoryKey": "mk_unknown", "reason": "why"})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let response = create(json!({"memoryKey": user.memory_key, "reason": "r".repeat(255)})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let request = json_of(response).await;
    let id = request["id"].as_str().expect("id").to_owned();
    assert_eq!(request["status"], "pending");
    assert_eq!(request["memoryKey"], user.memory_key);
    assert_eq!(request["user_id"], user.user_id);
    assert_eq!(request["aiConnectorId"], handle.ai_connector_id());
    assert!(request["createdAt"].is_string() && request["updatedAt"].is_string());

    let fetched = json_of(h.get(&token, &format!("/access-requests/{id}")).await).await;
    assert_eq!(fetched, request);
    let list = json_of(h.get(&token, "/access-requests").await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id.as_str());

    let credentials = format!("/access-requests/{id}/credentials");
    let pending = h.get(&token, &credentials).await;
    assert_eq!(pending.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(pending).await["error"], "forbidden");

    assert!(handle.approve(&id));
    assert!(!handle.approve(&id), "approving twice changes nothing");
    let approved = h.get(&token, &credentials).await;
    assert_eq!(approved.status(), StatusCode::OK);
    assert_eq!(
        json_of(approved).await,
        json!({
            "user_id": user.user_id,
            "memory_key": user.memory_key,
            "encryption_key": user.encryption_key_hex,
            "key_version": 1,
        })
    );
    assert_eq!(user.encryption_key_hex.len(), 64);

    assert!(handle.revoke(&id));
    assert_eq!(
        h.get(&token, &credentials).await.status(),
        StatusCode::FORBIDDEN
    );
    let revoked = json_of(h.get(&token, &format!("/access-requests/{id}")).await).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(handle.access_requests()[0].status, "revoked");

    // Another developer app sees none of it.
    let other = h.developer_token_for(OTHER_API_KEY).await;
    assert_eq!(
        h.get(&other, &format!("/access-requests/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&other, &credentials).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        json_of(h.get(&other, "/access-requests").await).await["total"],
        0
    );
}

#[tokio::test]
async fn the_dashboard_approves_rejects_revokes_and_rotates() {
    let h = Harness::new();
    let handle = h.sim.handle();
    let empty = h
        .client
        .get(h.sim.dashboard_url())
        .send()
        .await
        .expect("send");
    assert!(empty
        .text()
        .await
        .expect("text")
        .contains("id=\"no-requests\""));
    let token = h.developer_token().await;
    let user = handle.demo_user();
    let mut ids = Vec::new();
    for reason in ["First <b>app</b> request", "Second request"] {
        let response = h
            .send_json(
                reqwest::Method::POST,
                &token,
                "/access-requests",
                &json!({"memoryKey": user.memory_key, "reason": reason}),
            )
            .await;
        ids.push(
            json_of(response).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let page = h
        .client
        .get(h.url("/dashboard"))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(csp.contains("script-src 'none'"), "{csp}");
    let html = page.text().await.expect("text");
    assert!(html.contains("Ada Lovelace"));
    assert!(
        html.contains("First &lt;b&gt;app&lt;/b&gt; request"),
        "escaped"
    );
    assert!(!html.contains("<script"));
    for id in &ids {
        assert!(html.contains(&format!("id=\"approve-{id}\"")));
        assert!(html.contains(&format!("id=\"reject-{id}\"")));
        assert!(html.contains(&format!(">{id}<")), "the id is visible");
    }

    let post = |path: String| {
        let h = &h;
        async move { h.client.post(h.url(&path)).send().await.expect("send") }
    };
    let approve = post(format!("/dashboard/requests/{}/approve", ids[0])).await;
    assert_eq!(approve.status(), StatusCode::SEE_OTHER);
    assert_eq!(approve.headers()["location"], "/dashboard");
    let reject = post(format!("/dashboard/requests/{}/reject", ids[1])).await;
    assert_eq!(reject.status(), StatusCode::SEE_OTHER);
    let statuses: Vec<String> = handle
        .access_requests()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, ["approved", "rejected"]);

    let html = h
        .client
        .get(h.url("/dashboard"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(html.contains(&format!("id=\"revoke-{}\"", ids[0])));
    assert!(!html.contains(&format!("id=\"approve-{}\"", ids[1])));
    post(format!("/dashboard/requests/{}/revoke", ids[0])).await;
    assert_eq!(handle.access_requests()[0].status, "revoked");
    assert_eq!(
        post("/dashboard/requests/cmunknown/approve".to_owned())
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let rotate = post("/dashboard/rotate-key".to_owned()).await;
    assert_eq!(rotate.status(), StatusCode::SEE_OTHER);
    assert_eq!(handle.demo_user().key_version, 2);
    let css = h
        .client
        .get(h.url("/memoram.css"))
        .send()
        .await
        .expect("send");
    assert_eq!(css.status(), StatusCode::OK);
}

#[tokio::test]
async fn memory_blobs_are_listed_filtered_and_paged() {
    let h = Harness::new();
    let (token, user) = h.approved().await;
    let list = |query: String| {
        let token = token.clone();
        let h = &h;
        async move { h.get(&token, &format!("/memory-blobs?{query}")).await }
    };
    let uid = format!("user_id={}", user.user_id);

    let all = json_of(list(uid.clone()).await).await;
    let blobs = all["memoryBlobs"].as_array().expect("array");
    assert_eq!(blobs.len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(blobs[0]["title"], "Lisbon trip plans", "newest first");
    let key = key_of(&user);
    for blob in blobs {
        for field in [
            "id",
            "user_id",
            "title",
            "summary",
            "content",
            "tags",
            "tag_ids",
            "importance",
            "confidence",
            "source",
            "created_at",
            "updated_at",
        ] {
            assert!(blob.get(field).is_some(), "{field} in {blob}");
        }
        let content = blob["content"].as_str().expect("content");
        assert!(
            crypto::decrypt(&key, content).is_some(),
            "seeds are encrypted"
        );
    }

    // Pages of 3, through opaque cursors, cover everything once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("{uid}&limit=3&cursor={c}"),
            None => format!("{uid}&limit=3"),
        };
        let page = json_of(list(query).await).await;
        pages += 1;
        for blob in page["memoryBlobs"].as_array().expect("array") {
            seen.push(blob["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = blobs
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        list(format!("{uid}&cursor=not-a-cursor")).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        list(format!("{uid}&limit=lots")).await.status(),
        StatusCode::BAD_REQUEST
    );

    let titles = |body: Value| -> Vec<String> {
        body["memoryBlobs"]
            .as_array()
            .expect("array")
            .iter()
            .map(|b| b["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        titles(json_of(list(format!("{uid}&tags=work")).await).await),
        [
            "Rust migration role",
            "Deploy checklist preference",
            "Incident 4127 on-call notes"
        ]
    );
    assert_eq!(
        titles(json_of(list(format!("{uid}&tags=work,preferences")).await).await),
        ["Deploy checklist preference"]
    );
    assert_eq!(
        titles(json_of(list(format!("{uid}&importance=0.8")).await).await),
        ["Deploy checklist preference", "Incident 4127 on-call notes"]
    );
    // "Alfama" is only in the encrypted content: the search reads it decrypted.
    assert_eq!(
        titles(json_of(list(format!("{uid}&searchQuery=alFAMA")).await).await),
        ["Lisbon trip plans"]
    );
    assert_eq!(
        titles(json_of(list(format!("{uid}&searchQuery=lisbon")).await).await),
        ["Lisbon trip plans"],
        "the other user's Lisbon memory stays theirs"
    );

    // The other user never approved this app; an unknown user looks the same.
    let other_user = h.sim.handle().users()[1].clone();
    for who in [
        other_user.user_id.as_str(),
        "00000000-0000-4000-8000-000000000000",
    ] {
        let response = list(format!("user_id={who}")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(json_of(response).await["error"], "forbidden");
    }
    assert_eq!(list(String::new()).await.status(), StatusCode::BAD_REQUEST);

    let tags = json_of(h.get(&token, &format!("/tags?{uid}")).await).await;
    let tag_names: Vec<&str> = tags["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        tag_names,
        ["health", "personal", "preferences", "travel", "work"]
    );
    let work = &tags["items"][4];
    assert_eq!(work["is_enabled"], true);
    let one = json_of(
        h.get(
            &token,
            &format!("/tags/{}?{uid}", work["id"].as_str().expect("id")),
        )
        .await,
    )
    .await;
    assert_eq!(&one, work);
    assert_eq!(
        h.get(&token, &format!("/tags/tag_unknown?{uid}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_memory_blob_is_created_read_updated_and_deleted() {
    let h = Harness::new();
    let (token, user) = h.approved().await;
    let key = key_of(&user);
    let sealed = crypto::encrypt(&key, "Ada's favourite editor is Emacs.");
    let post = |body: Value| {
        let token = token.clone();
        let h = &h;
        async move {
            h.send_json(reqwest::Method::POST, &token, "/memory-blobs", &body)
                .await
        }
    };
    let valid = json!({
        "user_id": user.user_id,
        "memoryKey": user.memory_key,
        "content": sealed,
        "title": "Editor",
        "tags": ["preferences", "tools"],
        "importance": 0.7,
        "confidence": 0.9,
        "source": "talk-to-mementos",
    });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    for bad in [
        with("content", Value::Null),
        with("content", json!("")),
        with("content", json!("x".repeat(64 * 1024 + 1))),
        with("importance", json!(1.5)),
        with("confidence", json!(-0.1)),
        with("importance", json!("high")),
        with("title", json!("t".repeat(201))),
        with(
            "tags",
            json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
        with("tags", json!(["x".repeat(51)])),
        with("memoryKey", Value::Null),
    ] {
        let response = post(bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(json_of(response).await["error"], "bad_request");
    }
    assert_eq!(
        post(with("memoryKey", json!("mk_wrong"))).await.status(),
        StatusCode::FORBIDDEN
    );

    let response = post(valid.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = json_of(response).await;
    assert!(
        created.get("content").is_none(),
        "create answers without content"
    );
    assert_eq!(created["tags"], json!(["preferences", "tools"]));
    assert_eq!(created["tag_ids"].as_array().map(Vec::len), Some(2));
    let id = created["id"].as_str().expect("id").to_owned();
    let uid = format!("user_id={}", user.user_id);

    let fetched = json_of(h.get(&token, &format!("/memory-blobs/{id}?{uid}")).await).await;
    assert_eq!(fetched["content"], sealed, "content is stored as sent");
    assert_eq!(fetched["title"], "Editor");
    let newest = json_of(h.get(&token, &format!("/memory-blobs?{uid}&limit=1")).await).await;
    assert_eq!(newest["memoryBlobs"][0]["id"], id.as_str());
    assert!(
        json_of(h.get(&token, &format!("/tags?{uid}")).await).await["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["name"] == "tools")
    );

    for method in [reqwest::Method::PATCH, reqwest::Method::PUT] {
        let title = format!("Editor ({method})");
        let response = h
            .send_json(
                method,
                &token,
                &format!("/memory-blobs/{id}"),
                &json!({"user_id": user.user_id, "memoryKey": user.memory_key, "title": title, "tags": ["work"]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let updated = json_of(response).await;
        assert!(updated.get("content").is_none());
        assert_eq!(updated["title"], title.as_str());
        assert_eq!(updated["tags"], json!(["work"]), "tags are replaced");
        assert_eq!(updated["importance"], 0.7, "the rest stays");
    }
    let fetched = json_of(h.get(&token, &format!("/memory-blobs/{id}?{uid}")).await).await;
    assert_eq!(fetched["content"], sealed);

    let wrong_key = h
        .send_json(
            reqwest::Method::PATCH,
            &token,
            &format!("/memory-blobs/{id}"),
            &json!({"user_id": user.user_id, "memoryKey": "mk_wrong", "title": "x"}),
        )
        .await;
    assert_eq!(wrong_key.status(), StatusCode::FORBIDDEN);

    let delete = h
        .client
        .delete(h.api(&format!("/memory-blobs/{id}?{uid}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(delete.status(), StatusCode::OK);
    assert_eq!(json_of(delete).await["success"], true);
    assert_eq!(
        h.get(&token, &format!("/memory-blobs/{id}?{uid}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.sim.handle().blobs(&user.user_id).len(), 7);
}

#[tokio::test]
async fn revoking_ends_access_to_blobs() {
    let h = Harness::new();
    let (token, user) = h.approved().await;
    let path = format!("/memory-blobs?user_id={}", user.user_id);
    assert_eq!(h.get(&token, &path).await.status(), StatusCode::OK);
    let id = h.sim.handle().access_requests()[0].id.clone();
    assert!(h.sim.handle().revoke(&id));
    assert_eq!(h.get(&token, &path).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn key_rotation_reencrypts_what_decrypts_and_leaves_the_rest() {
    let h = Harness::new();
    let handle = h.sim.handle();
    let user = handle.demo_user();
    let raw_id = handle.insert_raw_blob(&user.user_id, "Raw", "not an encrypted payload");
    let before = handle.blobs(&user.user_id);
    assert_eq!(before.len(), 8);
    let old_key = key_of(&user);
    let plaintexts: Vec<Option<String>> = before
        .iter()
        .map(|b| crypto::decrypt(&old_key, &b.content))
        .collect();
    assert_eq!(plaintexts.iter().filter(|p| p.is_some()).count(), 7);

    assert_eq!(handle.rotate_key(&user.user_id), Some(2));
    let rotated = handle.demo_user();
    assert_eq!(rotated.key_version, 2);
    assert_ne!(rotated.encryption_key_hex, user.encryption_key_hex);
    let new_key = key_of(&rotated);
    for (blob, plaintext) in handle.blobs(&user.user_id).iter().zip(&plaintexts) {
        if blob.id == raw_id {
            assert_eq!(blob.content, "not an encrypted payload");
            continue;
        }
        assert_eq!(crypto::decrypt(&new_key, &blob.content), *plaintext);
        assert_eq!(crypto::decrypt(&old_key, &blob.content), None);
    }
    assert_eq!(handle.rotate_key("no-such-user"), None);

    // The credentials endpoint tells the app about the new key.
    let (token, _) = h.approved().await;
    let id = handle.access_requests()[0].id.clone();
    let credentials = json_of(
        h.get(&token, &format!("/access-requests/{id}/credentials"))
            .await,
    )
    .await;
    assert_eq!(credentials["key_version"], 2);
    assert_eq!(credentials["encryption_key"], rotated.encryption_key_hex);
}

#[tokio::test]
async fn plaintext_mode_seeds_plaintext() {
    let h = Harness::start(MemoramSimulatorConfig {
        plaintext_content: true,
        ..MemoramSimulatorConfig::default()
    });
    let (token, user) = h.approved().await;
    let blobs = json_of(
        h.get(
            &token,
            &format!("/memory-blobs?user_id={}&searchQuery=alfama", user.user_id),
        )
        .await,
    )
    .await;
    let content = blobs["memoryBlobs"][0]["content"]
        .as_str()
        .expect("content");
    assert!(content.contains("Alfama"), "{content}");
}

#[tokio::test]
async fn auto_approve_approves_new_requests() {
    let h = Harness::new();
    h.sim.handle().set_auto_approve(true);
    let token = h.developer_token().await;
    let user = h.sim.handle().demo_user();
    let response = h
        .send_json(
            reqwest::Method::POST,
            &token,
            "/access-requests",
            &json!({"memoryKey": user.memory_key, "reason": "why"}),
        )
        .await;
    assert_eq!(json_of(response).await["status"], "approved");
}

/// The user's side of the OAuth flow: consent page, decision, code.
async fn authorize(h: &Harness, challenge: &str, decision: &str) -> Url {
    let query = [
        ("response_type", "code"),
        ("client_id", "demo-memoram-client-id"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "xyz"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let page = h
        .client
        .get(h.sim.authorize_url())
        .query(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("wants to connect to your Memoram memory"));
    assert!(html.contains("Ada Lovelace") && html.contains("ada@example.com"));
    assert!(html.contains("Authorize") && html.contains("Deny"));
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("decision", decision));
    let answer = h
        .client
        .post(h.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), StatusCode::FOUND);
    Url::parse(answer.headers()["location"].to_str().expect("location")).expect("url")
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn consent_code_and_token_exchange_with_pkce() {
    let h = Harness::start(MemoramSimulatorConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..MemoramSimulatorConfig::default()
    });
    let handle = h.sim.handle();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = pkce_s256(verifier);

    // Refusals that must not redirect.
    for (client_id, redirect_uri) in [
        ("unknown-client", REDIRECT_URI),
        ("demo-memoram-client-id", "http://127.0.0.1:9/elsewhere"),
    ] {
        let response = h
            .client
            .get(h.url("/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
    }
    // PKCE is required: an error by redirect.
    let no_pkce = h
        .client
        .get(h.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "demo-memoram-client-id"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s1"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(no_pkce.status(), StatusCode::FOUND);
    let location = Url::parse(no_pkce.headers()["location"].to_str().expect("str")).expect("url");
    assert_eq!(
        query_value(&location, "error").as_deref(),
        Some("invalid_request")
    );

    let denied = authorize(&h, &challenge, "deny").await;
    assert_eq!(
        query_value(&denied, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_value(&denied, "state").as_deref(), Some("xyz"));

    assert_eq!(h.sim.token_url().as_str(), h.api("/oauth/token"));
    let token = |form: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            h.client
                .post(h.sim.token_url())
                .form(&form)
                .send()
                .await
                .expect("send")
        }
    };
    let exchange = |code: String, verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("client_id", "demo-memoram-client-id".to_owned()),
            ("client_secret", "demo-memoram-client-secret".to_owned()),
        ]
    };

    let redirect = authorize(&h, &challenge, "allow").await;
    assert_eq!(query_value(&redirect, "state").as_deref(), Some("xyz"));
    let code = query_value(&redirect, "code").expect("code");
    let wrong_verifier = token(exchange(code, "not-the-verifier-not-the-verifier-xxxxxx")).await;
    assert_eq!(wrong_verifier.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(wrong_verifier).await["error"], "invalid_grant");

    // A code exchanged once (reusing it below is refused).
    let code = query_value(&authorize(&h, &challenge, "allow").await, "code").expect("code");
    let response = token(exchange(code.clone(), verifier)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens = json_of(response).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["memory_key"], handle.demo_user().memory_key);
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert!(tokens["access_token"].is_string());

    // Refresh with HTTP Basic client authentication; the refresh token rotates.
    let basic = |refresh: &str, secret: &str| {
        let h = &h;
        let refresh = refresh.to_owned();
        let secret = secret.to_owned();
        async move {
            h.client
                .post(h.api("/oauth/token"))
                .basic_auth("demo-memoram-client-id", Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
                .send()
                .await
                .expect("send")
        }
    };
    let wrong_secret = basic(&refresh_token, "wrong").await;
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(wrong_secret).await["error"], "invalid_client");
    let refreshed = basic(&refresh_token, "demo-memoram-client-secret").await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = json_of(refreshed).await;
    assert_ne!(refreshed["refresh_token"], refresh_token.as_str());
    assert_eq!(refreshed["memory_key"], handle.demo_user().memory_key);
    let replay = basic(&refresh_token, "demo-memoram-client-secret").await;
    assert_eq!(json_of(replay).await["error"], "invalid_grant");
    let after_reuse = basic(
        refreshed["refresh_token"].as_str().expect("refresh"),
        "demo-memoram-client-secret",
    )
    .await;
    assert_eq!(
        json_of(after_reuse).await["error"],
        "invalid_grant",
        "reuse ended the grant"
    );

    let reused = token(exchange(code, verifier)).await;
    assert_eq!(
        json_of(reused).await["error"],
        "invalid_grant",
        "codes are single-use"
    );

    let records = handle.token_requests();
    let summary: Vec<(&str, &str, u16)> = records
        .iter()
        .map(|r| (r.grant_type.as_str(), r.client_auth.as_str(), r.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("authorization_code", "client_secret_post", 400),
            ("authorization_code", "client_secret_post", 200),
            ("refresh_token", "none", 401),
            ("refresh_token", "client_secret_basic", 200),
            ("refresh_token", "client_secret_basic", 400),
            ("refresh_token", "client_secret_basic", 400),
            ("authorization_code", "client_secret_post", 400),
        ]
    );
}

#[tokio::test]
async fn codes_expire() {
    let h = Harness::start(MemoramSimulatorConfig {
        code_ttl: Duration::from_millis(50),
        ..MemoramSimulatorConfig::default()
    });
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let code =
        query_value(&authorize(&h, &pkce_s256(verifier), "allow").await, "code").expect("code");
    tokio::time::sleep(Duration::from_millis(120)).await;
    let response = h
        .client
        .post(h.api("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_id", "demo-memoram-client-id"),
            ("client_secret", "demo-memoram-client-secret"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["error"], "invalid_grant");
}

#[tokio::test]
async fn faults_apply_and_requests_are_counted() {
    let h = Harness::new();
    let handle = h.sim.handle();
    handle.set_fault(
        "/api/v1/auth/token",
        Fault {
            status: Some(503),
            retry_after: Some(7),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let faulted = h
        .client
        .post(h.api("/auth/token"))
        .json(&json!({"api_key": "demo-memoram-api-key"}))
        .send()
        .await
        .expect("send");
    assert_eq!(faulted.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(faulted.headers()["retry-after"], "7");
    h.developer_token().await;
    assert_eq!(handle.request_count("/api/v1/auth/token"), 2);
    assert_eq!(handle.developer_tokens_issued(), 1);

    handle.set_fault(
        "/api/v1/",
        Fault {
            body: FaultBody::Html,
            ..Fault::default()
        },
    );
    let html = h.client.get(h.api("/tags")).send().await.expect("send");
    assert_eq!(html.status(), StatusCode::BAD_GATEWAY);
    handle.clear_faults();
    let unknown = h.client.get(h.url("/nowhere")).send().await.expect("send");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(unknown).await["error"], "not_found");
    let home = h.client.get(h.url("/")).send().await.expect("send");
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
}
