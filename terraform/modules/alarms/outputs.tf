output "topic_arn" {
  description = "The SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every alarm's name."
  value = [
    aws_cloudwatch_metric_alarm.error_rate.alarm_name,
    aws_cloudwatch_metric_alarm.p99_latency.alarm_name,
    aws_cloudwatch_metric_alarm.unhealthy_tasks.alarm_name,
    aws_cloudwatch_metric_alarm.audit_dead_letters.alarm_name,
    aws_cloudwatch_metric_alarm.audit_backlog_age.alarm_name,
    aws_cloudwatch_metric_alarm.dynamodb_throttles.alarm_name,
  ]
}
