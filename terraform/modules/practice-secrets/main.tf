# The practices' Sikka credentials live in Secrets Manager as <prefix>/<env>/pms/sikka/<account_id>.
# The gateway creates each one when a practice is onboarded (app/src/aws/secrets/), so this module
# creates no secret: it names the prefix and writes the policy granting exactly the calls the
# gateway makes on it (CreateSecret with tags, DescribeSecret, GetSecretValue, PutSecretValue)
# and the use of its key through Secrets Manager only.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name_prefix = "${var.name_prefix}/${var.environment}/pms/sikka/"
  # Secrets Manager appends "-" and six random characters to a secret's ARN.
  arn_pattern = "arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${local.name_prefix}*"
}

data "aws_iam_policy_document" "gateway" {
  statement {
    sid = "PracticeSecretsUnderThePrefix"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
    ]
    resources = [local.arn_pattern]
  }

  statement {
    sid       = "TagOnlyAtCreation"
    actions   = ["secretsmanager:TagResource"]
    resources = [local.arn_pattern]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/managed-by"
      values   = ["practice-gateway"]
    }
  }

  statement {
    sid       = "TheirKeyThroughSecretsManager"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}
