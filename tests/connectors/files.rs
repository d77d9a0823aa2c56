//! Placeholder: the files connector's tests.
