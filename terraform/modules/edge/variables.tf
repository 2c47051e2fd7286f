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

variable "vpc_id" {
  description = "The VPC of the load balancer and the target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets for the load balancer (at least two, in different zones)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs at least two subnets (two availability zones)."
  }
}

variable "certificate_arn" {
  description = "The ACM certificate of the gateway's public name (PUBLIC_BASE_URL)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "access_logs_bucket" {
  description = "The S3 bucket the load balancer writes its access logs to (with the ELB log delivery policy)."
  type        = string
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one client address may make in five minutes before WAF blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit_per_5_minutes >= 100
    error_message = "rate_limit_per_5_minutes must be at least 100 (WAF's minimum)."
  }
}

variable "vapi_only_tool_routes" {
  description = "Block /vapi/ requests that do not come from Vapi's static egress range (vapi_cidrs)."
  type        = bool
  default     = false
}

variable "vapi_cidrs" {
  description = "Vapi's static egress addresses."
  type        = list(string)
  default     = ["167.150.224.0/23"]
}

variable "logs_kms_key_arn" {
  description = "The key the WAF log group is encrypted with."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
