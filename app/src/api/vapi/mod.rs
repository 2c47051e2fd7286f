//! The Vapi routes: one `POST /vapi/tools/{tool}` per tool ([`tools`]) and the webhook that takes
//! every server message ([`webhook`]); their request bodies ([`body`]), each tool's arguments
//! ([`args`]) and the answering of one message's calls ([`dispatch`]).

mod args;
mod body;
mod dispatch;
pub(super) mod tools;
pub(super) mod webhook;
