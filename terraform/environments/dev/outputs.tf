output "alb_dns_name" {
  description = "Point the gateway's public name (PUBLIC_BASE_URL) at this."
  value       = module.edge.alb_dns_name
}

output "ecr_repository_url" {
  description = "Where cargo xtask push sends the image."
  value       = module.ecr.repository_url
}

output "ecs_cluster" {
  description = "The ECS cluster."
  value       = module.ecs_service.cluster_name
}

output "ecs_service" {
  description = "The ECS service."
  value       = module.ecs_service.service_name
}

output "ssm_root" {
  description = "/<prefix>/<env>: backend/, practices/ and routes/."
  value       = module.config.root_path
}

output "practice_secrets_prefix" {
  description = "The name prefix of every practice's Sikka secret."
  value       = module.practice_secrets.name_prefix
}

output "audit_log_group" {
  description = "The audit trail's log group."
  value       = module.audit_logs.log_group_name
}

output "state_table" {
  description = "The shared state table."
  value       = module.state.table_name
}

output "alarm_topic_arn" {
  description = "Subscribe on-call to this."
  value       = module.alarms.topic_arn
}
