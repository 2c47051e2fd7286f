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

variable "deletion_window_in_days" {
  description = "Days a scheduled key deletion waits (7 to 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every key."
  type        = map(string)
  default     = {}
}
