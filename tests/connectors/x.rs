//! Placeholder: the x connector's tests.
