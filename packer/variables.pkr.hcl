# The template's inputs. Logic lives in onehost.pkr.hcl; every value here has a default,
# so `packer build -only=docker.local packer/` needs no -var; `-only=amazon-ebs.aws` needs
# ssh_source_cidrs (who may reach the builder's SSH port).

# --- both sources -------------------------------------------------------------

variable "pyinfra" {
  type        = string
  description = "The pyinfra executable (the project's virtualenv's)."
  default     = "pyinfra"
}

variable "python" {
  type        = string
  description = "The Python that runs the testinfra image suite (the project's virtualenv's)."
  default     = "python3"
}

variable "git_commit" {
  type        = string
  description = "The commit the image is baked from (onehost:git-commit tag, manifest)."
  default     = "unknown"
}

variable "version" {
  type        = string
  description = "The image's version (onehost:version tag, manifest)."
  default     = "dev"
}

# --- docker source "local": the local instance image ----------------------------

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

# --- amazon-ebs source "aws": the AMI -----------------------------------------------

# Only Debian: the hosts' login (admin), the bake's packages (PostgreSQL 17's client, docker.io
# with compose v2) and cloud-init's default user are Debian trixie's.
variable "base_os" {
  type        = string
  description = "The official base image the AMI starts from: debian-13."
  default     = "debian-13"

  validation {
    condition     = contains(["debian-13"], var.base_os)
    error_message = "The base_os value must be debian-13."
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "subnet_id" {
  type        = string
  description = "Subnet of the builder instance; empty: the region's default VPC."
  default     = ""
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "root_volume_gib" {
  type        = number
  description = "Size of the encrypted gp3 root volume (and of the AMI's root snapshot)."
  default     = 8
}

variable "custom_endpoint_ec2" {
  type        = string
  description = "EC2 API endpoint; empty: real AWS. The aws test tier points it at moto."
  default     = ""
}

variable "ssh_timeout" {
  type        = string
  description = "How long Packer waits for SSH on the builder instance."
  default     = "10m"
}

variable "skip_create_ami" {
  type        = bool
  description = "Provision, check and clean the builder but create no AMI (smoke tests)."
  default     = false
}

variable "image_suite_args" {
  type        = string
  description = "Extra arguments for the image suite's pytest (e.g. a check expected to fail)."
  default     = ""
}

variable "manifest_path" {
  type        = string
  description = "Where the manifest post-processor records the AMI built; empty: build/packer-manifest.json."
  default     = ""
}

# No default address: Packer 1.6.6 opens an empty list to 0.0.0.0/0, so the template refuses
# to start an AMI build without one (onehost.pkr.hcl, local.ssh_sources_missing).
variable "ssh_source_cidrs" {
  type        = list(string)
  description = "Who may reach the builder's SSH port (the temporary security group), e.g. [\"203.0.113.7/32\"]; required for the AMI, CI passes its own address."
  default     = []

  validation {
    condition     = length([for cidr in var.ssh_source_cidrs : cidr if try(parseint(split("/", cidr)[1], 10), -1) == 0]) == 0
    error_message = "The ssh_source_cidrs value must not open the builder's SSH to everyone (/0): give your own address, e.g. [\"203.0.113.7/32\"]."
  }
}

variable "ssh_host" {
  type        = string
  description = "Address Packer connects to; empty: the builder instance's. Tests point it at a closed local port."
  default     = ""
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_username" {
  type        = string
  description = "Login of the builder; empty: the base image's (admin on Debian, ubuntu on Ubuntu)."
  default     = ""
}

variable "ssh_keypair_name" {
  type        = string
  description = "An existing EC2 key pair for the builder (with ssh_private_key_file); empty: a temporary one."
  default     = ""
}

variable "ssh_private_key_file" {
  type    = string
  default = ""
}
