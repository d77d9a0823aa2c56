//! Placeholder: the google_trends connector's tests.
