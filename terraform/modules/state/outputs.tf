output "table_name" {
  description = "<prefix>-<env>-state."
  value       = aws_dynamodb_table.state.name
}

output "table_arn" {
  description = "The table's ARN (the task role's item actions are granted on it)."
  value       = aws_dynamodb_table.state.arn
}
