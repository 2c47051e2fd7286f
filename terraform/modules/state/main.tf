# The table the gateway's tasks share their state in ("Many tasks, one truth"):
# <prefix>-<env>-state, items keyed by pk/sk, expired by DynamoDB through expires_at (epoch
# seconds), on demand, encrypted with the CMK.

resource "aws_dynamodb_table" "state" {
  name         = "${var.name_prefix}-${var.environment}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = var.deletion_protection
  tags                        = var.tags
}
