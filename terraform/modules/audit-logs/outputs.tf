output "log_group_name" {
  description = "/<prefix>/<env>/audit."
  value       = aws_cloudwatch_log_group.audit.name
}

output "log_group_arn" {
  description = "The log group's ARN (without the trailing :*)."
  value       = local.arn
}

output "protect_policy_arn" {
  description = "The managed policy denying deletion of the group or its streams and changes to its retention; attach it to every principal but the break-glass admin."
  value       = aws_iam_policy.protect.arn
}

output "protect_policy_json" {
  description = "The same deny as a policy document (for an SCP or a permissions boundary)."
  value       = data.aws_iam_policy_document.protect.json
}
