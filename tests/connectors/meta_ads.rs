//! Placeholder: the meta_ads connector's tests.
