output "ssm_root" {
  description = "/<prefix>/<env>: backend/, practices/ and routes/."
  value       = module.config.root_path
}

output "practice_secrets_prefix" {
  description = "The name prefix of every practice's Sikka secret."
  value       = module.practice_secrets.name_prefix
}

output "secrets_kms_key_arn" {
  description = "SECRETS_KMS_KEY_ID for the gateway."
  value       = module.kms.secrets_key_arn
}

output "audit_log_group" {
  description = "The audit trail's log group."
  value       = module.audit_logs.log_group_name
}

output "state_table" {
  description = "The shared state table."
  value       = module.state.table_name
}

output "task_role_arn" {
  description = "The gateway's task role."
  value       = module.iam.task_role_arn
}

output "ecr_repository_url" {
  description = "Where cargo xtask deploy pushes the image."
  value       = module.ecr.repository_url
}

output "ecs_cluster" {
  description = "The ECS cluster (null without an image)."
  value       = one(module.ecs_service[*].cluster_name)
}

output "ecs_service" {
  description = "The ECS service (null without an image)."
  value       = one(module.ecs_service[*].service_name)
}
