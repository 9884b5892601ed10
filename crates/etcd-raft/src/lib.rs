//! x
mod wire;
mod ids;
