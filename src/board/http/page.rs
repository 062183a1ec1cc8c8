//! The submission board and the visit counter: `GET /` and `POST /`.

use std::sync::Arc;

use askama::Template;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};

use crate::http::{
    AppState, csrf,
    error::HtmlError,
    extract::{CheckedForm, ClientContext, Fields},
    pages::{self, PageChrome},
};
use crate::{
    board::{EightDigits, Submission, Username},
    time::{format_for_people, format_timestamp},
};

/// The latest submission, as shown.
#[derive(Debug)]
struct LatestView {
    username: String,
    number: String,
    created_at: String,
    created_at_machine: String,
}

impl From<&Submission> for LatestView {
    fn from(s: &Submission) -> Self {
        let at = s.created_at;
        Self {
            username: s.username.to_string(),
            number: s.number.to_string(),
            created_at: format_for_people(at),
            created_at_machine: format_timestamp(at),
        }
    }
}

/// One digit box: what was typed and what is wrong with it.
#[derive(Debug, Default, Clone)]
struct DigitBox {
    value: String,
    error: Option<String>,
}

/// The form as typed, with a message per wrong field.
#[derive(Debug, Default)]
struct FormState {
    username: String,
    username_error: Option<String>,
    digits: [DigitBox; 8],
    number_error: Option<String>,
}

impl FormState {
    fn has_errors(&self) -> bool {
        self.username_error.is_some()
            || self.number_error.is_some()
            || self.digits.iter().any(|d| d.error.is_some())
    }
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    page: PageChrome,
    latest: Option<LatestView>,
    visits: u64,
    form: FormState,
    csrf_token: String,
}

/// A valid board form.
struct NewBoardSubmission {
    username: Username,
    number: EightDigits,
}

/// The page's eight digit boxes.
const DIGIT_FIELDS: [&str; 8] = [
    "digit1", "digit2", "digit3", "digit4", "digit5", "digit6", "digit7", "digit8",
];

/// Parses the board form: `username` plus either `digit1`..`digit8` (the page) or `number` (curl, the
/// seed's own form). On failure, the typed values come back with a message per wrong field.
fn parse_board_form(fields: &Fields) -> Result<NewBoardSubmission, Box<FormState>> {
    let mut state = FormState {
        username: fields.get("username").unwrap_or_default().to_owned(),
        ..FormState::default()
    };
    let username = Username::parse(&state.username).map_err(|e| e.to_string());
    let digit_fields = DIGIT_FIELDS.map(|name| fields.get(name));
    let number = match fields.get("number") {
        Some(_) if digit_fields.iter().any(Option::is_some) => {
            Err("Send either `number` or `digit1` to `digit8`, not both.".to_owned())
        }
        Some(number) => {
            for (slot, c) in state.digits.iter_mut().zip(number.chars()) {
                slot.value = c.to_string();
            }
            EightDigits::parse(number).map_err(|e| e.to_string())
        }
        None => {
            for (i, (slot, raw)) in state.digits.iter_mut().zip(&digit_fields).enumerate() {
                let raw = raw.unwrap_or_default();
                slot.value = raw.to_owned();
                let mut chars = raw.chars();
                slot.error = match (chars.next(), chars.next()) {
                    (None, _) => Some(format!("Digit {} is missing.", i + 1)),
                    (Some(c), None) if c.is_ascii_digit() => None,
                    _ => Some(format!("Digit {} must be a single digit 0-9.", i + 1)),
                };
            }
            let wrong = state.digits.iter().filter(|d| d.error.is_some()).count();
            if wrong > 0 {
                Err(format!(
                    "Enter all 8 digits, one digit 0-9 per box ({wrong} of 8 need fixing)."
                ))
            } else {
                let joined: String = state.digits.iter().map(|d| d.value.as_str()).collect();
                EightDigits::parse(&joined).map_err(|e| e.to_string())
            }
        }
    };
    match (username, number) {
        (Ok(username), Ok(number)) => Ok(NewBoardSubmission { username, number }),
        (username, number) => {
            state.username_error = username.err();
            state.number_error = number.err();
            Err(Box::new(state))
        }
    }
}

fn render(
    page: &BoardPage,
    status: StatusCode,
    set_cookie: Option<HeaderValue>,
) -> Result<Response, HtmlError> {
    let body = pages::render(page)?;
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    // The page holds a per-browser token and a live count: never cached anywhere.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Renders the board as `GET /` does, from given values and outside any request (so with an empty
/// instance name): the page-render benchmark (`benches/render.rs`) measures exactly this. Not an API.
#[doc(hidden)]
pub fn render_board_for_bench(
    visits: u64,
    latest: Option<Submission>,
    csrf_token: &str,
) -> askama::Result<String> {
    pages::render_html(&BoardPage {
        page: PageChrome::current(),
        latest: latest.as_ref().map(LatestView::from),
        visits,
        form: FormState::default(),
        csrf_token: csrf_token.to_owned(),
    })
}

/// `GET /`: the form, the latest submission and the visit count. Each successful view counts once.
pub(crate) async fn show_board(
    State(state): State<AppState>,
    client: ClientContext,
    // The request itself, not `HeaderMap` and `Method`: those extractors copy the whole header map.
    request: Request,
) -> Result<Response, HtmlError> {
    // HEAD (monitors, link checkers) gets GET's headers but is nobody viewing the page.
    let (latest, visits) = if request.method() == Method::HEAD {
        let latest = state.store.latest_submission().await?;
        (latest.map(Arc::new), state.store.visit_count().await?)
    } else {
        // Counted with its batch, together with the read of the latest submission: if the read fails, the
        // view was not successful and is not counted.
        let visit = state.visits.record().await?;
        state.counters.visits.increment(1);
        (visit.latest, visit.number)
    };
    let (csrf_token, set_cookie) = csrf::issue(request.headers(), client.https);
    let page = BoardPage {
        page: PageChrome::current(),
        latest: latest.as_deref().map(LatestView::from),
        visits,
        form: FormState::default(),
        csrf_token,
    };
    render(&page, StatusCode::OK, set_cookie)
}

/// `POST /`: stores a valid submission, then 303 to `/` (post/redirect/get); otherwise 422 with the page,
/// the typed values and a message next to each wrong field. Nothing is stored unless everything is valid.
pub(crate) async fn submit_from_form(
    State(state): State<AppState>,
    client: ClientContext,
    headers: HeaderMap,
    form: CheckedForm,
) -> Result<Response, HtmlError> {
    let fields = form.fields();
    match parse_board_form(&fields) {
        Ok(valid) => {
            let submission = Submission::new(valid.username, valid.number);
            state.store.insert_submission(&submission).await?;
            state.counters.submissions_created.increment(1);
            tracing::info!(submission_id = %submission.id, "submission stored");
            // 303 See Other: the browser follows with a GET, so a reload never re-posts the form.
            Ok(Redirect::to("/").into_response())
        }
        Err(form) => {
            debug_assert!(form.has_errors());
            let latest = state.store.latest_submission().await?;
            let visits = state.store.visit_count().await?;
            let (csrf_token, set_cookie) = csrf::issue(&headers, client.https);
            let page = BoardPage {
                page: PageChrome::current(),
                latest: latest.as_ref().map(LatestView::from),
                visits,
                form: *form,
                csrf_token,
            };
            render(&page, StatusCode::UNPROCESSABLE_ENTITY, set_cookie)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(raw: &str) -> Result<NewBoardSubmission, Box<FormState>> {
        match Fields::parse(raw.as_bytes()) {
            Ok(fields) => parse_board_form(&fields),
            Err(_) => Err(Box::default()),
        }
    }

    #[test]
    fn eight_boxes_make_one_number() {
        let ok = form(
            "username=ada&digit1=0&digit2=1&digit3=2&digit4=3&digit5=4&digit6=5&digit7=6&digit8=7",
        );
        assert_eq!(
            ok.ok().map(|s| s.number.to_string()),
            Some("01234567".into())
        );
    }

    #[test]
    fn a_single_number_field_is_accepted() {
        assert!(form("username=ada&number=01234567").is_ok());
    }

    #[test]
    fn each_wrong_box_gets_its_own_message_and_values_are_kept() {
        let Err(state) = form(
            "username=ada&digit1=1&digit2=x&digit3=&digit4=4&digit5=5&digit6=6&digit7=7&digit8=88",
        ) else {
            panic!("must be refused");
        };
        assert_eq!(
            state.digits[1].error.as_deref(),
            Some("Digit 2 must be a single digit 0-9.")
        );
        assert_eq!(
            state.digits[2].error.as_deref(),
            Some("Digit 3 is missing.")
        );
        assert_eq!(state.digits[7].value, "88");
        assert!(state.digits[0].error.is_none());
        assert_eq!(state.username, "ada");
    }

    #[test]
    fn number_and_boxes_together_are_ambiguous() {
        assert!(form("username=ada&number=12345678&digit1=1").is_err());
    }
}
