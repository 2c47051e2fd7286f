# The gateway's settings as SecureString parameters under /<prefix>/<env>/backend/, each named
# after the environment variable it stands for (app/src/aws/settings.rs). Practices and routes
# are added later under /<prefix>/<env>/practices/ and /<prefix>/<env>/routes/ by
# `cargo xtask practice add`; this module only names those paths.

locals {
  root = "/${var.name_prefix}/${var.environment}"
  # The names are not secret; only the values are.
  names = nonsensitive(toset(keys(var.settings)))
}

resource "aws_ssm_parameter" "backend" {
  for_each = local.names

  name        = "${local.root}/backend/${each.key}"
  description = "Practice gateway setting ${each.key}"
  type        = "SecureString"
  key_id      = var.kms_key_arn
  value       = var.settings[each.key]
  tier        = "Standard"
  tags        = var.tags
}
