# mycloud VPC. Provider settings come from MYCLOUD_ENDPOINT,
# MYCLOUD_ACCESS_KEY and MYCLOUD_SECRET_KEY.
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
  description = "Name of the VPC: 2-63 lower-case letters, digits and '-', starting with a letter."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be 2-63 lower-case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "cidr" {
  type        = string
  description = "Private IPv4 block of the VPC, /16 to /28. Changing it replaces the VPC."
  validation {
    condition     = can(cidrnetmask(var.cidr)) && tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 28
    error_message = "The cidr must be an IPv4 CIDR block such as 10.0.0.0/16, with a prefix length from /16 to /28."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of the VPC."
  default     = {}
}

resource "mycloud_vpc" "this" {
  name = var.name
  cidr = var.cidr
  tags = var.tags
}

output "id" {
  description = "Id of the VPC."
  value       = mycloud_vpc.this.id
}

output "cidr" {
  description = "CIDR block of the VPC."
  value       = mycloud_vpc.this.cidr
}
