//! The HTTP edge: [`edge`] reads the raw event once into plain values; [`ApiError`] is the one
//! error type every route answers with, mapped to its status in one place; [`render`] turns an
//! outcome into the response.

pub mod edge;
mod error;
mod reply;

pub use edge::{Caller, Incoming, Media, Parsed};
pub use error::{ApiError, Code};
pub use reply::{render, Reply};
