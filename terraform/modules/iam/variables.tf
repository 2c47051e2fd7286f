variable "name_prefix" {
  description = "The first part of every name (the gateway's NAME_PREFIX), e.g. parlae."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.name_prefix))
    error_message = "name_prefix may hold letters, digits, '-', '_' and '.' only (it is part of AWS names)."
  }
}

variable "environment" {
  description = "The deployment environment (the gateway's DEPLOY_ENV), e.g. dev or prod."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.environment))
    error_message = "environment may hold letters, digits, '-', '_' and '.' only (it is part of AWS names)."
  }
}

variable "kms_key_arns" {
  description = "The customer-managed keys by purpose: ssm, secrets, logs, dynamodb (the kms module's key_arns)."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["ssm", "secrets", "logs", "dynamodb"] : contains(keys(var.kms_key_arns), k)])
    error_message = "kms_key_arns needs the keys ssm, secrets, logs and dynamodb."
  }
}

variable "practice_secrets_policy_json" {
  description = "The practice-secrets module's policy_json (the secret actions on the prefix)."
  type        = string
}

variable "audit_log_group_arn" {
  description = "The audit log group's ARN (the audit-logs module's log_group_arn)."
  type        = string
}

variable "state_table_arn" {
  description = "The state table's ARN."
  type        = string
}

variable "backend_parameter_arns" {
  description = "The ARNs of the settings' parameters the task definition passes as secrets (the config module's parameter_arns)."
  type        = map(string)
}

variable "ecr_repository_arn" {
  description = "The repository the image is pulled from."
  type        = string
}

variable "container_log_group_arn" {
  description = "The log group the container's standard output goes to."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
