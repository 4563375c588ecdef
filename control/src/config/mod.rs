//! The operator's configuration: the TOML model in Cisco IOS crypto-map terms, and its validation.
