//! One file per subcommand: each reads its arguments, calls input, the model and a renderer (or
//! the terminal UI), and says what to exit with.

pub mod view;
