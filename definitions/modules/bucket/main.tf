# mycloud object storage bucket. Provider settings come from
# MYCLOUD_ENDPOINT, MYCLOUD_ACCESS_KEY and MYCLOUD_SECRET_KEY.
terraform {
  # 1.5: import blocks (InfraImport) and strcontains.
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
  description = "Bucket name, unique in the cloud: 3-63 lower-case letters, digits, '.' and '-'."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name)) && !strcontains(var.name, "..")
    error_message = "The name must be 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "acl" {
  type        = string
  description = "Access: private or public-read."
  default     = "private"
  validation {
    condition     = contains(["private", "public-read"], var.acl)
    error_message = "The acl must be private or public-read."
  }
}

variable "versioning" {
  type        = bool
  description = "Keep old versions of objects."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags of the bucket."
  default     = {}
}

resource "mycloud_bucket" "this" {
  name       = var.name
  acl        = var.acl
  versioning = var.versioning
  tags       = var.tags
}

output "id" {
  description = "Id of the bucket."
  value       = mycloud_bucket.this.id
}

output "url" {
  description = "URL of the bucket."
  value       = mycloud_bucket.this.url
}
