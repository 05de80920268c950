# One template, one bake. The `docker` source builds the local instance image;
# the `amazon-ebs` source (the AMI) joins it under "Host image bake".
# Valid for Packer 1.6.6 (Debian bookworm's) and current Packer.

variable "base_image" {
  type        = string
  description = "Image the local instance starts from (built from Debian packages by `onehost base-images`)."
  default     = "onehost-base/instance:latest"
}

variable "image_repository" {
  type    = string
  default = "onehost/instance"
}

variable "image_tag" {
  type    = string
  default = "dev"
}

variable "pyinfra" {
  type        = string
  description = "The pyinfra executable (the project's virtualenv's)."
  default     = "pyinfra"
}

source "docker" "local" {
  image  = var.base_image
  pull   = false
  commit = true
  changes = [
    "ENTRYPOINT [\"/sbin/init\"]",
    "CMD []",
    "ENV container=docker",
    "LABEL org.opencontainers.image.title=onehost-instance",
  ]
}

build {
  sources = ["source.docker.local"]

  provisioner "shell-local" {
    inline = [
      "cd '${path.root}/..'",
      "'${var.pyinfra}' --yes --group-data deploy/group_data @docker/${build.ID} deploy/bake.py",
      "'${var.pyinfra}' --yes --group-data deploy/group_data @docker/${build.ID} deploy/cleanup.py",
    ]
  }

  post-processor "docker-tag" {
    repository = var.image_repository
    tags       = [var.image_tag]
  }
}
