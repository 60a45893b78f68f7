//! The terminal UI of `gpuleak run` and `gpuleak view`, bottom to top:
//!
//! - [`follow`]: a trace read as it grows; [`state`]: the run being followed and the last
//!   analysis of the process shown, with the tables' rows; [`cursor`]: the live set at a chosen
//!   moment;
//! - [`ui`]: screen state (screen, selection, sort, filter, cursor position);
//! - [`app`]: the three together and how time changes them; [`text`]: the text shown;
//!   [`input`]: keys to actions, applied;
//! - [`view`]: drawing (functions of `&App` into a ratatui `Frame`); [`term`]: the real terminal.
//!
//! So the screens can be tested on ratatui's `TestBackend`, and the model without a terminal.

pub mod app;
pub mod cursor;
pub mod follow;
pub mod input;
pub mod state;
pub mod term;
pub mod text;
pub mod ui;
pub mod view;

pub use app::App;
