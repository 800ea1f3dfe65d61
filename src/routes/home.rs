use actix_web::{web, HttpResponse};
use tera::Context;

use crate::auth::session::TypedSession;
use crate::auth::tokens::TokenError;
use crate::errors::AppError;
use crate::memoram::{AccessState, MemberError};
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;
use crate::{memoram, rememberizer};

/// `GET /`: what the app does, and each provider's state: a "Connect …" button, or the account
/// (Rememberizer) and the access state (Memoram) with a "Disconnect" button.
pub async fn home(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    let mut connected = false;
    if let Some(connection) = session.connection(rememberizer::SESSION_SLOT)? {
        connected = true;
        context.insert("rememberizer_connected", &true);
        let api = &state.api;
        match state
            .call_api(
                &connection,
                |token| async move { api.account(&token).await },
            )
            .await
        {
            Ok(account) => context.insert("account", &account),
            Err(AppError::Token(TokenError::Reconnect)) => {
                context.insert("connection_ended", &true);
            }
            // The landing page stays usable while Rememberizer is down.
            Err(error) => {
                tracing::warn!(%error, "account summary unavailable");
                context.insert("account_unavailable", &true);
            }
        }
    }
    if let Some(memoram) = &state.memoram {
        context.insert("memoram_offered", &true);
        if let Some(id) = session.connection(memoram::SESSION_SLOT)? {
            // The store's word, not the session's: a connection it forgot is not shown.
            if let Some(mut connection) = memoram.connections.get(&id).await? {
                connected = true;
                context.insert("memoram_connected", &true);
                // And Memoram's word, now: access revoked on its side shows here at once.
                match memoram.check_access(&id, &mut connection).await {
                    Ok(access) => {
                        context.insert("memoram_access", access.as_str());
                        context.insert("memoram_approved", &(access == AccessState::Approved));
                    }
                    Err(MemberError::Gone) => {
                        context.insert("memoram_connected", &false);
                    }
                    // The landing page stays usable while Memoram is down.
                    Err(error) => {
                        tracing::warn!(%error, "Memoram access state unavailable");
                        context.insert("memoram_unavailable", &true);
                        context.insert("memoram_approved", &connection.credentials.is_some());
                    }
                }
            }
        }
    }
    if connected {
        signed_in(&mut context, &session, &state).await?;
    }
    Ok(templates.page("home.html", &context)?)
}
