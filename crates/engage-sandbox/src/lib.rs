//! Simulators (being built).
