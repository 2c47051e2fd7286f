# The gateway on ECS Fargate: a task definition (non-root user, read-only root filesystem, settings
# as secrets from SSM, the audit spool on the task's ephemeral storage, 120 s to drain the spool on
# SIGTERM) and a service behind the edge module's target group, whose health check is /readyz,
# with a deployment circuit breaker that rolls back and CPU target-tracking autoscaling.
#
# The image has no shell, so the container has no command health check: ECS takes the target
# group's /readyz health (health_check_grace_period_seconds) as the task's health.

locals {
  name         = "${var.name_prefix}-${var.environment}-gateway"
  container    = "gateway"
  port         = 8080
  audit_dir    = "/var/lib/gateway/audit"
  log_group    = "/${var.name_prefix}/${var.environment}/gateway"
  stop_timeout = 120
  audit_volume = "audit"
  plain_environment = merge(var.environment_variables, {
    PROFILE            = "aws"
    NAME_PREFIX        = var.name_prefix
    DEPLOY_ENV         = var.environment
    HOST               = "0.0.0.0"
    PORT               = tostring(local.port)
    AUDIT_DIR          = local.audit_dir
    SECRETS_KMS_KEY_ID = var.secrets_kms_key_arn
    LOG_FORMAT         = "json"
  })
}

data "aws_region" "current" {}

resource "aws_cloudwatch_log_group" "container" {
  name              = local.log_group
  retention_in_days = var.container_log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "gateway" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = var.task_role_arn
  execution_role_arn       = var.execution_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = 21
  }

  volume {
    name = local.audit_volume
  }

  container_definitions = jsonencode([
    {
      name                   = local.container
      image                  = var.image
      essential              = true
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      privileged             = false
      stopTimeout            = local.stop_timeout
      portMappings = [{
        containerPort = local.port
        protocol      = "tcp"
      }]
      environment = [for k, v in local.plain_environment : { name = k, value = v }]
      secrets     = [for k, arn in var.backend_parameter_arns : { name = k, valueFrom = arn }]
      mountPoints = [{
        sourceVolume  = local.audit_volume
        containerPath = local.audit_dir
        readOnly      = false
      }]
      linuxParameters = {
        initProcessEnabled = false
        capabilities       = { drop = ["ALL"] }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.container.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = local.container
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${local.name}-tasks"
  description = "The gateway's tasks: reached by the ALB only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The ALB to the gateway's port"
  referenced_security_group_id = var.alb_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
}

resource "aws_vpc_security_group_egress_rule" "https" {
  # checkov:skip=CKV_AWS_382:The gateway calls Sikka's API and AWS endpoints over HTTPS; their addresses are not fixed.
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS out: Sikka's API and the AWS endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_ecs_service" "gateway" {
  name                              = local.name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.gateway.arn
  desired_count                     = var.min_tasks
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_execute_command            = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = local.container
    container_port   = local.port
  }

  lifecycle {
    # Autoscaling owns the count once the service runs.
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

resource "aws_appautoscaling_target" "gateway" {
  count              = var.autoscaling ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.gateway.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = var.autoscaling ? 1 : 0
  name               = "${local.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.gateway[0].service_namespace
  resource_id        = aws_appautoscaling_target.gateway[0].resource_id
  scalable_dimension = aws_appautoscaling_target.gateway[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
