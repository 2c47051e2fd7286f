variable "endpoint" {
  description = "The AWS emulator's URL (moto_server), e.g. http://127.0.0.1:5000."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.endpoint))
    error_message = "endpoint must be an http(s) URL."
  }
}

variable "region" {
  description = "The emulated region."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "The first part of every name (the gateway's NAME_PREFIX)."
  type        = string
  default     = "parlae"
}

variable "environment" {
  description = "The deployment environment's name (the gateway's DEPLOY_ENV)."
  type        = string
  default     = "local"
}

variable "settings" {
  description = "The gateway's settings by environment variable name."
  type        = map(string)
  sensitive   = true
}

variable "image" {
  description = "The gateway's image by digest (<repository>@sha256:...), as cargo xtask deploy passes it; null (the default) leaves the ECS service out."
  type        = string
  default     = null
}
