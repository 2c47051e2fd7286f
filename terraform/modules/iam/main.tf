# Two roles for the gateway's ECS tasks, least privilege:
# - the task role (what the gateway itself calls): its settings, practices and routes in SSM (read
#   only), the practices' secrets on their prefix, the audit log group, the state table's items,
#   and each key only through the service it belongs to (kms:ViaService). Deleting or re-timing
#   the audit trail is denied outright.
# - the execution role (what ECS does to start a task): pull the image, read the parameters the
#   task definition passes as secrets, write the container's logs.
# The only "*" resource is ecr:GetAuthorizationToken, which has no resource to scope to.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  ssm_root  = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.name_prefix}/${var.environment}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "task" {
  source_policy_documents = [var.practice_secrets_policy_json]

  statement {
    sid     = "SettingsPracticesAndRoutes"
    actions = ["ssm:GetParametersByPath", "ssm:GetParameter", "ssm:GetParameters"]
    resources = [
      "${local.ssm_root}/backend",
      "${local.ssm_root}/backend/*",
      "${local.ssm_root}/practices",
      "${local.ssm_root}/practices/*",
      "${local.ssm_root}/routes",
      "${local.ssm_root}/routes/*",
    ]
  }

  statement {
    sid = "AuditTrail"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:FilterLogEvents",
      "logs:GetLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [var.audit_log_group_arn, "${var.audit_log_group_arn}:log-stream:*"]
  }

  statement {
    sid    = "NeverDeleteOrRetimeTheAuditTrail"
    effect = "Deny"
    actions = [
      "logs:DeleteLogGroup",
      "logs:DeleteLogStream",
      "logs:PutRetentionPolicy",
      "logs:DeleteRetentionPolicy",
    ]
    resources = [var.audit_log_group_arn, "${var.audit_log_group_arn}:*"]
  }

  statement {
    sid = "StateItems"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
      "dynamodb:ConditionCheckItem",
    ]
    resources = [var.state_table_arn]
  }

  dynamic "statement" {
    for_each = {
      ssm      = "ssm"
      logs     = "logs"
      dynamodb = "dynamodb"
    }

    content {
      sid       = "KeyThrough${title(statement.value)}"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arns[statement.key]]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["${statement.value}.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "task" {
  name                 = "${var.name_prefix}-${var.environment}-gateway-task"
  description          = "The practice gateway's tasks: what the gateway itself calls."
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "gateway"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

data "aws_iam_policy_document" "execution" {
  # checkov:skip=CKV_AWS_356:ecr:GetAuthorizationToken has no resource to scope to; every other statement is scoped.
  # checkov:skip=CKV_AWS_111:ecr:GetAuthorizationToken has no resource to scope to; every other statement is scoped.
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullTheImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "TaskDefinitionSecrets"
    actions   = ["ssm:GetParameters"]
    resources = length(var.backend_parameter_arns) > 0 ? values(var.backend_parameter_arns) : ["${local.ssm_root}/backend/*"]
  }

  statement {
    sid       = "DecryptThoseSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arns["ssm"]]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "ContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.container_log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name_prefix}-${var.environment}-gateway-execution"
  description          = "ECS starting the practice gateway's tasks: image, secrets, container logs."
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "ecs-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
