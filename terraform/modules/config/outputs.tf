output "root_path" {
  description = "/<prefix>/<env>: the SSM path holding backend/, practices/ and routes/."
  value       = local.root
}

output "backend_path" {
  description = "/<prefix>/<env>/backend: the settings the gateway reads at start."
  value       = "${local.root}/backend"
}

output "practices_path" {
  description = "/<prefix>/<env>/practices/: where `cargo xtask practice add` writes practices."
  value       = "${local.root}/practices/"
}

output "routes_path" {
  description = "/<prefix>/<env>/routes/: where `cargo xtask practice add` writes routes."
  value       = "${local.root}/routes/"
}

output "parameter_arns" {
  description = "The ARN of each setting's parameter, by setting name (for a task definition's secrets). Never the values."
  value       = { for name, p in aws_ssm_parameter.backend : name => p.arn }
}
