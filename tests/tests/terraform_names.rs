//! One source of truth for names: the Terraform in `terraform/modules/` is parsed (hcl-rs) and
//! its name expressions evaluated for a prefix and an environment, and what comes out must be the
//! names the gateway itself builds (`gateway::config::AwsSettings`): the SSM paths, the practice
//! secrets' prefix, the audit log group, the state table and its keys, the settings the
//! configuration requires, the container's environment, the health check path and the metrics
//! the alarms watch. A rename on either side fails here.

use std::collections::{BTreeMap, BTreeSet};

use gateway::config::{AwsSettings, Settings};
use gateway_tests::terraform::source_dir;
use hcl::eval::{Context, Evaluate, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Value};

/// Two (prefix, environment) pairs, so no name can be right by being hard-coded.
const PAIRS: [(&str, &str); 2] = [("parlae", "dev"), ("acme-dental", "staging")];

fn module(name: &str) -> Body {
    let dir = source_dir().join("modules").join(name);
    let mut text = String::new();
    for file in ["main.tf", "variables.tf", "outputs.tf"] {
        text += &std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("reading modules/{name}/{file}: {e}"));
        text.push('\n');
    }
    hcl::parse(&text).unwrap_or_else(|e| panic!("parsing modules/{name}: {e}"))
}

fn aws(prefix: &str, env: &str) -> AwsSettings {
    Settings::from_lookup(&|name| match name {
        "PROFILE" => Some("aws".into()),
        "NAME_PREFIX" => Some(prefix.into()),
        "DEPLOY_ENV" => Some(env.into()),
        _ => None,
    })
    .expect("aws settings")
    .aws
    .expect("the aws profile's settings")
}

/// The blocks `kind "labels[0]" "labels[1]"...` of `body`.
fn block<'a>(body: &'a Body, kind: &str, labels: &[&str]) -> &'a Block {
    body.blocks()
        .find(|b| {
            b.identifier() == kind
                && b.labels()
                    .iter()
                    .map(|l| l.as_str())
                    .eq(labels.iter().copied())
        })
        .unwrap_or_else(|| panic!("no {kind} {labels:?}"))
}

fn attr<'a>(body: &'a Body, key: &str) -> &'a Expression {
    body.attributes()
        .find(|a| a.key() == key)
        .map(|a| a.expr())
        .unwrap_or_else(|| panic!("no attribute {key}"))
}

/// A context with `var.name_prefix`, `var.environment`, `each.key` and every local of `body`
/// that evaluates without provider data (evaluated in order, so locals may use earlier ones).
fn context(body: &Body, prefix: &str, env: &str, each_key: &str) -> Context<'static> {
    let mut ctx = Context::new();
    let mut var = hcl::Map::new();
    var.insert("name_prefix".to_owned(), Value::from(prefix));
    var.insert("environment".to_owned(), Value::from(env));
    ctx.declare_var("var", Value::Object(var));
    let mut each = hcl::Map::new();
    each.insert("key".to_owned(), Value::from(each_key));
    ctx.declare_var("each", Value::Object(each));
    let mut locals = hcl::Map::new();
    for attribute in body
        .blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
    {
        let mut with_locals = ctx.clone();
        with_locals.declare_var("local", Value::Object(locals.clone()));
        if let Ok(value) = attribute.expr().evaluate(&with_locals) {
            locals.insert(attribute.key().to_owned(), value);
        }
    }
    ctx.declare_var("local", Value::Object(locals));
    ctx
}

fn eval_str(expr: &Expression, ctx: &Context) -> String {
    match expr.evaluate(ctx) {
        Ok(Value::String(s)) => s,
        other => panic!("{expr:?} did not evaluate to a string: {other:?}"),
    }
}

/// Every string literal inside `expr` (arrays, function calls, for expressions, operations).
fn literals(expr: &Expression, out: &mut BTreeSet<String>) {
    match expr {
        Expression::String(s) => {
            out.insert(s.clone());
        }
        Expression::Array(items) => items.iter().for_each(|e| literals(e, out)),
        Expression::FuncCall(call) => call.args.iter().for_each(|e| literals(e, out)),
        Expression::Parenthesis(inner) => literals(inner, out),
        Expression::ForExpr(f) => {
            literals(&f.collection_expr, out);
            literals(&f.value_expr, out);
            if let Some(key) = &f.key_expr {
                literals(key, out);
            }
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Binary(b) => {
                literals(&b.lhs_expr, out);
                literals(&b.rhs_expr, out);
            }
            hcl::expr::Operation::Unary(u) => literals(&u.expr, out),
        },
        _ => {}
    }
}

#[test]
fn the_ssm_paths_terraform_writes_are_the_ones_the_gateway_reads() {
    let config = module("config");
    let parameter = block(&config, "resource", &["aws_ssm_parameter", "backend"]).body();
    assert_eq!(
        eval_str(attr(parameter, "type"), &Context::new()),
        "SecureString"
    );
    for (prefix, env) in PAIRS {
        let aws = aws(prefix, env);
        let getenv = |name: &str| match name {
            "NAME_PREFIX" => Some(prefix.to_owned()),
            "DEPLOY_ENV" => Some(env.to_owned()),
            _ => None,
        };
        let backend = gateway::aws::settings::backend_path(&getenv).expect("backend path");
        for setting in gateway::aws::settings::REQUIRED {
            let ctx = context(&config, prefix, env, setting);
            assert_eq!(
                eval_str(attr(parameter, "name"), &ctx),
                format!("{backend}/{setting}")
            );
        }
        let ctx = context(&config, prefix, env, "");
        let output = |name: &str| {
            eval_str(
                attr(block(&config, "output", &[name]).body(), "value"),
                &ctx,
            )
        };
        assert_eq!(output("root_path"), aws.ssm_root());
        assert_eq!(output("backend_path"), backend);
        assert_eq!(
            output("practices_path"),
            format!("{}/practices/", aws.ssm_root())
        );
        assert_eq!(output("routes_path"), format!("{}/routes/", aws.ssm_root()));
    }
}

#[test]
fn the_configuration_requires_exactly_the_settings_the_gateway_cannot_start_without() {
    let config = module("config");
    let settings = block(&config, "variable", &["settings"]).body();
    let validations: Vec<BTreeSet<String>> = settings
        .blocks()
        .filter(|b| b.identifier() == "validation")
        .map(|b| {
            let mut names = BTreeSet::new();
            literals(attr(b.body(), "condition"), &mut names);
            names
        })
        .collect();
    let required: BTreeSet<String> = gateway::aws::settings::REQUIRED
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        validations.contains(&required),
        "no validation requires exactly {required:?}: {validations:?}"
    );
    let known = validations
        .iter()
        .max_by_key(|names| names.len())
        .expect("validations");
    assert!(known.is_superset(&required), "{known:?}");
}

#[test]
fn the_secret_prefix_log_group_and_table_are_the_gateways() {
    for (prefix, env) in PAIRS {
        let aws = aws(prefix, env);

        let secrets = module("practice-secrets");
        let ctx = context(&secrets, prefix, env, "");
        let name_prefix = eval_str(
            attr(block(&secrets, "locals", &[]).body(), "name_prefix"),
            &ctx,
        );
        assert_eq!(name_prefix, aws.practice_secrets_prefix());

        let logs = module("audit-logs");
        let ctx = context(&logs, prefix, env, "");
        let group = block(&logs, "resource", &["aws_cloudwatch_log_group", "audit"]).body();
        assert_eq!(eval_str(attr(group, "name"), &ctx), aws.audit_log_group());
        let retention = block(&logs, "variable", &["retention_in_days"]).body();
        assert_eq!(
            attr(retention, "default").evaluate(&ctx).unwrap(),
            Value::from(2192),
            "six years"
        );

        let state = module("state");
        let ctx = context(&state, prefix, env, "");
        let table = block(&state, "resource", &["aws_dynamodb_table", "state"]).body();
        assert_eq!(eval_str(attr(table, "name"), &ctx), aws.state_table());
        assert_eq!(eval_str(attr(table, "hash_key"), &ctx), "pk");
        assert_eq!(eval_str(attr(table, "range_key"), &ctx), "sk");
        assert_eq!(
            eval_str(attr(table, "billing_mode"), &ctx),
            "PAY_PER_REQUEST"
        );
        let ttl = block(table, "ttl", &[]).body();
        assert_eq!(eval_str(attr(ttl, "attribute_name"), &ctx), "expires_at");
    }
}

#[test]
fn the_container_runs_the_aws_profile_for_its_environment_on_the_health_checked_port() {
    let (prefix, env) = PAIRS[1];
    let ecs = module("ecs-service");
    let locals = block(&ecs, "locals", &[]).body();
    let mut ctx = context(&ecs, prefix, env, "");
    // The parts of the container's environment that do not come from other modules.
    let plain = match attr(locals, "plain_environment") {
        Expression::FuncCall(merge) => merge.args.last().expect("merge's own map").clone(),
        other => panic!("plain_environment is not merge(...): {other:?}"),
    };
    let mut var = hcl::Map::new();
    var.insert("name_prefix".to_owned(), Value::from(prefix));
    var.insert("environment".to_owned(), Value::from(env));
    var.insert("secrets_kms_key_arn".to_owned(), Value::from("arn:key"));
    ctx.declare_var("var", Value::Object(var));
    ctx.declare_func(
        "tostring",
        FuncDef::builder().param(ParamType::Any).build(|args| {
            Ok(Value::from(match &args[0] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }))
        }),
    );
    let Ok(Value::Object(environment)) = plain.evaluate(&ctx) else {
        panic!("the container's environment does not evaluate");
    };
    let environment: BTreeMap<_, _> = environment
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(environment["PROFILE"], "aws");
    assert_eq!(environment["NAME_PREFIX"], prefix);
    assert_eq!(environment["DEPLOY_ENV"], env);
    assert_eq!(environment["HOST"], "0.0.0.0");
    assert_eq!(environment["SECRETS_KMS_KEY_ID"], "arn:key");
    let port = environment["PORT"].clone();
    assert_eq!(port, gateway::config::DEFAULT_PORT.to_string());
    // The settings the container gets from its environment are valid for the gateway.
    let settings = Settings::from_lookup(&|name| environment.get(name).cloned())
        .expect("the container's environment is valid");
    assert_eq!(settings.server.port.to_string(), port);
    assert!(environment.contains_key("AUDIT_DIR"));

    let edge = module("edge");
    let target_group = block(&edge, "resource", &["aws_lb_target_group", "gateway"]).body();
    let health = block(target_group, "health_check", &[]).body();
    assert_eq!(eval_str(attr(health, "path"), &Context::new()), "/readyz");
    assert_eq!(
        attr(target_group, "port")
            .evaluate(&Context::new())
            .unwrap(),
        Value::from(gateway::config::DEFAULT_PORT)
    );
}

#[test]
fn the_alarms_watch_metrics_the_gateway_emits() {
    let alarms = module("alarms");
    let locals = block(&alarms, "locals", &[]).body();
    assert_eq!(
        eval_str(attr(locals, "namespace"), &Context::new()),
        gateway::metrics::NAMESPACE
    );
    // The aws profile registers its audit gauges by name (app/src/aws/profile.rs); the EMF
    // writer is app/src/metrics.rs.
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src");
    let source: String = ["metrics.rs", "aws/profile.rs"]
        .iter()
        .map(|file| std::fs::read_to_string(app.join(file)).expect("read the gateway's metrics"))
        .collect();
    for name in ["audit_dead_letters", "audit_backlog_age"] {
        let alarm = block(&alarms, "resource", &["aws_cloudwatch_metric_alarm", name]).body();
        let metric = eval_str(attr(alarm, "metric_name"), &Context::new());
        assert!(
            source.contains(&format!("\"{metric}\"")),
            "the gateway emits no metric {metric}"
        );
    }
}
