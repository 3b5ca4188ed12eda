# A mycloud Redis instance that another application owns, used by id: this module
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
  description = "Id of the Redis instance to use (redis-...), as its owner's outputs or vela status give it."
  validation {
    condition     = can(regex("^redis-[a-z0-9]+$", var.id))
    error_message = "The id must be a Redis instance id such as redis-1a2b3c4d."
  }
}

data "mycloud_redis" "this" {
  id = var.id
}

output "id" {
  description = "Id of the instance."
  value       = data.mycloud_redis.this.id
}

output "endpoint" {
  description = "Host name of the instance."
  value       = data.mycloud_redis.this.endpoint
}

output "port" {
  description = "Port of the instance."
  value       = data.mycloud_redis.this.port
}

output "password_secret_id" {
  description = "With a managed password, the id of the mycloud secret that holds it (mycloud secret-value <id>)."
  value       = data.mycloud_redis.this.password_secret_id
}
