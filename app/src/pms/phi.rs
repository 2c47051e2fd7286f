//! `Phi<T>`: a value that is patient data. Its `Debug` and `Display` print `[redacted]`, so a
//! patient's name, birth date or phone cannot reach a log line by accident; the value itself is
//! reached only through [`Phi::expose`], which makes every disclosure visible in review.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phi<T>(T);

impl<T> Phi<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The protected value. Only for answering a verified caller, matching, or writing to the PMS.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Phi<U> {
        Phi(f(self.0))
    }
}

impl<T> From<T> for Phi<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let name = Phi::new("Canary Smith".to_string());
        assert_eq!(format!("{name}"), "[redacted]");
        assert_eq!(format!("{name:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&name)), "Some([redacted])");
        assert_eq!(name.expose(), "Canary Smith");
    }
}
