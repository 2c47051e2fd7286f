# One customer-managed key per store the gateway writes to, rotation on. Each key policy lets the
# account's IAM policies grant use of the key (the task role does, with kms:ViaService), and lets
# the account's principals use it only through the service it is for. The audit log group's key
# also admits CloudWatch Logs itself, for that one log group only.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.name
  root    = "arn:${data.aws_partition.current.partition}:iam::${local.account}:root"

  log_groups = "arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account}:log-group"
  # The audit group and the container's logs (/<prefix>/<env>/...), and the WAF's.
  log_group_arns = [
    "${local.log_groups}:/${var.name_prefix}/${var.environment}/*",
    "${local.log_groups}:aws-waf-logs-${var.name_prefix}-${var.environment}-*",
  ]

  # purpose => the service the key is used through.
  keys = {
    ssm      = "ssm"
    secrets  = "secretsmanager"
    logs     = "logs"
    dynamodb = "dynamodb"
    sns      = "sns"
  }
}

data "aws_iam_policy_document" "key" {
  for_each = local.keys

  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; the account root statement is what lets IAM policies grant the key at all.
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" is the key itself.
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" is the key itself.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root]
    }
  }

  statement {
    sid = "UseThrough${title(each.value)}Only"
    actions = [
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
      "kms:DescribeKey",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["${each.value}.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account]
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []

    content {
      sid = "CloudWatchLogsForThisEnvironmentsGroups"
      actions = [
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
      ]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${local.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = local.log_group_arns
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "sns" ? [1] : []

    content {
      sid       = "CloudWatchAlarmsPublish"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  for_each = local.keys

  description             = "${var.name_prefix}/${var.environment}: ${each.key} (practice gateway)"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key[each.key].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  for_each = local.keys

  name          = "alias/${var.name_prefix}-${var.environment}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
