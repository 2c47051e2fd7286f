# The stores the gateway uses, applied to the AWS emulator (moto_server at var.endpoint): the
# keys, the settings in SSM, the practice-secrets policy, the state table, the audit log group,
# the task roles and the image repository. Given an image (var.image, as `cargo xtask deploy
# --env local` passes it), the ecs-service module too, in a VPC of its own with a bare target
# group standing in for the edge module (see ecs.tf). What moto does not emulate reliably (the
# ALB and WAF, the alarms, the log group's data protection policy) is left out; dev and prod
# compose those too.
# Credentials come from the environment (any non-empty pair: moto accepts every key).

provider "aws" {
  region                      = var.region
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    appautoscaling = var.endpoint
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    dynamodb       = var.endpoint
    ec2            = var.endpoint
    ecr            = var.endpoint
    ecs            = var.endpoint
    elbv2          = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    secretsmanager = var.endpoint
    ssm            = var.endpoint
    sts            = var.endpoint
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  container_log_group_arn = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/${var.name_prefix}/${var.environment}/gateway"
}

module "ecr" {
  source      = "../../modules/ecr"
  name_prefix = var.name_prefix
  environment = var.environment
}

module "kms" {
  source                  = "../../modules/kms"
  name_prefix             = var.name_prefix
  environment             = var.environment
  deletion_window_in_days = 7
}

module "config" {
  source      = "../../modules/config"
  name_prefix = var.name_prefix
  environment = var.environment
  kms_key_arn = module.kms.ssm_key_arn
  settings    = var.settings
}

module "practice_secrets" {
  source      = "../../modules/practice-secrets"
  name_prefix = var.name_prefix
  environment = var.environment
  kms_key_arn = module.kms.secrets_key_arn
}

module "state" {
  source              = "../../modules/state"
  name_prefix         = var.name_prefix
  environment         = var.environment
  kms_key_arn         = module.kms.dynamodb_key_arn
  deletion_protection = false
}

module "audit_logs" {
  source          = "../../modules/audit-logs"
  name_prefix     = var.name_prefix
  environment     = var.environment
  kms_key_arn     = module.kms.logs_key_arn
  data_protection = false
}

module "iam" {
  source                       = "../../modules/iam"
  name_prefix                  = var.name_prefix
  environment                  = var.environment
  kms_key_arns                 = module.kms.key_arns
  practice_secrets_policy_json = module.practice_secrets.policy_json
  audit_log_group_arn          = module.audit_logs.log_group_arn
  state_table_arn              = module.state.table_arn
  backend_parameter_arns       = module.config.parameter_arns
  ecr_repository_arn           = module.ecr.repository_arn
  container_log_group_arn      = local.container_log_group_arn
}
