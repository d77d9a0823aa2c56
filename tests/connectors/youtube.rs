//! Placeholder: the youtube connector's tests.
