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

variable "image" {
  description = "The image to run, by digest: <repository_url>@sha256:<digest>."
  type        = string

  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must name the image by digest (<repository>@sha256:<64 hex digits>), so a deploy runs exactly what was built."
  }
}

variable "task_role_arn" {
  description = "The iam module's task_role_arn."
  type        = string
}

variable "execution_role_arn" {
  description = "The iam module's execution_role_arn."
  type        = string
}

variable "backend_parameter_arns" {
  description = "The config module's parameter_arns: passed to the container as secrets named after their setting."
  type        = map(string)
}

variable "secrets_kms_key_arn" {
  description = "The key practices' secrets are encrypted with (SECRETS_KMS_KEY_ID)."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "The key the container log group is encrypted with."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the tasks run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the tasks (at least two, in different zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs at least two subnets (two availability zones)."
  }
}

variable "alb_security_group_id" {
  description = "The edge module's ALB security group: the only source allowed to reach the tasks."
  type        = string
}

variable "target_group_arn" {
  description = "The edge module's target group (health-checked on /readyz)."
  type        = string
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Task memory (MiB)."
  type        = number
  default     = 1024
}

variable "min_tasks" {
  description = "The fewest tasks running (at least two in prod)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_tasks >= 1 && (var.environment != "prod" || var.min_tasks >= 2)
    error_message = "min_tasks must be at least 1, and at least 2 in prod."
  }
}

variable "max_tasks" {
  description = "The most tasks autoscaling may run."
  type        = number
  default     = 4

  validation {
    condition     = var.max_tasks >= var.min_tasks
    error_message = "max_tasks must be at least min_tasks."
  }
}

variable "cpu_target_percent" {
  description = "The average CPU utilisation autoscaling keeps the service at."
  type        = number
  default     = 60
}

variable "container_log_retention_days" {
  description = "How long the container's own (non-audit) logs are kept."
  type        = number
  default     = 365
}

variable "environment_variables" {
  description = "Extra plain environment variables for the container (never secrets)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "autoscaling" {
  description = "CPU target-tracking autoscaling between min_tasks and max_tasks (false: min_tasks tasks, for the emulator, which has no Application Auto Scaling tags API)."
  type        = bool
  default     = true
}
