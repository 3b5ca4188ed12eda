# A mycloud subnet that another application owns, used by id: this module
# only reads it (a data source), so applying it creates nothing and deleting
# its Configuration destroys nothing. Its outputs give the consumer the
# owner's ids and endpoints. Provider settings come from MYCLOUD_ENDPOINT,
# MYCLOUD_ACCESS_KEY and MYCLOUD_SECRET_KEY.
terraform {
  required_version = ">= 1.5"
  required_providers {
    mycloud = {
      source  = "vela-infra/mycloud"
      version = ">= 0.1.0"
    }
  }
}

variable "id" {
  type        = string
  description = "Id of the subnet to use (subnet-...), as its owner's outputs or vela status give it."
  validation {
    condition     = can(regex("^subnet-[a-z0-9]+$", var.id))
    error_message = "The id must be a subnet id such as subnet-1a2b3c4d."
  }
}

data "mycloud_subnet" "this" {
  id = var.id
}

output "id" {
  description = "Id of the subnet."
  value       = data.mycloud_subnet.this.id
}

output "vpc_id" {
  description = "Id of the subnet's VPC."
  value       = data.mycloud_subnet.this.vpc_id
}

output "cidr" {
  description = "CIDR block of the subnet."
  value       = data.mycloud_subnet.this.cidr
}

output "zone" {
  description = "Availability zone of the subnet."
  value       = data.mycloud_subnet.this.zone
}
