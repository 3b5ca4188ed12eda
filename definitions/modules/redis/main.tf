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
# variable only. The provider checks the password policy, naming the
# attribute without echoing the value; the precondition of the resource below
# checks that exactly one of password, manage_password and
# keep_existing_password is set.
variable "password" {
  type        = string
  description = "Access password: 12-128 characters with an upper-case letter, a lower-case letter and a digit. Required unless manage_password or keep_existing_password is true, and then not allowed."
  default     = null
  sensitive   = true
}

variable "manage_password" {
  type        = bool
  description = "true: mycloud generates the access password and keeps it as a secret (output password_secret_id), so no password is in the Application or the Configuration. Changing it replaces the instance."
  default     = false
}

variable "keep_existing_password" {
  type        = bool
  description = "true: the instance exists (adopted with infra-import or infra-bulk-import) and keeps the password it has, which Terraform is not told; set neither password nor manage_password then. A new instance cannot be created so: the cloud refuses a create without a password."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of the instance."
  default     = {}
}

# password is null rather than the variable with keep_existing_password:
# Terraform marks a sensitive variable even when it is null, the state of an
# imported instance has no such mark, and its import would plan an update
# that changes nothing but the mark.
resource "mycloud_redis" "this" {
  name            = var.name
  subnet_id       = var.subnet_id
  version         = var.redis_version
  memory_mib      = var.memory_mib
  password        = var.keep_existing_password ? null : var.password
  manage_password = var.manage_password
  tags            = var.tags

  lifecycle {
    # Exactly one of the three, said here because a validation block sees
    # one variable only. A failed precondition shows the values in its
    # condition except sensitive ones, so never the password. Whether there
    # is an instance to keep only the provider knows: it refuses to create
    # (or replace) one with neither password nor manage_password.
    precondition {
      condition     = (var.password == null ? 0 : 1) + (var.manage_password ? 1 : 0) + (var.keep_existing_password ? 1 : 0) == 1
      error_message = "Set exactly one of password, manage_password = true and keep_existing_password = true. keep_existing_password is for an instance that exists (adopted with infra-import or infra-bulk-import) and keeps the password it has."
    }
  }
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

# Null, so absent from the outputs, with manage_password or
# keep_existing_password: the Configuration's status and connection Secret
# get no password then.
output "password" {
  description = "Access password, when password is set."
  value       = mycloud_redis.this.password
  sensitive   = true
}

output "password_secret_id" {
  description = "With manage_password, the id of the mycloud secret that holds the access password (read it with mycloud secret-value <id>)."
  value       = mycloud_redis.this.password_secret_id
}
