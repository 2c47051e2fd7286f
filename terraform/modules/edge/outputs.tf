output "alb_dns_name" {
  description = "The load balancer's DNS name (point the public name at it)."
  value       = aws_lb.this.dns_name
}

output "alb_arn_suffix" {
  description = "The load balancer's ARN suffix (the alarms' LoadBalancer dimension)."
  value       = aws_lb.this.arn_suffix
}

output "alb_security_group_id" {
  description = "The load balancer's security group (the only source the tasks accept)."
  value       = aws_security_group.alb.id
}

output "target_group_arn" {
  description = "The gateway's target group (health-checked on /readyz)."
  value       = aws_lb_target_group.gateway.arn
}

output "target_group_arn_suffix" {
  description = "The target group's ARN suffix (the alarms' TargetGroup dimension)."
  value       = aws_lb_target_group.gateway.arn_suffix
}

output "web_acl_arn" {
  description = "The WAF web ACL."
  value       = aws_wafv2_web_acl.this.arn
}
