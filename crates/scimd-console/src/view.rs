//! What every page shares: the layout's values, rendering, and how times are shown.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::session::SignedIn;

/// The layout's values: the page title, which navigation entry is current, and for a signed-in
/// admin who they are and the CSRF token of the sign-out form.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) nav: &'static str,
    pub(crate) admin: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) csrf: String,
    /// An operator: the navigation offers every tenant.
    pub(crate) operator: bool,
}

impl Layout {
    pub(crate) fn signed_in(s: &SignedIn, title: impl Into<String>, nav: &'static str) -> Self {
        Layout {
            title: title.into(),
            nav,
            admin: Some(s.admin.email.clone()),
            tenant: Some(s.tenant.slug.clone()),
            csrf: s.session.csrf.clone(),
            operator: s.admin.operator,
        }
    }

    pub(crate) fn public(title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            nav: "",
            admin: None,
            tenant: None,
            csrf: String::new(),
            operator: false,
        }
    }
}

/// An error, on its own page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) title: &'a str,
    pub(crate) message: &'a str,
}

/// "Are you sure?" before something that cannot be undone: a form that posts `action`.
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage<'a> {
    pub(crate) l: Layout,
    pub(crate) question: String,
    pub(crate) explanation: &'a str,
    pub(crate) action: String,
    pub(crate) button: &'a str,
    pub(crate) back: &'a str,
}

/// A page as HTML. Templates are compiled in and checked by the compiler, so rendering fails only
/// if a value's `Display` does, which none of ours can; it is still a page, never a panic.
pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
                "internal error",
            )
                .into_response()
        }
    }
}

/// 303 to `path?key=value` (post/redirect/get): the page then says what was done.
pub(crate) fn see_other(path: &str, key: &str, value: &str) -> Response {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair(key, value).finish();
    axum::response::Redirect::to(&format!("{path}?{q}")).into_response()
}

/// A time as admins read it: `2026-12-03 14:31 UTC`.
pub(crate) fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        let t = time::macros::datetime!(2026-12-03 15:31:59 +01:00);
        assert_eq!(when(t), "2026-12-03 14:31 UTC");
    }
}
