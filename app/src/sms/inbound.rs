//! Twilio's inbound-message webhook, the parts that are not HTTP: the request signature
//! (`X-Twilio-Signature`) and the opt-out keywords.
//!
//! **The signature** is base64(HMAC-SHA1(auth token, the full URL Twilio requested, then each
//! POST parameter's name and value, sorted by name)). Twilio signs the URL configured on the
//! number or messaging service, which behind a load balancer is not the URL this task sees, and
//! its libraries accept the URL with and without an explicit default port; so every candidate
//! URL (the public base URL's, the request's own) is tried in each form, compared in constant
//! time.
//!
//! **Keywords** are Twilio's defaults: with Advanced Opt-Out Twilio says which it matched in
//! `OptOutType` (`STOP`, `START`, `HELP`); otherwise the body, trimmed and in any case, is the
//! keyword alone.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What an inbound text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop all texts to this number.
    Stop,
    /// Texts may resume.
    Start,
    Help,
}

impl Keyword {
    /// The keyword `opt_out_type` names (Twilio's Advanced Opt-Out), else the one `body` is.
    pub fn of(opt_out_type: Option<&str>, body: &str) -> Option<Self> {
        if let Some(kind) = opt_out_type.map(str::trim).filter(|k| !k.is_empty()) {
            return match kind.to_ascii_uppercase().as_str() {
                "STOP" => Some(Self::Stop),
                "START" => Some(Self::Start),
                "HELP" => Some(Self::Help),
                _ => None,
            };
        }
        let word = body
            .trim()
            .trim_end_matches(['.', '!'])
            .to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT"
            | "REVOKE" => Some(Self::Stop),
            "START" | "YES" | "UNSTOP" => Some(Self::Start),
            "HELP" | "INFO" => Some(Self::Help),
            _ => None,
        }
    }
}

/// Twilio's signature of a POST to `url` with `params`.
pub fn signature(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is Twilio's signature of the request at any of `urls` (each also tried with
/// its default port added or removed).
pub fn verify(
    auth_token: &[u8],
    urls: &[String],
    params: &[(String, String)],
    given: &str,
) -> bool {
    let given = given.trim().as_bytes();
    urls.iter()
        .flat_map(|url| port_forms(url))
        .any(|url| crate::secret::same(given, signature(auth_token, &url, params).as_bytes()))
}

/// `url` as given, and with its scheme's default port made explicit or left out.
fn port_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return forms;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return forms,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let (userinfo, host_port) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    let at = if userinfo.is_empty() { "" } else { "@" };
    // An IPv6 literal's colons are inside its brackets.
    let port_at = host_port
        .rfind(':')
        .filter(|&i| !host_port[i..].contains(']'));
    let other = match port_at {
        Some(i) if &host_port[i + 1..] == default => {
            format!("{scheme}://{userinfo}{at}{}{path}", &host_port[..i])
        }
        Some(_) => return forms,
        None => format!("{scheme}://{userinfo}{at}{host_port}:{default}{path}"),
    };
    forms.push(other);
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Twilio's own worked example (the "Validating signatures from Twilio" page, also in its
    /// libraries' tests): token `12345`, this URL and these parameters sign to this value.
    #[test]
    fn twilios_documented_example_verifies() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert_eq!(signature(b"12345", url, &params), expected);
        assert!(verify(b"12345", &[url.to_owned()], &params, expected));
        assert!(!verify(b"54321", &[url.to_owned()], &params, expected));
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify(b"12345", &[url.to_owned()], &tampered, expected));
    }

    #[test]
    fn a_signature_over_the_url_with_its_default_port_verifies_without_it_and_back() {
        let params = pairs(&[("Body", "STOP"), ("From", "+15105550100")]);
        let with_port = signature(b"t", "https://gw.example.com:443/twilio/inbound", &params);
        let without = signature(b"t", "https://gw.example.com/twilio/inbound", &params);
        let base = ["https://gw.example.com/twilio/inbound".to_owned()];
        assert!(verify(b"t", &base, &params, &with_port));
        assert!(verify(b"t", &base, &params, &without));
        let explicit = ["https://gw.example.com:443/twilio/inbound".to_owned()];
        assert!(verify(b"t", &explicit, &params, &without));
        let other_port = ["https://gw.example.com:8443/twilio/inbound".to_owned()];
        assert!(!verify(b"t", &other_port, &params, &without));
    }

    #[test]
    fn keywords_are_twilios_defaults_and_opt_out_type_wins() {
        for stop in [
            "STOP",
            " stop ",
            "Unsubscribe",
            "cancel",
            "END",
            "quit",
            "stopall",
        ] {
            assert_eq!(Keyword::of(None, stop), Some(Keyword::Stop), "{stop}");
        }
        for start in ["START", "yes", "Unstop"] {
            assert_eq!(Keyword::of(None, start), Some(Keyword::Start), "{start}");
        }
        assert_eq!(Keyword::of(None, "help"), Some(Keyword::Help));
        assert_eq!(Keyword::of(None, "please stop texting me"), None);
        assert_eq!(Keyword::of(Some("STOP"), "Arrêtez"), Some(Keyword::Stop));
        assert_eq!(Keyword::of(Some(""), "start"), Some(Keyword::Start));
    }
}
