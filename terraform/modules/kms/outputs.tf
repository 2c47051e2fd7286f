output "ssm_key_arn" {
  description = "The key of the SecureString parameters under /<prefix>/<env>/backend/."
  value       = aws_kms_key.this["ssm"].arn
}

output "secrets_key_arn" {
  description = "The key of the practices' Sikka secrets (the gateway's SECRETS_KMS_KEY_ID)."
  value       = aws_kms_key.this["secrets"].arn
}

output "logs_key_arn" {
  description = "The key of the audit log group."
  value       = aws_kms_key.this["logs"].arn
}

output "dynamodb_key_arn" {
  description = "The key of the state table."
  value       = aws_kms_key.this["dynamodb"].arn
}

output "sns_key_arn" {
  description = "The key of the alarm topic (CloudWatch alarms may publish with it)."
  value       = aws_kms_key.this["sns"].arn
}

output "key_arns" {
  description = "Every key, by purpose (ssm, secrets, logs, dynamodb, sns)."
  value       = { for purpose, key in aws_kms_key.this : purpose => key.arn }
}
