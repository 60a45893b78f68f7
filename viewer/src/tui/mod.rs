//! `gpuleak view`: a terminal UI over a saved trace.
//!
//! State ([`state::App`], built from a [`gpuleak_analysis::Report`]) is kept apart from the
//! views (functions of `&App` drawing into a ratatui `Frame`) and from input (crossterm events
//! mapped to [`input::Action`]s), so that the screens can be tested on ratatui's `TestBackend`.

pub mod input;
pub mod state;
pub mod term;
pub mod view;

pub use state::App;
