//! Pages that need a connection take one of these extractors instead of repeating a preamble:
//! without what the page needs, the extractor fails with a `303` to where the browser can get it
//! (`AppError::SeeOther`), and the handler never runs. (Zero To Production's
//! `reject_anonymous_users` does the same as a middleware; an extractor also hands the handler
//! what it checked.)
//!
//! - [`RememberizerUser`]: connected to Rememberizer (else `/`).
//! - [`MemoramUser`]: connected to Memoram, whatever its access request's state (else `/`).
//! - [`MemoramMember`]: connected to Memoram with an approved access request and its credentials
//!   (else `/memoram/access`, the waiting page).

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::session::TypedSession;
use crate::auth::ConnectionId;
use crate::errors::AppError;
use crate::memoram::connections::MemoramConnection;
use crate::memoram::{Member, MemberError};
use crate::state::AppState;
use crate::{memoram, rememberizer};

/// Where Memoram's waiting page is.
pub const MEMORAM_ACCESS_ROUTE: &str = "/memoram/access";

pub struct RememberizerUser {
    pub connection: ConnectionId,
    pub session: TypedSession,
}

impl FromRequest for RememberizerUser {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = TypedSession::of(req);
        std::future::ready(match session.connection(rememberizer::SESSION_SLOT) {
            Ok(Some(connection)) => Ok(Self {
                connection,
                session,
            }),
            Ok(None) => Err(AppError::SeeOther("/")),
            Err(error) => Err(error.into()),
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
        let session = TypedSession::of(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or(AppError::NotFound)?;
            let memoram = state.memoram()?;
            let id = session
                .connection(memoram::SESSION_SLOT)?
                .ok_or(AppError::SeeOther("/"))?;
            let connection = memoram
                .connections
                .get(&id)
                .await?
                // Forgotten by the store (idle too long, evicted): connect again.
                .ok_or(AppError::SeeOther("/"))?;
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
