output "repository_url" {
  description = "The repository's URL (push to it; the task definition pulls <url>@<digest>)."
  value       = aws_ecr_repository.gateway.repository_url
}

output "repository_arn" {
  description = "The repository's ARN (the execution role pulls from it)."
  value       = aws_ecr_repository.gateway.arn
}
