//! Placeholder: the tiktok connector's tests.
