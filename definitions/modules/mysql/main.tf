# mycloud MySQL instance in a subnet. Provider settings come from
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

variable "engine_version" {
  type        = string
  description = "MySQL version: 5.7 or 8.0. Changing it replaces the instance."
  default     = "8.0"
  validation {
    condition     = contains(["5.7", "8.0"], var.engine_version)
    error_message = "The engine_version must be 5.7 or 8.0."
  }
}

variable "instance_class" {
  type        = string
  description = "Instance size: db.small, db.medium or db.large."
  default     = "db.small"
  validation {
    condition     = contains(["db.small", "db.medium", "db.large"], var.instance_class)
    error_message = "The instance_class must be db.small, db.medium or db.large."
  }
}

variable "storage_gib" {
  type        = number
  description = "Storage in GiB, 20 to 16384."
  default     = 20
  validation {
    condition     = var.storage_gib >= 20 && var.storage_gib <= 16384 && floor(var.storage_gib) == var.storage_gib
    error_message = "The storage_gib must be a whole number from 20 to 16384."
  }
}

# No validation block here: Terraform 1.5 prints the rejected value of a
# sensitive variable in the validation error. The provider checks the password
# policy and names the attribute without echoing the value.
variable "admin_password" {
  type        = string
  description = "Administrator password: 12-128 characters with an upper-case letter, a lower-case letter and a digit."
  sensitive   = true
}

variable "tags" {
  type        = map(string)
  description = "Tags of the instance."
  default     = {}
}

resource "mycloud_mysql" "this" {
  name           = var.name
  subnet_id      = var.subnet_id
  engine_version = var.engine_version
  instance_class = var.instance_class
  storage_gib    = var.storage_gib
  admin_password = var.admin_password
  tags           = var.tags
}

output "id" {
  description = "Id of the instance."
  value       = mycloud_mysql.this.id
}

output "endpoint" {
  description = "Host name of the instance."
  value       = mycloud_mysql.this.endpoint
}

output "port" {
  description = "Port of the instance."
  value       = mycloud_mysql.this.port
}

output "admin_user" {
  description = "Administrator account."
  value       = mycloud_mysql.this.admin_user
}

output "admin_password" {
  description = "Administrator password."
  value       = mycloud_mysql.this.admin_password
  sensitive   = true
}
