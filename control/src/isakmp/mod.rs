//! ISAKMP wire format (RFC 2408): header and payloads, zero-copy views and owned representations.
