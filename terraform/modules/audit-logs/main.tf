# The log group the gateway ships its audit trail to, /<prefix>/<env>/audit (one stream per task,
# created by the gateway). Kept six years, encrypted with the CMK, identifiers masked for readers
# without logs:Unmask, and a deny policy (attach it to every role and user that is not the break-
# glass admin, or use it as an SCP) on deleting the group or its streams and on changing retention.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name = "/${var.name_prefix}/${var.environment}/audit"
  arn  = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.name}"
  identifiers = [for id in [
    "EmailAddress",
    "PhoneNumber-US",
    "Ssn-US",
    "HealthInsuranceClaimNumber-US",
    "MedicareBeneficiaryNumber-US",
    "NationalProviderId-US",
  ] : "arn:${data.aws_partition.current.partition}:dataprotection::aws:data-identifier/${id}"]
}

resource "aws_cloudwatch_log_group" "audit" {
  name              = local.name
  retention_in_days = var.retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_data_protection_policy" "audit" {
  count = var.data_protection ? 1 : 0

  log_group_name = aws_cloudwatch_log_group.audit.name
  policy_document = jsonencode({
    Name    = "mask-identifiers"
    Version = "2021-06-01"
    Statement = [
      {
        Sid            = "Audit"
        DataIdentifier = local.identifiers
        Operation      = { Audit = { FindingsDestination = {} } }
      },
      {
        Sid            = "Mask"
        DataIdentifier = local.identifiers
        Operation      = { Deidentify = { MaskConfig = {} } }
      },
    ]
  })
}

data "aws_iam_policy_document" "protect" {
  statement {
    sid    = "KeepTheAuditTrail"
    effect = "Deny"
    actions = [
      "logs:DeleteLogGroup",
      "logs:DeleteLogStream",
      "logs:PutRetentionPolicy",
      "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey",
      "logs:DeleteDataProtectionPolicy",
      "logs:PutDataProtectionPolicy",
    ]
    resources = [local.arn, "${local.arn}:*"]
  }
}

resource "aws_iam_policy" "protect" {
  name        = "${var.name_prefix}-${var.environment}-audit-logs-protect"
  description = "Denies deleting ${local.name} or its streams and changing its retention, key or data protection."
  policy      = data.aws_iam_policy_document.protect.json
  tags        = var.tags
}
