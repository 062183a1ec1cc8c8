################################################################################
# Network
################################################################################

variable "name" {
  description = "Name prefix for every resource (e.g. \"stratus-prod\")."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "cidr" {
  description = "IPv4 CIDR of the VPC, a /16 to /20. Subnets are carved from it automatically."
  type        = string
  default     = "10.0.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 20
    error_message = "cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /20."
  }
}

variable "az_count" {
  description = "Number of availability zones to span (2 or 3). The ALB and RDS need at least 2."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count must be 2 or 3."
  }
}

variable "nat_gateway_mode" {
  description = "Egress for the private subnets: \"per_az\" (one NAT gateway per AZ, survives an AZ outage), \"single\" (one NAT gateway, cheaper) or \"none\" (no internet egress; requires enable_interface_endpoints)."
  type        = string
  default     = "per_az"
  nullable    = false

  validation {
    condition     = contains(["per_az", "single", "none"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be one of \"per_az\", \"single\", \"none\"."
  }
}

################################################################################
# VPC endpoints
################################################################################

variable "enable_interface_endpoints" {
  description = "Create interface VPC endpoints for interface_endpoint_services in the private subnets (about $7.30/month per service per AZ). Needed when nat_gateway_mode is \"none\"."
  type        = bool
  default     = false
  nullable    = false
}

variable "interface_endpoint_services" {
  description = "Short service names for interface endpoints (\"ecr.api\", \"logs\", ...). The default is what Fargate needs without NAT (image pull, logs, secrets, SSM parameters) plus ssmmessages for ECS Exec."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "ssmmessages"]
  nullable    = false

  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "interface_endpoint_services must be short service names such as \"ecr.api\" or \"logs\"."
  }
}

################################################################################
# Flow logs
################################################################################

variable "enable_flow_logs" {
  description = "Send VPC flow logs to a CloudWatch log group."
  type        = bool
  default     = true
  nullable    = false
}

variable "flow_log_traffic_type" {
  description = "Which flows to log: \"ALL\", \"ACCEPT\" or \"REJECT\" (cheapest, still shows probes)."
  type        = string
  default     = "ALL"
  nullable    = false

  validation {
    condition     = contains(["ALL", "ACCEPT", "REJECT"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ALL, ACCEPT or REJECT."
  }
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow log group. Its key policy must allow the CloudWatch Logs service (the security module's key does)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
