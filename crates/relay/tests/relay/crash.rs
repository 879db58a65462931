//! Crash safety: see the test below.
