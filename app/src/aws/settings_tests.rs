//! The SSM settings' rules without AWS: the path, the names, the merge with the environment,
//! the required settings and redaction. (The SSM calls themselves are tested against moto in
//! `tests/tests/aws_settings.rs`.)

use super::*;

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn parameters(entries: &[(&str, &str, bool)]) -> Parameters {
    let mut p = Parameters {
        path: "/parlae/dev/backend".into(),
        ..Default::default()
    };
    for (name, value, secure) in entries {
        p.insert(
            &format!("/parlae/dev/backend/{name}"),
            (*value).into(),
            *secure,
        );
    }
    p
}

const ALL_REQUIRED: &[(&str, &str, bool)] = &[
    ("VAPI_WEBHOOK_SECRET", "vapi-secret", true),
    ("SIKKA_APP_ID", "app-id", false),
    ("SIKKA_APP_KEY", "app-key", true),
    ("SIKKA_CALLBACK_KEY", "callback", true),
    ("PUBLIC_BASE_URL", "https://ssm.example", false),
];

#[test]
fn the_path_is_built_from_the_prefix_and_a_required_environment() {
    assert_eq!(
        backend_path(&env(&[("DEPLOY_ENV", "dev")])).unwrap(),
        "/parlae/dev/backend"
    );
    assert_eq!(
        backend_path(&env(&[("DEPLOY_ENV", "prod"), ("NAME_PREFIX", "acme")])).unwrap(),
        "/acme/prod/backend"
    );
    assert!(matches!(
        backend_path(&env(&[])),
        Err(AwsSettingsError::NoDeployEnv)
    ));
    let err = backend_path(&env(&[("DEPLOY_ENV", "dev/../x")])).unwrap_err();
    assert!(
        err.to_string().starts_with("DEPLOY_ENV=\"dev/../x\""),
        "{err}"
    );
}

#[test]
fn only_parameters_named_like_a_variable_are_settings() {
    let p = parameters(&[
        ("SIKKA_APP_ID", "a", false),
        ("nested/SIKKA_APP_KEY", "b", false),
        ("lower_case", "c", false),
        ("PROFILE", "local", false),
    ]);
    assert_eq!(p.read, 4);
    assert_eq!(p.get("SIKKA_APP_ID").as_deref(), Some("a"));
    assert_eq!(p.get("SIKKA_APP_KEY"), None);
    assert_eq!(p.ignored.len(), 3);
}

#[test]
fn the_environment_overrides_ssm_and_the_profile_stays_aws() {
    let (settings, loaded) = merge(
        &env(&[
            ("PUBLIC_BASE_URL", "https://env.example"),
            ("DEPLOY_ENV", "dev"),
        ]),
        &parameters(ALL_REQUIRED),
    )
    .unwrap();
    assert_eq!(
        settings.server.public_base_url.as_deref(),
        Some("https://env.example")
    );
    assert_eq!(settings.profile, crate::config::Profile::Aws);
    assert_eq!(settings.sikka.app_key.as_deref(), Some("app-key"));
    assert_eq!(loaded.overridden, vec!["PUBLIC_BASE_URL".to_owned()]);
    assert!(loaded.from_ssm.contains(&"SIKKA_APP_ID".to_owned()));
}

#[test]
fn a_missing_required_setting_names_its_parameter_and_variable() {
    let err = merge(&env(&[]), &parameters(&ALL_REQUIRED[1..]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "VAPI_WEBHOOK_SECRET (SSM parameter /parlae/dev/backend/VAPI_WEBHOOK_SECRET, or the environment variable VAPI_WEBHOOK_SECRET)"
        ),
        "{err}"
    );
    // Set but blank counts as missing.
    let err = merge(&env(&[("SIKKA_APP_ID", " ")]), &parameters(ALL_REQUIRED)).unwrap_err();
    assert!(
        err.to_string().contains("SIKKA_APP_ID (SSM parameter"),
        "{err}"
    );
}

#[test]
fn a_bad_secure_string_is_named_but_not_shown() {
    let mut entries = ALL_REQUIRED.to_vec();
    entries.push(("PORT", "canary-8c1f", true));
    let err = merge(&env(&[]), &parameters(&entries))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("PORT="), "{err}");
    assert!(!err.contains("canary-8c1f"), "{err}");
}
