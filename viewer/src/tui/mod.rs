//! The terminal UI of `gpuleak run` and `gpuleak view`.
//!
//! State ([`state::App`]: followed traces and what their analysis says) is kept apart from the
//! views (functions of `&App` drawing into a ratatui `Frame`) and from input (crossterm events
//! mapped to [`input::Action`]s), so that the screens can be tested on ratatui's `TestBackend`
//! and the data model without a terminal at all.

pub mod cursor;
pub mod follow;
pub mod input;
pub mod state;
pub mod term;
pub mod view;

pub use state::App;
