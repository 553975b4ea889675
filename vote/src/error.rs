//! Everything that stops a vote from being queued, and the status each maps to.
//! Each renders the vote page with a message saying what was wrong (or JSON for
//! clients that ask for it); none of them queues anything.

use actix_web::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// 400: the form has no `vote` field.
    #[error("The form had no vote. Choose one of the two options.")]
    MissingChoice,
    /// 400: `vote` is something other than `a` or `b`.
    #[error("\"{0}\" is not an option here. Choose one of the two options.")]
    UnknownChoice(String),
    /// 400: more than one `vote` field.
    #[error("The form had more than one vote. Send exactly one.")]
    SeveralChoices,
    /// 400: the body is not text.
    #[error("The form could not be read: it is not valid UTF-8 text.")]
    MalformedBody,
    /// 400: the `voter_id` cookie is not one we issue; it is cleared on the response.
    #[error("Your voter_id cookie is malformed, so the vote was not recorded. It has been cleared: vote again.")]
    MalformedCookie,
    /// 413: the body is larger than a vote form can be.
    #[error("The form is larger than {0} bytes; a vote is much smaller.")]
    TooLarge(usize),
    /// 415: the body is not a URL-encoded form.
    #[error("Send the vote as a form (application/x-www-form-urlencoded), not {0}.")]
    UnsupportedMediaType(String),
    /// 400: the body broke off or could not be read.
    #[error("The form could not be read: {0}")]
    Payload(String),
    /// 408: the body did not arrive within the deadline.
    #[error("The form did not arrive within {} seconds.", .0.as_secs())]
    BodyTimeout(std::time::Duration),
    /// 503: Redis did not acknowledge the vote. It may have it all the same
    /// (the command can be in its socket, or on the master but not yet on
    /// the replicas asked for), so the visitor is told it may not have been
    /// recorded, never that it was not: voting again is harmless, the last
    /// vote counts.
    #[error(
        "Your vote may not have been recorded; please vote again in a moment (voting twice is harmless: your last vote counts)."
    )]
    QueueUnavailable(#[source] crate::ballot_box::Unavailable),
}

impl VoteError {
    pub fn status(&self) -> StatusCode {
        match self {
            VoteError::MissingChoice
            | VoteError::UnknownChoice(_)
            | VoteError::SeveralChoices
            | VoteError::MalformedBody
            | VoteError::MalformedCookie
            | VoteError::Payload(_) => StatusCode::BAD_REQUEST,
            VoteError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            VoteError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            VoteError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            VoteError::QueueUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short label for the `votes_rejected_total` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            VoteError::MissingChoice => "missing_choice",
            VoteError::UnknownChoice(_) => "unknown_choice",
            VoteError::SeveralChoices => "several_choices",
            VoteError::MalformedBody => "malformed_body",
            VoteError::MalformedCookie => "malformed_cookie",
            VoteError::TooLarge(_) => "too_large",
            VoteError::UnsupportedMediaType(_) => "unsupported_media_type",
            VoteError::Payload(_) => "payload",
            VoteError::BodyTimeout(_) => "body_timeout",
            VoteError::QueueUnavailable(crate::ballot_box::Unavailable::NotReplicated {
                ..
            }) => "not_replicated",
            VoteError::QueueUnavailable(_) => "queue_unavailable",
        }
    }
}
