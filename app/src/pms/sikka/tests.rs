//! Unit tests of the Sikka adapter against a stubbed Sikka (wiremock), one exchange at a time.
