//! Replay and analysis of gpuleak traces.
