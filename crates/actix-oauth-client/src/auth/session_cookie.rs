//! The session middleware, configured once: actix-session's [`SessionMiddleware`] with the
//! cookie this flow needs, and a browser's cookie left alone when its session's changes were not
//! written (see `session_store::gone`).
//!
//! The cookie holds an opaque random key, signed and encrypted; the state is server-side, for
//! connected browsers only. `HttpOnly`; `SameSite=Lax`, not `Strict`, because the browser must
//! send it on the provider's top-level redirect back to the callback (Step 3); `Secure` when the
//! app is served over https; the session and its cookie end `ttl` after the last change.

use std::rc::Rc;
use std::time::Duration;

use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::SessionStore;
use actix_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, SET_COOKIE};
use futures_util::future::LocalBoxFuture;

use crate::auth::session_store::GoneSessions;

/// What the session cookie is.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    /// Its name.
    pub name: String,
    /// Sent over https only (set it when the app's public address is https).
    pub secure: bool,
    /// How long a session lives after its last change.
    pub ttl: Duration,
}

/// The session middleware for `store`, its cookies signed and encrypted with `key`.
pub fn session_middleware<S: SessionStore>(
    store: S,
    key: Key,
    cookie: &SessionCookie,
) -> SessionLayer<S> {
    let ttl = i64::try_from(cookie.ttl.as_secs()).unwrap_or(i64::MAX);
    let session = SessionMiddleware::builder(store, key)
        .cookie_name(cookie.name.clone())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(cookie.secure)
        .cookie_path("/".to_owned())
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(actix_web::cookie::time::Duration::seconds(ttl))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
    SessionLayer {
        session,
        cookie: Rc::from(cookie.name.as_str()),
    }
}

/// actix-session's middleware, and the cookie kept as it was when a request's session was gone
/// by the time its changes were to be written (a log out or a login in another tab) or held no
/// connection: the browser keeps what it has rather than a key under which nothing is stored.
/// Wrap an app (or a scope) in it with `.wrap(…)`.
pub struct SessionLayer<S: SessionStore> {
    session: SessionMiddleware<S>,
    cookie: Rc<str>,
}

impl<St, B, S> Transform<St, ServiceRequest> for SessionLayer<S>
where
    St: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    St::Future: 'static,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform =
        KeepCookieWhenGone<<SessionMiddleware<S> as Transform<St, ServiceRequest>>::Transform>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Transform, ()>>;

    fn new_transform(&self, service: St) -> Self::Future {
        let session = self.session.new_transform(service);
        let cookie = self.cookie.clone();
        Box::pin(async move {
            Ok(KeepCookieWhenGone {
                inner: Rc::new(session.await?),
                cookie,
            })
        })
    }
}

/// The service [`SessionLayer`] builds.
pub struct KeepCookieWhenGone<T> {
    inner: Rc<T>,
    cookie: Rc<str>,
}

impl<T, B> Service<ServiceRequest> for KeepCookieWhenGone<T>
where
    T: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    T::Future: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let handling = self.inner.call(req);
        let cookie = self.cookie.clone();
        Box::pin(async move {
            let (response, gone) = GoneSessions::track(handling).await;
            let mut response = response?;
            if gone {
                strip_cookie(response.headers_mut(), &cookie);
            }
            Ok(response)
        })
    }
}

/// Takes the `Set-Cookie` headers for the cookie `name` off an answer.
fn strip_cookie(headers: &mut HeaderMap, name: &str) {
    let prefix = format!("{name}=");
    let kept: Vec<_> = headers
        .get_all(SET_COOKIE)
        .filter(|value| !value.as_bytes().starts_with(prefix.as_bytes()))
        .cloned()
        .collect();
    headers.remove(SET_COOKIE);
    for value in kept {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn only_the_session_cookie_is_taken_off() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("id=abc; Path=/"));
        headers.append(SET_COOKIE, HeaderValue::from_static("id_other=1; Path=/"));
        headers.append(SET_COOKIE, HeaderValue::from_static("flow_x=; Max-Age=0"));
        strip_cookie(&mut headers, "id");
        let left: Vec<_> = headers.get_all(SET_COOKIE).collect();
        assert_eq!(left, ["id_other=1; Path=/", "flow_x=; Max-Age=0"]);
    }
}
