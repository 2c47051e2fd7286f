# The gateway's service on the emulator, only once there is an image to run (`cargo xtask deploy
# --env local` passes var.image; the stores-only apply of the tests passes none). The edge module
# (ALB, WAF, access logs) is not emulated: a VPC, two subnets and a target group stand in for
# what it hands the ecs-service module.

locals {
  deploy = var.image != null
}

resource "aws_vpc" "local" {
  # checkov:skip=CKV2_AWS_11:The emulator's VPC carries no traffic; flow logs would log nothing.
  # checkov:skip=CKV2_AWS_12:The emulator's VPC carries no traffic; its default security group is unused.
  count      = local.deploy ? 1 : 0
  cidr_block = "10.42.0.0/16"
}

resource "aws_subnet" "local" {
  count             = local.deploy ? 2 : 0
  vpc_id            = aws_vpc.local[0].id
  cidr_block        = "10.42.${count.index}.0/24"
  availability_zone = "${var.region}${count.index == 0 ? "a" : "b"}"
}

resource "aws_security_group" "alb" {
  # checkov:skip=CKV2_AWS_5:Stands in for the edge module's ALB group, which the emulator has no ALB to attach to; the tasks' rule references it.
  count       = local.deploy ? 1 : 0
  name        = "${var.name_prefix}-${var.environment}-alb"
  description = "Stands in for the edge module's ALB security group"
  vpc_id      = aws_vpc.local[0].id
}

resource "aws_lb_target_group" "gateway" {
  # checkov:skip=CKV_AWS_378:The emulator's target group carries no traffic; dev and prod use the edge module's HTTPS listener.
  count       = local.deploy ? 1 : 0
  name        = "${var.name_prefix}-${var.environment}-gateway"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.local[0].id

  health_check {
    path = "/readyz"
  }
}

module "ecs_service" {
  source                 = "../../modules/ecs-service"
  count                  = local.deploy ? 1 : 0
  name_prefix            = var.name_prefix
  environment            = var.environment
  image                  = var.image
  task_role_arn          = module.iam.task_role_arn
  execution_role_arn     = module.iam.execution_role_arn
  backend_parameter_arns = module.config.parameter_arns
  secrets_kms_key_arn    = module.kms.secrets_key_arn
  logs_kms_key_arn       = module.kms.logs_key_arn
  vpc_id                 = aws_vpc.local[0].id
  subnet_ids             = aws_subnet.local[*].id
  alb_security_group_id  = aws_security_group.alb[0].id
  target_group_arn       = aws_lb_target_group.gateway[0].arn
  min_tasks              = 1
  max_tasks              = 2
  autoscaling            = false
}
