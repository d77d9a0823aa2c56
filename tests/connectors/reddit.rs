//! Placeholder: the reddit connector's tests.
