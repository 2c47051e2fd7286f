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

variable "kms_key_arn" {
  description = "The key the SNS topic is encrypted with (its policy must admit CloudWatch alarms: the kms module's sns_key_arn)."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by mail)."
  type        = list(string)
  default     = []
}

variable "alb_arn_suffix" {
  description = "The edge module's alb_arn_suffix."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "The edge module's target_group_arn_suffix."
  type        = string
}

variable "state_table_name" {
  description = "The state table (<prefix>-<env>-state)."
  type        = string
}

variable "error_rate_percent" {
  description = "Alarm when more than this share of requests answer 5xx (over 5 minutes)."
  type        = number
  default     = 2
}

variable "p99_latency_seconds" {
  description = "Alarm when the p99 response time exceeds this (Vapi's tool timeout is the ceiling)."
  type        = number
  default     = 8
}

variable "audit_backlog_age_seconds" {
  description = "Alarm when the oldest audit entry not yet in CloudWatch is older than this."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
