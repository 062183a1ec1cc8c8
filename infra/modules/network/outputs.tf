################################################################################
# Network
################################################################################

output "vpc_id" {
  description = "ID of the VPC."
  value       = try(aws_vpc.this.id, null)
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (the app's STRATUS_TRUSTED_PROXIES: the ALB's addresses are inside it)."
  value       = try(aws_vpc.this.cidr_block, null)
}

output "availability_zones" {
  description = "Availability zones the subnets are in, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (ALB, NAT gateways)."
  value       = try(aws_subnet.public[*].id, null)
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (the app)."
  value       = try(aws_subnet.private[*].id, null)
}

output "isolated_subnet_ids" {
  description = "IDs of the isolated subnets (RDS); they have no route out of the VPC."
  value       = try(aws_subnet.isolated[*].id, null)
}

output "private_route_table_ids" {
  description = "IDs of the private route tables (one per AZ)."
  value       = try(aws_route_table.private[*].id, null)
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways (what third parties see as the app's source address)."
  value       = try(aws_eip.nat[*].public_ip, null)
}

################################################################################
# VPC endpoints
################################################################################

output "gateway_endpoint_ids" {
  description = "IDs of the S3 and DynamoDB gateway endpoints, by service."
  value       = try({ for k, v in aws_vpc_endpoint.gateway : k => v.id }, null)
}

output "interface_endpoint_ids" {
  description = "IDs of the interface endpoints, by service (empty when disabled)."
  value       = try({ for k, v in aws_vpc_endpoint.interface : k => v.id }, null)
}

################################################################################
# Flow logs
################################################################################

output "flow_log_group_name" {
  description = "Name of the flow log group, or null when flow logs are off."
  value       = try(aws_cloudwatch_log_group.flow_logs[0].name, null)
}
