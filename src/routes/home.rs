use actix_web::{web, HttpResponse};
use tera::Context;

use crate::errors::AppError;
use crate::session::TypedSession;
use crate::state::AppState;
use crate::templates::Templates;
use crate::tokens::TokenError;

/// `GET /`: what the app does and a "Connect Rememberizer" button; the account when connected.
pub async fn home(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    if let Some(connection) = session.connection()? {
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
        context.insert("csrf_token", &session.csrf_token()?);
    }
    Ok(templates.page("home.html", &context)?)
}
