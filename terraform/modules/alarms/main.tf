# Alarms on what the gateway and its stores emit, all to one SNS topic:
# - 5xx rate and p99 latency at the ALB, unhealthy targets (tasks failing /readyz);
# - the gateway's own EMF metrics (namespace PracticeGateway, dimension Environment):
#   AuditDeadLetters (entries CloudWatch refused for good) and AuditBacklogAge (seconds the
#   oldest unshipped audit entry has waited);
# - DynamoDB throttles on the state table.
# Missing data is "not breaching" except for the audit backlog, where silence means no task reports.

locals {
  name      = "${var.name_prefix}-${var.environment}"
  namespace = "PracticeGateway"
  alb       = { LoadBalancer = var.alb_arn_suffix }
  actions   = [aws_sns_topic.alarms.arn]
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-gateway-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  alarm_name          = "${local.name}-gateway-5xx-rate"
  alarm_description   = "More than ${var.error_rate_percent}% of requests answered 5xx for 10 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_rate_percent
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "100 * (errors_target + errors_elb) / MAX([requests, 1])"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors_target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.alb
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "errors_elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.alb
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.alb
      period      = 300
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  alarm_name          = "${local.name}-gateway-p99-latency"
  alarm_description   = "p99 response time above ${var.p99_latency_seconds}s for 15 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.alb
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.p99_latency_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_tasks" {
  alarm_name          = "${local.name}-gateway-unhealthy-tasks"
  alarm_description   = "A task has failed its /readyz health check for 5 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = merge(local.alb, { TargetGroup = var.target_group_arn_suffix })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "audit_dead_letters" {
  alarm_name          = "${local.name}-gateway-audit-dead-letters"
  alarm_description   = "CloudWatch Logs refused audit entries for good: they are in the task's dead-letter file, not in the trail."
  namespace           = local.namespace
  metric_name         = "AuditDeadLetters"
  dimensions          = { Environment = var.environment }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "audit_backlog_age" {
  alarm_name          = "${local.name}-gateway-audit-backlog-age"
  alarm_description   = "The oldest audit entry not yet shipped to CloudWatch is older than ${var.audit_backlog_age_seconds}s (or no task reports)."
  namespace           = local.namespace
  metric_name         = "AuditBacklogAge"
  dimensions          = { Environment = var.environment }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.audit_backlog_age_seconds
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name          = "${local.name}-gateway-state-throttles"
  alarm_description   = "DynamoDB throttled reads or writes on ${var.state_table_name}."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "throttles"
    expression  = "reads + writes"
    label       = "throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = var.state_table_name }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "writes"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = var.state_table_name }
      period      = 60
      stat        = "Sum"
    }
  }
}
