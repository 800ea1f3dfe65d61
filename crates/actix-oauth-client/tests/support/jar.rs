//! A browser's cookie jar for the crates' tests that drive an app over HTTP, shared by path
//! (`#[path = "…/support/jar.rs"] mod jar;`): the client follows no redirect, so each step of a
//! flow is seen.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, SET_COOKIE};
use url::Url;

/// A browser's cookies, by hand (the client follows no redirect).
#[derive(Default, Clone)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    /// `GET url` with the jar's cookies; the answer's cookies are kept (an empty one removes).
    pub async fn get(&mut self, url: Url) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let cookies: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = client
            .get(url)
            .header(COOKIE, cookies.join("; "))
            .send()
            .await
            .expect("GET");
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        response
    }
}
