output "task_role_arn" {
  description = "The task role (the gateway's own calls)."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "The task role's name."
  value       = aws_iam_role.task.name
}

output "execution_role_arn" {
  description = "The execution role (ECS pulling the image, reading secrets, writing logs)."
  value       = aws_iam_role.execution.arn
}

output "task_policy_json" {
  description = "The task role's policy document (to review or simulate)."
  value       = data.aws_iam_policy_document.task.json
}
