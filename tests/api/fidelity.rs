//! Fidelity to Rememberizer's published contract.
//!
//! `tests/fixtures/rememberizer/` holds the provider's answers as its docs publish them (see the
//! README there for the page each came from). Three checks keep the client, the pages and the
//! simulator on that picture:
//! - every fixture decodes with the client's models;
//! - the app, pointed at a stand-in that answers with nothing but those fixtures, renders every
//!   page that uses them;
//! - the simulator answers each endpoint with the same keys and JSON types as its fixture.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use oauth2::{PkceCodeChallenge, TokenResponse};
use reqwest::StatusCode;
use serde_json::Value;
use simulators::rememberizer::SimulatorConfig;
use talk_to_mementos::auth::oauth::LenientTokenResponse;
use talk_to_mementos::rememberizer::{
    Account, Contents, DiscussionContents, Integration, ListOrPage, Me, Memento, Page, SearchShape,
};
use talk_to_mementos::rememberizer::{Document, SearchResults};
use url::Url;

use crate::helpers::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rememberizer")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture(name))
        .unwrap_or_else(|e| panic!("{name} does not decode with the client's model: {e}"))
}

#[test]
fn every_fixture_decodes_with_the_clients_models() {
    let mut checked = BTreeSet::new();
    let mut check = |name: &str, test: &dyn Fn(&str)| {
        test(name);
        checked.insert(name.to_owned());
    };

    for name in ["search_current.json", "search_2024.json"] {
        check(name, &|name| {
            let found = decode::<SearchResults>(name)
                .into_found()
                .expect("a list of hits");
            assert!(!found.hits.is_empty(), "{name}: hits");
            for hit in &found.hits {
                assert!(
                    hit.document.key().is_some(),
                    "{name}: a hit's id is its key"
                );
                assert!(hit.document.integration_type().is_some(), "{name}");
                assert!(!hit.matched_content.is_empty(), "{name}");
            }
            let expected = if name == "search_2024.json" {
                SearchShape::Data2024
            } else {
                assert_eq!(found.data_sources.len(), 2, "{name}: data_sources");
                SearchShape::MatchedChunks
            };
            assert_eq!(found.shape, expected, "{name}");
        });
    }
    for name in [
        "documents_int_id.json",
        "documents_string_id.json",
        "documents_no_pk.json",
    ] {
        check(name, &|name| {
            let page = decode::<Page<Document>>(name);
            assert!(!page.results.is_empty(), "{name}");
            for doc in &page.results {
                assert_eq!(doc.key(), Some(12345 + doc_index(&page, doc)), "{name}");
            }
        });
    }
    check("document_contents.json", &|name| {
        let contents = decode::<Contents>(name);
        assert!(!contents.content.is_empty() && contents.end_chunk > 0);
    });
    check("discussion_contents.json", &|name| {
        let discussion = decode::<DiscussionContents>(name);
        assert!(!discussion.discussion_content.is_empty());
        assert_eq!(discussion.thread_contents.len(), 2);
    });
    for name in ["account_int_id.json", "account_string_id.json"] {
        check(name, &|name| {
            let account = decode::<Account>(name);
            assert!(account.name.is_some() && account.email.is_some(), "{name}");
        });
    }
    check("me.json", &|name| {
        let me = decode::<Me>(name);
        assert_eq!((me.embed_quota, me.current_usage), (Some(10000), Some(500)));
    });
    check("integrations.json", &|name| {
        #[derive(serde::Deserialize)]
        struct List {
            data: Vec<Integration>,
        }
        let list = decode::<List>(name);
        assert_eq!(list.data.len(), 2);
    });
    for (name, shape) in [
        ("mementos_list.json", "plain list"),
        ("mementos_page.json", "DRF page"),
        ("mementos_data.json", "{\"data\": [...]}"),
    ] {
        check(name, &|name| {
            let list = decode::<ListOrPage<Memento>>(name);
            assert_eq!(list.shape(), shape, "{name}");
            assert!(!list.into_items().is_empty(), "{name}");
        });
    }
    check("memorize_200.json", &|name| {
        // The app needs nothing from this body: any JSON is accepted (see `ApiClient::memorize`).
        assert!(fixture_json(name).is_object());
    });
    check("token_full.json", &|name| {
        let token = decode::<LenientTokenResponse>(name);
        assert!(token.expires_in().is_some() && token.refresh_token().is_some());
    });
    check("token_minimal.json", &|name| {
        let token = decode::<LenientTokenResponse>(name);
        assert!(token.expires_in().is_none() && token.refresh_token().is_some());
        assert_eq!(token.token_type(), &oauth2::basic::BasicTokenType::Bearer);
    });
    for name in ["error_401.json", "error_401_full.json"] {
        check(name, &|name| {
            assert_eq!(fixture_json(name)["code"], "token_not_valid", "{name}");
        });
    }
    check("error_invalid_grant.json", &|name| {
        let error: oauth2::basic::BasicErrorResponse = decode(name);
        assert_eq!(
            error.error(),
            &oauth2::basic::BasicErrorResponseType::InvalidGrant
        );
    });

    // No fixture is left unchecked.
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(on_disk, checked, "every fixture has a decoding check");
}

/// The fixtures number their documents from 12345 in list order.
fn doc_index(page: &Page<Document>, doc: &Document) -> u64 {
    page.results
        .iter()
        .position(|d| std::ptr::eq(d, doc))
        .expect("in the page") as u64
}

/// A stand-in for Rememberizer that answers each path with a fixture, and counts requests.
pub(crate) struct FixtureProvider {
    pub(crate) url: Url,
    answers: Arc<Mutex<HashMap<String, (u16, String)>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl FixtureProvider {
    pub(crate) fn start() -> Self {
        let answers: Arc<Mutex<HashMap<String, (u16, String)>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url =
            Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
        let (a, h) = (answers.clone(), hits.clone());
        let server = HttpServer::new(move || {
            let (answers, hits) = (a.clone(), h.clone());
            App::new().default_service(web::to(move |req: HttpRequest| {
                let (answers, hits) = (answers.clone(), hits.clone());
                async move {
                    let path = req.path().to_owned();
                    *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
                    match answers.lock().expect("answers").get(&path) {
                        Some((status, body)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(*status).expect("status"),
                        )
                        .content_type("application/json")
                        .body(body.clone()),
                        None => HttpResponse::NotFound()
                            .content_type("application/json")
                            .body(r#"{"detail": "Not found."}"#),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        let provider = Self { url, answers, hits };
        provider.answer("/api/v1/auth/oauth2/token/", 200, "token_full.json");
        provider.answer("/api/v1/account/", 200, "account_string_id.json");
        provider.answer("/api/v1/me/", 200, "me.json");
        provider.answer("/api/v1/integrations/", 200, "integrations.json");
        provider.answer("/api/v1/documents/", 200, "documents_string_id.json");
        provider.answer("/api/v1/documents/search/", 200, "search_current.json");
        provider.answer("/api/v1/mementos/", 200, "mementos_list.json");
        provider.answer(
            "/api/v1/documents/12345/contents/",
            200,
            "document_contents.json",
        );
        provider.answer(
            "/api/v1/discussions/12346/contents/",
            200,
            "discussion_contents.json",
        );
        provider
    }

    pub(crate) fn answer(&self, path: &str, status: u16, fixture_name: &str) {
        let body = if fixture_name.is_empty() {
            String::new()
        } else {
            fixture(fixture_name)
        };
        self.answer_body(path, status, body);
    }

    fn answer_body(&self, path: &str, status: u16, body: String) {
        self.answers
            .lock()
            .expect("answers")
            .insert(path.to_owned(), (status, body));
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

/// The app in real mode against `provider`, connected through Step 1 and a callback carrying the
/// state the app chose (the stand-in has no consent page; its token endpoint takes any code).
async fn connected_app(provider: &FixtureProvider) -> TestApp {
    let provider_url = provider.url.clone();
    let app = spawn_app_with(SimulatorConfig::default(), move |settings| {
        settings.provider_url = provider_url;
    })
    .await;
    let authorize = app.start_connect().await;
    let state = query_param(&authorize, "state");
    let response = app
        .get(&format!(
            "/auth/rememberizer/callback?code=fixture-code&state={state}"
        ))
        .await;
    assert_is_redirect_to(&response, "/dashboard");
    app
}

#[tokio::test]
async fn the_dashboard_renders_every_published_documents_and_account_shape() {
    let provider = FixtureProvider::start();
    let app = connected_app(&provider).await;
    for documents in [
        "documents_int_id.json",
        "documents_string_id.json",
        "documents_no_pk.json",
    ] {
        for account in ["account_int_id.json", "account_string_id.json"] {
            provider.answer("/api/v1/documents/", 200, documents);
            provider.answer("/api/v1/account/", 200, account);
            let (status, html) = app.get_html("/dashboard").await;
            assert_eq!(status, StatusCode::OK, "{documents} + {account}");
            assert!(html.contains("User Name"), "{account}: the account");
            let links = hrefs(&html);
            assert!(
                links.contains(&"/documents/12345".to_owned()),
                "{documents}: a file links to its reader by key: {links:?}"
            );
            if documents != "documents_no_pk.json" {
                assert!(
                    links.contains(&"/discussions/12346?integration_type=slack".to_owned()),
                    "{documents}: a channel links to the channel reader: {links:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn ask_renders_both_published_search_shapes() {
    let provider = FixtureProvider::start();
    let app = connected_app(&provider).await;

    let (status, html) = app.get_html("/ask?q=language+models").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("understand"), "the Drive passage is shown");
    assert!(html.contains("embedding job"), "the Slack passage is shown");
    assert!(
        html.contains("Found in 1 document from Google Drive, 1 from Slack."),
        "data_sources are summarised"
    );
    assert!(html.contains("match 1 of 2") && html.contains("match 2 of 2"));
    assert!(!html.contains('%'), "no relevance percentage from distance");
    let links = hrefs(&html);
    assert!(
        links.contains(&"/documents/13646493".to_owned()),
        "{links:?}"
    );
    assert!(
        links.contains(&"/discussions/13650021?integration_type=slack".to_owned()),
        "{links:?}"
    );

    provider.answer("/api/v1/documents/search/", 200, "search_2024.json");
    let (status, html) = app.get_html("/ask?q=language+models").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("match 1 of"),
        "the 2024 shape still finds passages"
    );
    assert!(!html.contains("Nothing in the mementos"));

    // An answer in neither shape is an error page, not "no results".
    provider.answer("/api/v1/documents/search/", 200, "memorize_200.json");
    let (status, html) = app.get_html("/ask?q=language+models").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(!html.contains("Nothing in the mementos"));
}

#[tokio::test]
async fn a_document_and_a_channel_render_from_the_published_examples() {
    let provider = FixtureProvider::start();
    let app = connected_app(&provider).await;

    let (status, html) = app.get_html("/documents/12345").await;
    assert_eq!(status, StatusCode::OK);
    let text = fixture_json("document_contents.json")["content"]
        .as_str()
        .expect("content")
        .chars()
        .take(30)
        .collect::<String>();
    assert!(html.contains(&text), "the contents are shown");
    assert!(html.contains("Project Proposal.docx"), "found by pk");

    let (status, html) = app
        .get_html("/discussions/12346?integration_type=slack")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Good morning team!"), "main messages");
    assert!(
        html.contains("2 replies in thread"),
        "a thread under its message"
    );
    assert!(html.contains("Glad to hear that, User C!"), "its replies");
    assert!(
        html.contains("engineering"),
        "the channel's name from the list"
    );
}

#[tokio::test]
async fn mementos_render_in_each_envelope_and_memorize_accepts_both_answers() {
    let provider = FixtureProvider::start();
    let app = connected_app(&provider).await;
    for shape in [
        "mementos_list.json",
        "mementos_page.json",
        "mementos_data.json",
    ] {
        provider.answer("/api/v1/mementos/", 200, shape);
        let (status, html) = app.get_html("/mementos").await;
        assert_eq!(status, StatusCode::OK, "{shape}");
        assert!(html.contains("Work Documents"), "{shape}");
    }

    for (status, body) in [(201, ""), (200, "memorize_200.json")] {
        provider.answer("/api/v1/documents/memorize/", status, body);
        let (_, form) = app.get_html("/memorize").await;
        let csrf = extract_hidden(&form, "csrf_token").expect("csrf");
        let response = app
            .client
            .post(app.url("/memorize"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("name", "A note"),
                ("content", "Some text"),
            ])
            .send()
            .await
            .expect("POST");
        assert!(
            response.status().is_redirection(),
            "{status}: stored, then redirected ({})",
            response.status()
        );
    }
}

#[tokio::test]
async fn a_minimal_token_response_connects_and_a_401_refreshes_once() {
    let provider = FixtureProvider::start();
    provider.answer("/api/v1/auth/oauth2/token/", 200, "token_minimal.json");
    let app = connected_app(&provider).await;
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "connected with access + refresh only"
    );
    let token_calls = provider.hits("/api/v1/auth/oauth2/token/");
    assert_eq!(token_calls, 1, "no expiry known: no early refresh");

    // The published 401: refresh once, retry once; a 401 to the fresh token too is a page
    // that offers to try again or connect again, and keeps the grant (see `api::with_access_token`).
    // (On the documents: the account is kept from the first view, see `rememberizer::cache`.)
    provider.answer("/api/v1/documents/", 401, "error_401.json");
    let before = provider.hits("/api/v1/documents/");
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        html.contains("Connect Rememberizer"),
        "a way to connect again"
    );
    assert_eq!(provider.hits("/api/v1/auth/oauth2/token/"), token_calls + 1);
    assert_eq!(provider.hits("/api/v1/documents/"), before + 2);
}

#[tokio::test]
async fn a_refresh_answered_with_invalid_grant_asks_to_connect_again() {
    let provider = FixtureProvider::start();
    let app = connected_app(&provider).await;
    provider.answer(
        "/api/v1/auth/oauth2/token/",
        400,
        "error_invalid_grant.json",
    );
    provider.answer("/api/v1/account/", 401, "error_401_full.json");
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Connect"));
    assert_eq!(
        provider.hits("/api/v1/auth/oauth2/token/"),
        2,
        "one refresh"
    );
    assert_eq!(
        provider.hits("/api/v1/account/"),
        1,
        "no retry without a token"
    );
}

// ---- The simulator answers in the fixtures' shapes ----

/// JSON type of a value, as the conformance check compares them.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between `actual` and `expected` (a fixture): every object must have exactly the
/// fixture's keys, every value the fixture's JSON type, recursively; each array element is
/// compared with the fixture's first element. `null` on either side matches any type (the docs
/// mark no field as non-nullable). Objects listed in `maps` have free keys (e.g.
/// `thread_contents`, keyed by time): only their values are compared.
pub(crate) fn shape_differences(
    expected: &Value,
    actual: &Value,
    path: &str,
    maps: &[&str],
) -> Vec<String> {
    match (expected, actual) {
        (Value::Null, _) | (_, Value::Null) => vec![],
        (Value::Object(e), Value::Object(a)) if maps.contains(&path) => {
            let Some(sample) = e.values().next() else {
                return vec![];
            };
            if a.is_empty() {
                return vec![format!("{path}: empty, cannot be compared")];
            }
            a.iter()
                .flat_map(|(k, v)| shape_differences(sample, v, &format!("{path}.{k}"), maps))
                .collect()
        }
        (Value::Object(e), Value::Object(a)) => {
            let mut out = Vec::new();
            for key in e.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{key}: missing"));
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{key}: not in the fixture"));
            }
            for (key, value) in e {
                if let Some(actual) = a.get(key) {
                    out.extend(shape_differences(
                        value,
                        actual,
                        &format!("{path}.{key}"),
                        maps,
                    ));
                }
            }
            out
        }
        (Value::Array(e), Value::Array(a)) => match (e.first(), a.is_empty()) {
            (None, _) => vec![],
            (Some(_), true) => vec![format!("{path}: empty, cannot be compared")],
            (Some(sample), false) => a
                .iter()
                .enumerate()
                .flat_map(|(i, v)| shape_differences(sample, v, &format!("{path}[{i}]"), maps))
                .collect(),
        },
        (e, a) if kind(e) == kind(a) => vec![],
        (e, a) => vec![format!(
            "{path}: {} where the fixture has {}",
            kind(a),
            kind(e)
        )],
    }
}

#[test]
fn the_shape_check_can_fail() {
    let fixture = serde_json::json!({"a": 1, "b": [{"c": "x"}], "m": {"k1": "v"}});
    let same = serde_json::json!({"a": 2, "b": [{"c": "y"}, {"c": null}], "m": {"other": "w"}});
    assert!(shape_differences(&fixture, &same, "", &[".m"]).is_empty());
    let wrong = serde_json::json!({"a": "2", "b": [{"d": "y"}], "m": {"k": 1}, "e": 0});
    let found = shape_differences(&fixture, &wrong, "", &[".m"]);
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(!shape_differences(
        &fixture,
        &serde_json::json!({"a": 1, "b": [], "m": {"k": "v"}}),
        "",
        &[".m"]
    )
    .is_empty());
}

/// A simulator and tokens obtained from it over HTTP, as any client would: the code flow with
/// PKCE, by hand.
struct SimulatorClient {
    app: TestApp,
    http: reqwest::Client,
}

impl SimulatorClient {
    async fn start(config: SimulatorConfig) -> Self {
        let app = spawn_app_with(config, |_| {}).await;
        Self {
            app,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> Url {
        self.app.sim_url.join(path).expect("url")
    }

    /// Steps 1–4 against the simulator directly; returns the token endpoint's JSON answer.
    async fn token_response(&self) -> Value {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect_uri = format!("{}/auth/rememberizer/callback", self.app.public_url());
        let mut authorize = self.url("/api/v1/auth/oauth2/authorize/");
        authorize
            .query_pairs_mut()
            .append_pair("client_id", CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", "conformance-state-0123456789abcdef")
            .append_pair("scope", "offline_access")
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        let memento = self.app.sim.mementos()[0].id;
        let callback = self.app.consent(&authorize, &[memento], true).await;
        let code = query_param(&callback, "code");
        self.token_call(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", verifier.secret()),
        ])
        .await
        .1
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form = form.to_vec();
        form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
        let response = self
            .http
            .post(self.url("/api/v1/auth/oauth2/token/"))
            .form(&form)
            .send()
            .await
            .expect("token call");
        (
            response.status(),
            response.json().await.expect("token JSON"),
        )
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("API call");
        (response.status(), response.text().await.expect("body"))
    }
}

fn assert_same_shape(fixture_name: &str, status: StatusCode, body: &str, maps: &[&str]) {
    let actual: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{fixture_name}: the simulator's answer is not JSON: {e}"));
    let differences = shape_differences(&fixture_json(fixture_name), &actual, "", maps);
    assert!(
        differences.is_empty(),
        "the simulator drifted from {fixture_name} (status {status}): {differences:#?}"
    );
}

#[tokio::test]
async fn the_simulator_answers_in_the_shapes_of_the_published_fixtures() {
    let sim = SimulatorClient::start(SimulatorConfig::default()).await;
    let tokens = sim.token_response().await;
    let no_maps: &[&str] = &[];
    assert_same_shape(
        "token_full.json",
        StatusCode::OK,
        &tokens.to_string(),
        no_maps,
    );
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");

    let channel = sim
        .app
        .sim
        .documents()
        .into_iter()
        .find(|d| d.integration_type == "slack" && d.memento_ids.contains(&1))
        .expect("a channel in memento 1")
        .id;
    let file = sim
        .app
        .sim
        .documents()
        .into_iter()
        .find(|d| d.integration_type == "google_drive" && d.memento_ids.contains(&1))
        .expect("a file in memento 1")
        .id;
    let checks: Vec<(&str, String, &[&str])> = vec![
        ("account_string_id.json", "/api/v1/account/".into(), no_maps),
        ("me.json", "/api/v1/me/".into(), no_maps),
        ("integrations.json", "/api/v1/integrations/".into(), no_maps),
        (
            "documents_string_id.json",
            "/api/v1/documents/?page=1&page_size=5".into(),
            no_maps,
        ),
        (
            "search_current.json",
            "/api/v1/documents/search/?q=deploy+architecture&n=10".into(),
            no_maps,
        ),
        (
            "document_contents.json",
            format!("/api/v1/documents/{file}/contents/"),
            no_maps,
        ),
        (
            "discussion_contents.json",
            format!("/api/v1/discussions/{channel}/contents/?integration_type=slack"),
            &[".thread_contents"],
        ),
        ("mementos_list.json", "/api/v1/mementos/".into(), no_maps),
    ];
    for (fixture_name, path, maps) in checks {
        let (status, body) = sim.get(access, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_same_shape(fixture_name, status, &body, maps);
    }

    // A channel is a discussion: its chunked contents are not found, as the docs' 404 says.
    let (status, _) = sim
        .get(access, &format!("/api/v1/documents/{channel}/contents/"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Search with a date range that excludes everything finds nothing, in the same shape.
    let (status, body) = sim
        .get(
            access,
            "/api/v1/documents/search/?q=deploy&from=2001-01-01T00:00:00Z&to=2001-01-07T00:00:00Z",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let empty: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(empty["matched_chunks"], serde_json::json!([]));

    // Errors: the 401 body, and RFC 6749 errors from the token endpoint.
    let (status, body) = sim.get("not-a-token", "/api/v1/account/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_same_shape("error_401.json", status, &body, no_maps);
    let (status, error) = sim
        .token_call(&[("grant_type", "refresh_token"), ("refresh_token", "bogus")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_same_shape(
        "error_invalid_grant.json",
        status,
        &error.to_string(),
        no_maps,
    );

    // Refresh answers like the exchange.
    let (status, refreshed) = sim
        .token_call(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape("token_full.json", status, &refreshed.to_string(), no_maps);

    // Memorize: 201 with no body, as the docs' prose says.
    let response = sim
        .http
        .post(sim.url("/api/v1/documents/memorize/"))
        .bearer_auth(refreshed["access_token"].as_str().expect("token"))
        .json(&serde_json::json!({"name": "n", "content": "c"}))
        .send()
        .await
        .expect("memorize");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn the_simulators_switches_answer_in_the_other_published_shapes() {
    let sim = SimulatorClient::start(SimulatorConfig {
        minimal_token_response: true,
        search_shape_2024: true,
        mementos_as_page: true,
        ..SimulatorConfig::default()
    })
    .await;
    let tokens = sim.token_response().await;
    assert_same_shape(
        "token_minimal.json",
        StatusCode::OK,
        &tokens.to_string(),
        &[],
    );
    let access = tokens["access_token"].as_str().expect("access token");
    let (status, body) = sim
        .get(access, "/api/v1/documents/search/?q=deploy&n=5")
        .await;
    assert_same_shape("search_2024.json", status, &body, &[]);
    let (status, body) = sim.get(access, "/api/v1/mementos/").await;
    assert_same_shape("mementos_page.json", status, &body, &[]);
}

// ---- The live check (`cargo run --example live_check`) ----

fn api_client(provider_url: &Url) -> talk_to_mementos::rememberizer::ApiClient {
    let http = talk_to_mementos::http_client::HttpClient::new(
        &talk_to_mementos::config::HttpSettings::default(),
    )
    .expect("http client");
    talk_to_mementos::rememberizer::ApiClient::new(http, provider_url).expect("api client")
}

fn live_options(memorize: bool) -> talk_to_mementos::rememberizer::live_check::Options {
    talk_to_mementos::rememberizer::live_check::Options {
        query: "deploy".to_owned(),
        memorize,
    }
}

#[tokio::test]
async fn the_live_check_reads_every_answer_of_the_simulator() {
    use talk_to_mementos::rememberizer::live_check;
    let sim = SimulatorClient::start(SimulatorConfig::default()).await;
    let tokens = sim.token_response().await;
    let token = talk_to_mementos::auth::tokens::AccessToken::new(secrecy::SecretString::from(
        tokens["access_token"].as_str().expect("token").to_owned(),
    ));
    let checks = live_check::run(&api_client(&sim.app.sim_url), &token, &live_options(true)).await;
    let report = live_check::render(&checks);
    assert_eq!(checks.len(), 9, "{report}");
    assert!(checks.iter().all(|c| c.is_ok()), "{report}");
    assert!(report.contains("pk: integer, id: string"), "{report}");
    assert!(report.contains("read from matched_chunks"), "{report}");
    assert!(report.contains("thread_contents: object"), "{report}");
    assert!(report.contains("POST documents/memorize/") && report.contains("stored"));
    assert!(
        !report.contains(tokens["access_token"].as_str().expect("token")),
        "the token is never printed"
    );
}

#[tokio::test]
async fn the_live_check_reports_an_answer_the_client_cannot_read() {
    use talk_to_mementos::rememberizer::live_check;
    let provider = FixtureProvider::start();
    // A search answer in neither published shape, and a documents page without usable keys.
    provider.answer("/api/v1/documents/search/", 200, "memorize_200.json");
    provider.answer_body(
        "/api/v1/documents/",
        200,
        r#"{"count": 1, "next": null, "previous": null, "results": [{"id": "doc-a", "name": "A"}]}"#
            .to_owned(),
    );
    let token = talk_to_mementos::auth::tokens::AccessToken::new(secrecy::SecretString::from(
        "any".to_owned(),
    ));
    let checks = live_check::run(&api_client(&provider.url), &token, &live_options(false)).await;
    let report = live_check::render(&checks);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.is_ok())
        .map(|c| c.endpoint.as_str())
        .collect();
    assert_eq!(
        failed,
        ["GET documents/", "GET documents/search/"],
        "{report}"
    );
    assert!(report.contains("2 not read by the client"), "{report}");
}

// ---- The answer service's stream, as OpenAI publishes it ----

/// The simulator's chat endpoint, asked for a stream, sends chunks with the keys and JSON types
/// of OpenAI's published chunk object (`tests/fixtures/openai/chunk_object.jsonl`): the role
/// chunk, the content chunks and the finish chunk, framed as Server-Sent Events and ended by
/// `data: [DONE]`.
#[tokio::test]
async fn the_simulated_model_streams_in_the_shape_of_openais_chunks() {
    let simulator = simulators::rememberizer::Simulator::start(
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind"),
        simulators::rememberizer::SimulatorConfig::default(),
    )
    .expect("simulator");
    let fixtures: Vec<Value> = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/openai/chunk_object.jsonl"),
    )
    .expect("fixture")
    .lines()
    .map(|line| serde_json::from_str(line).expect("a chunk"))
    .collect();
    let body = reqwest::Client::new()
        .post(simulator.base_url().join("v1/chat/completions").expect("url"))
        .bearer_auth(simulators::rememberizer::DEMO_LLM_KEY)
        .json(&serde_json::json!({
            "model": "m",
            "stream": true,
            "messages": [{"role": "user", "content": "<question>\ndeploys\n</question>\n<passage number=\"1\" document=\"d\">\nCanary deploys go first.\n</passage>\n"}],
        }))
        .send()
        .await
        .expect("POST");
    assert_eq!(body.headers()["content-type"], "text/event-stream");
    let text = body.text().await.expect("body");
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|data| serde_json::from_str(data).expect("a JSON chunk"))
        .collect();
    assert!(chunks.len() >= 3, "{text}");
    let (first, rest) = chunks.split_first().expect("chunks");
    let (last, middle) = rest.split_last().expect("chunks");
    let mut differences = shape_differences(&fixtures[0], first, "role chunk", &[]);
    for chunk in middle {
        differences.extend(shape_differences(&fixtures[1], chunk, "content chunk", &[]));
    }
    differences.extend(shape_differences(&fixtures[2], last, "finish chunk", &[]));
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let written: String = middle
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(written, "Canary deploys go first [1].");
}
