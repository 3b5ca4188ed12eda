# mycloud Redis instance in a subnet. Provider settings come from
# MYCLOUD_ENDPOINT, MYCLOUD_ACCESS_KEY and MYCLOUD_SECRET_KEY.
terraform {
  # 1.5: import blocks (InfraImport).
  required_version = ">= 1.5"
  required_providers {
    mycloud = {
      source  = "vela-infra/mycloud"
      version = ">= 0.1.0"
    }
  }
}

variable "name" {
  type        = string
  description = "Name of the instance: 2-63 lower-case letters, digits and '-', starting with a letter."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be 2-63 lower-case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "subnet_id" {
  type        = string
  description = "Id of the subnet (subnet-...)."
  validation {
    condition     = can(regex("^subnet-[a-z0-9]+$", var.subnet_id))
    error_message = "The subnet_id must be a subnet id such as subnet-1a2b3c4d."
  }
}

variable "redis_version" {
  type        = string
  description = "Redis version: 6.2 or 7.0. Changing it replaces the instance."
  default     = "7.0"
  validation {
    condition     = contains(["6.2", "7.0"], var.redis_version)
    error_message = "The redis_version must be 6.2 or 7.0."
  }
}

variable "memory_mib" {
  type        = number
  description = "Memory in MiB: 256 to 65536, a multiple of 256."
  default     = 1024
  validation {
    condition     = var.memory_mib >= 256 && var.memory_mib <= 65536 && var.memory_mib % 256 == 0
    error_message = "The memory_mib must be from 256 to 65536 and a multiple of 256."
  }
}

# No validation block here: Terraform 1.5 prints the rejected value of a
# sensitive variable in the validation error, and a validation block sees one
# variable only. The provider checks the password policy and that exactly one
# of password and manage_password is set, naming the attributes
# without echoing the value.
variable "password" {
  type        = string
  description = "Access password: 12-128 characters with an upper-case letter, a lower-case letter and a digit. Required unless manage_password is true, and then not allowed."
  default     = null
  sensitive   = true
}

variable "manage_password" {
  type        = bool
  description = "true: mycloud generates the access password and keeps it as a secret (output password_secret_id), so no password is in the Application or the Configuration. Changing it replaces the instance."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of the instance."
  default     = {}
}

resource "mycloud_redis" "this" {
  name            = var.name
  subnet_id       = var.subnet_id
  version         = var.redis_version
  memory_mib      = var.memory_mib
  password        = var.password
  manage_password = var.manage_password
  tags            = var.tags
}

output "id" {
  description = "Id of the instance."
  value       = mycloud_redis.this.id
}

output "endpoint" {
  description = "Host name of the instance."
  value       = mycloud_redis.this.endpoint
}

output "port" {
  description = "Port of the instance."
  value       = mycloud_redis.this.port
}

# Null, so absent from the outputs, with manage_password: the
# Configuration's status and connection Secret get no password then.
output "password" {
  description = "Access password, when password is set."
  value       = mycloud_redis.this.password
  sensitive   = true
}

output "password_secret_id" {
  description = "With manage_password, the id of the mycloud secret that holds the access password (read it with mycloud secret-value <id>)."
  value       = mycloud_redis.this.password_secret_id
}
