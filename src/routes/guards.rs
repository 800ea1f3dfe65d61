//! Pages that need a connection take one of these extractors instead of repeating a preamble:
//! without what the page needs, the extractor fails and the handler never runs. (Zero To
//! Production's `reject_anonymous_users` does the same as a middleware; an extractor also hands
//! the handler what it checked.) No connection is never a silent redirect: the answer is a `403`
//! page that says what the page needs and offers to connect, coming back to the page asked for
//! ([`not_connected`]).
//!
//! - [`RememberizerUser`]: connected to Rememberizer (else the page offering to connect it).
//! - [`MemoramUser`]: connected to Memoram, whatever its access request's state (else the page
//!   offering to connect it).
//! - [`MemoramMember`]: connected to Memoram with an approved access request and its credentials
//!   (else, connected and waiting: `303` to `/memoram/access`, the waiting page, which says what
//!   to do).

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use tera::Context;

use crate::auth::session::TypedSession;
use crate::auth::ConnectionId;
use crate::errors::AppError;
use crate::memoram::connections::MemoramConnection;
use crate::memoram::{Member, MemberError};
use crate::provider::Provider;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;
use crate::{memoram, rememberizer};

/// Where Memoram's waiting page is.
pub const MEMORAM_ACCESS_ROUTE: &str = "/memoram/access";

pub struct RememberizerUser {
    pub connection: ConnectionId,
    pub session: TypedSession,
}

impl FromRequest for RememberizerUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = TypedSession::of(&req);
            match session.connection(rememberizer::SESSION_SLOT)? {
                Some(connection) => Ok(Self {
                    connection,
                    session,
                }),
                None => Err(not_connected(&req, &[Provider::Rememberizer]).await),
            }
        })
    }
}

pub struct MemoramUser {
    pub id: ConnectionId,
    pub connection: MemoramConnection,
    pub session: TypedSession,
}

impl FromRequest for MemoramUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = TypedSession::of(&req);
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or(AppError::NotFound)?;
            let memoram = state.memoram()?;
            let stored = match session.connection(memoram::SESSION_SLOT)? {
                Some(id) => memoram.connections.get(&id).await?.map(|c| (id, c)),
                None => None,
            };
            // Never connected, or forgotten by the store (idle too long, evicted): connect again.
            let Some((id, connection)) = stored else {
                return Err(not_connected(&req, &[Provider::Memoram]).await);
            };
            Ok(Self {
                id,
                connection,
                session,
            })
        })
    }
}

/// An approved member (see `memoram::Member`: its id, connection and keys), with the session.
pub struct MemoramMember {
    pub member: Member,
    pub session: TypedSession,
}

impl std::ops::Deref for MemoramMember {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.member
    }
}

impl std::ops::DerefMut for MemoramMember {
    fn deref_mut(&mut self) -> &mut Member {
        &mut self.member
    }
}

impl FromRequest for MemoramMember {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = MemoramUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            let member = Member::new(user.id, user.connection)
                .ok_or(AppError::SeeOther(MEMORAM_ACCESS_ROUTE))?;
            Ok(Self {
                member,
                session: user.session,
            })
        })
    }
}

/// A member's failure as a page: a revoked access sends the browser to the waiting page.
impl From<MemberError> for AppError {
    fn from(error: MemberError) -> Self {
        match error {
            MemberError::Api(error) => AppError::Memoram(error),
            MemberError::Revoked => AppError::SeeOther(MEMORAM_ACCESS_ROUTE),
            MemberError::Gone => AppError::SeeOther("/"),
            MemberError::Store(error) => AppError::Store(error),
        }
    }
}

/// A "Connect …" button of the page [`not_connected`] renders.
#[derive(Serialize)]
struct ConnectOffer {
    name: &'static str,
    /// The provider's connect route, with `return_to` the page asked for (a GET's path and
    /// query, URL-encoded); none after a form's POST, which cannot be asked for again.
    href: String,
}

/// The answer to a request for a page that needs one of `providers` and has none of them: a
/// `403` page naming what the page needs, with a "Connect …" button per provider (offered by
/// this app) that comes back to the page asked for once connected. A browser connected to
/// something else keeps its menu. If the page cannot be rendered, the error page says the same.
pub async fn not_connected(req: &HttpRequest, providers: &[Provider]) -> AppError {
    let state = req.app_data::<web::Data<AppState>>();
    let offered: Vec<Provider> = providers
        .iter()
        .copied()
        .filter(|p| *p != Provider::Memoram || state.is_some_and(|s| s.memoram.is_some()))
        .collect();
    let provider = offered.first().copied().unwrap_or(Provider::Rememberizer);
    let page = match (state, req.app_data::<web::Data<Templates>>()) {
        (Some(state), Some(templates)) => connect_page(req, state, templates, &offered).await.ok(),
        _ => None,
    };
    AppError::NotConnected { provider, page }
}

async fn connect_page(
    req: &HttpRequest,
    state: &AppState,
    templates: &Templates,
    providers: &[Provider],
) -> Result<String, AppError> {
    let return_to = match *req.method() {
        Method::GET | Method::HEAD => req
            .uri()
            .path_and_query()
            .and_then(|asked| crate::connect::return_path(asked.as_str())),
        _ => None,
    };
    let offers: Vec<ConnectOffer> = providers
        .iter()
        .map(|provider| ConnectOffer {
            name: provider.name(),
            href: match &return_to {
                Some(path) => format!(
                    "{}?return_to={}",
                    provider.connect_route(),
                    url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
                ),
                None => provider.connect_route().to_owned(),
            },
        })
        .collect();
    let names: Vec<&str> = providers.iter().map(|p| p.name()).collect();
    let mut context = Context::new();
    let session = TypedSession::of(req);
    if session.is_connected() {
        signed_in(&mut context, &session, state).await?;
    }
    context.insert(
        "heading",
        &format!("Connect {} {}", names.join(" or "), purpose(req.path())),
    );
    context.insert("providers", &names);
    context.insert("offers", &offers);
    context.insert("memoram", &providers.contains(&Provider::Memoram));
    context.insert("rememberizer", &providers.contains(&Provider::Rememberizer));
    Ok(templates.render("connect.html", &context)?)
}

/// What a page is for, as the connect page's heading ends ("Connect Rememberizer to see your
/// documents").
fn purpose(path: &str) -> &'static str {
    match path {
        "/dashboard" => "to see your documents",
        "/mementos" => "to see your mementos",
        "/memorize" => "to save a new note",
        "/ask" => "to ask questions",
        "/memories" => "to see your Memoram memories",
        "/memories/new" => "to write a new memory",
        "/memories/tags" => "to see your tags",
        "/memoram/access" => "to ask for access",
        p if p.starts_with("/documents/") || p.starts_with("/discussions/") => {
            "to read this document"
        }
        p if p.starts_with("/memories/") => "to see this memory",
        _ => "to use this page",
    }
}
