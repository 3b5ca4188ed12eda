# mycloud subnet inside a VPC. Provider settings come from MYCLOUD_ENDPOINT,
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
  description = "Name of the subnet: 2-63 lower-case letters, digits and '-', starting with a letter."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be 2-63 lower-case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "vpc_id" {
  type        = string
  description = "Id of the VPC (vpc-...)."
  validation {
    condition     = can(regex("^vpc-[a-z0-9]+$", var.vpc_id))
    error_message = "The vpc_id must be a VPC id such as vpc-1a2b3c4d."
  }
}

variable "cidr" {
  type        = string
  description = "IPv4 block inside the VPC's, /16 to /29."
  validation {
    condition     = can(cidrnetmask(var.cidr)) && tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 29
    error_message = "The cidr must be an IPv4 CIDR block such as 10.0.1.0/24, with a prefix length from /16 to /29."
  }
}

variable "zone" {
  type        = string
  description = "Availability zone, such as zone-a."
  default     = "zone-a"
  validation {
    condition     = can(regex("^zone-[a-z]$", var.zone))
    error_message = "The zone must look like zone-a."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of the subnet."
  default     = {}
}

resource "mycloud_subnet" "this" {
  name   = var.name
  vpc_id = var.vpc_id
  cidr   = var.cidr
  zone   = var.zone
  tags   = var.tags
}

output "id" {
  description = "Id of the subnet."
  value       = mycloud_subnet.this.id
}

output "cidr" {
  description = "CIDR block of the subnet."
  value       = mycloud_subnet.this.cidr
}
