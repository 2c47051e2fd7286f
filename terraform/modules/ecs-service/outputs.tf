output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The ECS service (wait for it to be stable after a deploy)."
  value       = aws_ecs_service.gateway.name
}

output "task_definition_arn" {
  description = "The task definition revision the service runs."
  value       = aws_ecs_task_definition.gateway.arn
}

output "container_log_group_name" {
  description = "The container's own log group."
  value       = aws_cloudwatch_log_group.container.name
}

output "tasks_security_group_id" {
  description = "The tasks' security group."
  value       = aws_security_group.tasks.id
}

output "container_log_group_arn" {
  description = "The container's own log group's ARN."
  value       = aws_cloudwatch_log_group.container.arn
}
