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
  description = "The key the repository's images are encrypted with (null: AES-256 by ECR)."
  type        = string
  default     = null
}

variable "keep_images" {
  description = "How many tagged images the lifecycle policy keeps."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_images >= 1
    error_message = "keep_images must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
