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
# sensitive variable in the validation error, and a validation block sees one
# variable only. The provider checks the password policy, naming the
# attribute without echoing the value; the precondition of the resource below
# checks that exactly one of admin_password, manage_admin_password and
# keep_existing_password is set.
variable "admin_password" {
  type        = string
  description = "Administrator password: 12-128 characters with an upper-case letter, a lower-case letter and a digit. Required unless manage_admin_password or keep_existing_password is true, and then not allowed."
  default     = null
  sensitive   = true
}

variable "manage_admin_password" {
  type        = bool
  description = "true: mycloud generates the administrator password and keeps it as a secret (output admin_password_secret_id), so no password is in the Application or the Configuration. Changing it replaces the instance."
  default     = false
}

variable "keep_existing_password" {
  type        = bool
  description = "true: the instance exists (adopted with infra-import or infra-bulk-import) and keeps the password it has, which Terraform is not told; set neither admin_password nor manage_admin_password then. A new instance cannot be created so: the cloud refuses a create without a password."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of the instance."
  default     = {}
}

# admin_password is null rather than the variable with keep_existing_password:
# Terraform marks a sensitive variable even when it is null, the state of an
# imported instance has no such mark, and its import would plan an update
# that changes nothing but the mark.
resource "mycloud_mysql" "this" {
  name                  = var.name
  subnet_id             = var.subnet_id
  engine_version        = var.engine_version
  instance_class        = var.instance_class
  storage_gib           = var.storage_gib
  admin_password        = var.keep_existing_password ? null : var.admin_password
  manage_admin_password = var.manage_admin_password
  tags                  = var.tags

  lifecycle {
    # Exactly one of the three, said here because a validation block sees
    # one variable only. A failed precondition shows the values in its
    # condition except sensitive ones, so never the password. Whether there
    # is an instance to keep only the provider knows: it refuses to create
    # (or replace) one with neither admin_password nor manage_admin_password.
    precondition {
      condition     = (var.admin_password == null ? 0 : 1) + (var.manage_admin_password ? 1 : 0) + (var.keep_existing_password ? 1 : 0) == 1
      error_message = "Set exactly one of admin_password, manage_admin_password = true and keep_existing_password = true. keep_existing_password is for an instance that exists (adopted with infra-import or infra-bulk-import) and keeps the password it has."
    }
  }
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

# Null, so absent from the outputs, with manage_admin_password or
# keep_existing_password: the Configuration's status and connection Secret
# get no password then.
output "admin_password" {
  description = "Administrator password, when admin_password is set."
  value       = mycloud_mysql.this.admin_password
  sensitive   = true
}

output "admin_password_secret_id" {
  description = "With manage_admin_password, the id of the mycloud secret that holds the administrator password (read it with mycloud secret-value <id>)."
  value       = mycloud_mysql.this.admin_password_secret_id
}
