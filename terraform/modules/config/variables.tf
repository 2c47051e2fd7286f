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
  description = "The customer-managed key the SecureString parameters are encrypted with."
  type        = string
}

variable "settings" {
  description = "The gateway's settings, by the environment variable each stands for (VAPI_WEBHOOK_SECRET, SIKKA_APP_ID, ...). Each becomes the SecureString /<prefix>/<env>/backend/<NAME>."
  type        = map(string)
  sensitive   = true

  validation {
    condition = alltrue([
      for name in nonsensitive(keys(var.settings)) : contains([
        "VAPI_WEBHOOK_SECRET",
        "SIKKA_APP_ID",
        "SIKKA_APP_KEY",
        "SIKKA_CALLBACK_KEY",
        "SIKKA_MARKETPLACE_SECRET",
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_MESSAGING_SERVICE_SID",
        "COGNITO_ISSUER",
        "COGNITO_CLIENT_ID",
      ], name)
    ])
    error_message = "settings holds a name the gateway does not read; known: VAPI_WEBHOOK_SECRET, SIKKA_APP_ID, SIKKA_APP_KEY, SIKKA_CALLBACK_KEY, SIKKA_MARKETPLACE_SECRET, PUBLIC_BASE_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID, COGNITO_ISSUER, COGNITO_CLIENT_ID."
  }

  validation {
    condition = alltrue([
      for name in ["VAPI_WEBHOOK_SECRET", "SIKKA_APP_ID", "SIKKA_APP_KEY", "SIKKA_CALLBACK_KEY", "PUBLIC_BASE_URL"] :
      contains(nonsensitive(keys(var.settings)), name)
    ])
    error_message = "settings lacks a setting the aws profile cannot start without: VAPI_WEBHOOK_SECRET, SIKKA_APP_ID, SIKKA_APP_KEY, SIKKA_CALLBACK_KEY and PUBLIC_BASE_URL are required."
  }

  validation {
    condition     = alltrue([for value in nonsensitive(values(var.settings)) : length(trimspace(value)) > 0])
    error_message = "settings holds an empty value."
  }
}

variable "tags" {
  description = "Tags added to every parameter."
  type        = map(string)
  default     = {}
}
