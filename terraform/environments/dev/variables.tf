variable "region" {
  description = "The AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "The first part of every name (the gateway's NAME_PREFIX)."
  type        = string
  default     = "parlae"
}

variable "image" {
  description = "The gateway's image by digest (<repository_url>@sha256:...), as cargo xtask deploy passes it."
  type        = string
}

variable "settings" {
  description = "The gateway's settings by environment variable name (see terraform.tfvars.example)."
  type        = map(string)
  sensitive   = true
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "The tasks' subnets."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "The load balancer's subnets."
  type        = list(string)
}

variable "certificate_arn" {
  description = "The ACM certificate of the public name."
  type        = string
}

variable "access_logs_bucket" {
  description = "The S3 bucket for the load balancer's access logs."
  type        = string
}

variable "alarm_emails" {
  description = "Who the alarms mail."
  type        = list(string)
  default     = []
}

variable "vapi_only_tool_routes" {
  description = "Accept /vapi/ requests from Vapi's egress range only."
  type        = bool
  default     = false
}

variable "protected_role_names" {
  description = "Roles (not the break-glass admin) the audit log group's deny policy is attached to."
  type        = list(string)
  default     = []
}
