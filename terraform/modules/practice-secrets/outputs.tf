output "name_prefix" {
  description = "<prefix>/<env>/pms/sikka/: the name prefix of every practice's secret."
  value       = local.name_prefix
}

output "arn_pattern" {
  description = "The ARN pattern matching every practice's secret."
  value       = local.arn_pattern
}

output "kms_key_arn" {
  description = "The key the secrets are encrypted with (give it to the gateway as SECRETS_KMS_KEY_ID)."
  value       = var.kms_key_arn
}

output "policy_json" {
  description = "The IAM policy granting the gateway its secret actions on the prefix, and the key through Secrets Manager."
  value       = data.aws_iam_policy_document.gateway.json
}
