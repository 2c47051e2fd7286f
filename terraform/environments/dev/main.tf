# The dev environment: every module, composed. The state backend is in backend.tf.example.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  environment = "dev"
  tags = {
    application = "practice-gateway"
    environment = local.environment
    managed-by  = "terraform"
  }
  container_log_group_arn = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/${var.name_prefix}/${local.environment}/gateway"
}

module "kms" {
  source      = "../../modules/kms"
  name_prefix = var.name_prefix
  environment = local.environment
}

module "config" {
  source      = "../../modules/config"
  name_prefix = var.name_prefix
  environment = local.environment
  kms_key_arn = module.kms.ssm_key_arn
  settings    = var.settings
}

module "practice_secrets" {
  source      = "../../modules/practice-secrets"
  name_prefix = var.name_prefix
  environment = local.environment
  kms_key_arn = module.kms.secrets_key_arn
}

module "state" {
  source              = "../../modules/state"
  name_prefix         = var.name_prefix
  environment         = local.environment
  kms_key_arn         = module.kms.dynamodb_key_arn
  deletion_protection = false
}

module "audit_logs" {
  source      = "../../modules/audit-logs"
  name_prefix = var.name_prefix
  environment = local.environment
  kms_key_arn = module.kms.logs_key_arn
}

resource "aws_iam_role_policy_attachment" "protect_audit_logs" {
  for_each = toset(var.protected_role_names)

  role       = each.value
  policy_arn = module.audit_logs.protect_policy_arn
}

module "ecr" {
  source      = "../../modules/ecr"
  name_prefix = var.name_prefix
  environment = local.environment
}

module "iam" {
  source                       = "../../modules/iam"
  name_prefix                  = var.name_prefix
  environment                  = local.environment
  kms_key_arns                 = module.kms.key_arns
  practice_secrets_policy_json = module.practice_secrets.policy_json
  audit_log_group_arn          = module.audit_logs.log_group_arn
  state_table_arn              = module.state.table_arn
  backend_parameter_arns       = module.config.parameter_arns
  ecr_repository_arn           = module.ecr.repository_arn
  container_log_group_arn      = local.container_log_group_arn
}

module "edge" {
  source                = "../../modules/edge"
  name_prefix           = var.name_prefix
  environment           = local.environment
  vpc_id                = var.vpc_id
  public_subnet_ids     = var.public_subnet_ids
  certificate_arn       = var.certificate_arn
  access_logs_bucket    = var.access_logs_bucket
  logs_kms_key_arn      = module.kms.logs_key_arn
  vapi_only_tool_routes = var.vapi_only_tool_routes
  deletion_protection   = true
}

module "ecs_service" {
  source                 = "../../modules/ecs-service"
  name_prefix            = var.name_prefix
  environment            = local.environment
  image                  = var.image
  task_role_arn          = module.iam.task_role_arn
  execution_role_arn     = module.iam.execution_role_arn
  backend_parameter_arns = module.config.parameter_arns
  secrets_kms_key_arn    = module.kms.secrets_key_arn
  logs_kms_key_arn       = module.kms.logs_key_arn
  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  alb_security_group_id  = module.edge.alb_security_group_id
  target_group_arn       = module.edge.target_group_arn
  min_tasks              = 1
  max_tasks              = 3

  # The service registers with the target group only once a listener forwards to it.
  depends_on = [module.edge]
}

module "alarms" {
  source                  = "../../modules/alarms"
  name_prefix             = var.name_prefix
  environment             = local.environment
  kms_key_arn             = module.kms.sns_key_arn
  alarm_emails            = var.alarm_emails
  alb_arn_suffix          = module.edge.alb_arn_suffix
  target_group_arn_suffix = module.edge.target_group_arn_suffix
  state_table_name        = module.state.table_name
}
