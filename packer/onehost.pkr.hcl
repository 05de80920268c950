# One template, one bake, two targets:
#   amazon-ebs.aws  the AMI: the bake over SSH to a builder instance, then the image suite,
#                   then cleanup; a failing step fails the build and no AMI is made.
#   docker.local    the local instance image: the bake and cleanup in a build container
#                   (no systemd there: onehost/local/bake.py runs the image suite on a booted
#                   candidate and tags the image only when it passes).
# Inputs: variables.pkr.hcl. Valid for Packer 1.6.6 (Debian bookworm's) and current Packer.
#
# What a newer Packer adds, left out because 1.6.6 rejects it (current Packer reads the plugin
# versions from plugins/plugins.pkr.hcl, a folder 1.6.6 does not read; amazon ~> 1.8 has all):
#   - IMDSv2 on the builder: metadata_options { http_endpoint = "enabled", http_tokens =
#     "required", http_put_response_hop_limit = 1 } (Packer 1.7.0, CHANGELOG "Add IMDSv2
#     support for AWS EBS builder", GH-10546; the amazon plugin defaults http_tokens to
#     "optional", builder/common/run_config.go);
#   - imds_support = "v2.0": instances launched from the AMI default to IMDSv2 only (amazon
#     plugin 1.2.2 for amazon-ebs, builder/common/ami_config.go);
#   - deprecate_at = timeadd(timestamp(), "2160h"): the AMI marked deprecated after 90 days
#     (amazon plugin 1.0.1);
#   - a `data "amazon-ami"` source in place of source_ami_filter (Packer 1.7.0);
#   - skip_create_ami = var.skip_create_ami (Packer 1.7.0; 1.6.6: the last provisioner stops
#     the build instead);
#   - temporary_security_group_source_public_ip = true: the builder's SSH open to the address
#     Packer itself is seen from (amazon plugin 1.1.4), in place of ssh_source_cidrs.
# Until then the builder runs with IMDSv1 allowed, and the hosts' launch settings must require
# IMDSv2 (HttpTokens=required; `onehost hosts launch` does).

locals {
  # The official images, by owner account and name; most_recent picks the latest patched one.
  bases = {
    "debian-13" = {
      owner        = "136693071363"
      name         = "debian-13-amd64-*"
      ssh_username = "admin"
      root_device  = "/dev/xvda"
    }
  }
  base = local.bases[var.base_os]

  # Packer 1.6.6 opens the builder's SSH to 0.0.0.0/0 when temporary_security_group_source_cidrs
  # is empty (builder/amazon/common/run_config.go, v1.6.6), and `packer validate` prepares
  # every source, so the refusal cannot be a config error without breaking validation of the
  # docker source. Instead the base image filter then matches nothing and names the fix: the
  # build stops at the first lookup, before any key pair, group or instance exists.
  ssh_sources_missing = length(var.ssh_source_cidrs) == 0
  base_image_name     = local.ssh_sources_missing ? "ssh_source_cidrs is empty: pass -var 'ssh_source_cidrs=[\"<your address>/32\"]'" : local.base.name

  now        = timestamp()
  build_date = formatdate("YYYY-MM-DD'T'hh:mm:ssZ", local.now)
  ami_name   = "onehost-${var.base_os}-${formatdate("YYYYMMDD-hhmmss", local.now)}"

  # On the AMI and on its snapshot. {{ .SourceAMI }} is the builder's template variable
  # (the image the filter chose), rendered when the tags are applied.
  image_tags = {
    Name                 = local.ami_name
    "onehost:role"       = "host"
    "onehost:version"    = var.version
    "onehost:git-commit" = var.git_commit
    "onehost:base-os"    = var.base_os
    "onehost:base-ami"   = "{{ .SourceAMI }}"
    "onehost:build-date" = local.build_date
  }

  manifest_path = var.manifest_path != "" ? var.manifest_path : "${path.root}/../build/packer-manifest.json"

  # shell-local lines (amazon-ebs.aws) that start writing the builder's private key into a
  # mode-600 file in a scratch dir removed on exit; the provisioner adds the key and the
  # closing PRIVATE_KEY line, as build.* values exist only inside provisioners.
  open_builder_key = [
    "set -eu",
    "scratch=$(mktemp -d)",
    "trap 'rm -rf \"$scratch\"' EXIT",
    "key=\"$scratch/builder_key\"",
    ": > \"$scratch/known_hosts\"",
    "cd '${path.root}/..'",
    "(umask 077 && cat > \"$key\") <<'PRIVATE_KEY'",
  ]
  # pyinfra to the builder: its SSH key, a fresh known_hosts, root through sudo.
  pyinfra_aws = join(" ", [
    "'${var.pyinfra}' --yes --sudo --ssh-key \"$key\"",
    "--data ssh_known_hosts_file=\"$scratch/known_hosts\" --data ssh_strict_host_key_checking=accept-new",
    "--group-data deploy/group_data --data bake_target=aws",
  ])
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

source "amazon-ebs" "aws" {
  region              = var.region
  custom_endpoint_ec2 = var.custom_endpoint_ec2
  subnet_id           = var.subnet_id
  instance_type       = var.instance_type

  source_ami_filter {
    filters = {
      name                = local.base_image_name
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [local.base.owner]
    most_recent = true
  }

  ssh_username         = var.ssh_username != "" ? var.ssh_username : local.base.ssh_username
  ssh_timeout          = var.ssh_timeout
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_keypair_name     = var.ssh_keypair_name
  ssh_private_key_file = var.ssh_private_key_file
  # Never empty here: see local.ssh_sources_missing.
  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  # The builder's root volume; the AMI's root snapshot is taken from it, so the AMI
  # inherits gp3, the size and the encryption (no ami_block_device_mappings needed).
  # gp3 wants explicit iops and throughput on 1.6.6 (these are gp3's free baseline).
  launch_block_device_mappings {
    device_name           = local.base.root_device
    volume_type           = "gp3"
    volume_size           = var.root_volume_gib
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  run_tags = {
    Name           = "onehost-bake ${local.ami_name}"
    "onehost:role" = "builder"
  }
  run_volume_tags = {
    Name           = "onehost-bake ${local.ami_name}"
    "onehost:role" = "builder"
  }

  ami_name        = local.ami_name
  ami_description = "onehost host image ${var.version} (${var.git_commit}) on ${var.base_os}"
  tags            = local.image_tags
  snapshot_tags   = local.image_tags
}

build {
  sources = ["source.docker.local", "source.amazon-ebs.aws"]

  # 1. The bake: everything the same on every host.
  provisioner "shell-local" {
    only = ["docker.local"]
    inline = [
      "cd '${path.root}/..'",
      "'${var.pyinfra}' --yes --group-data deploy/group_data @docker/${build.ID} deploy/bake.py",
    ]
  }

  provisioner "shell-local" {
    only = ["amazon-ebs.aws"]
    inline = concat(local.open_builder_key, [
      chomp(build.SSHPrivateKey),
      "PRIVATE_KEY",
      "${local.pyinfra_aws} --ssh-user '${build.User}' --ssh-port '${build.Port}' '${build.Host}' deploy/bake.py",
    ])
  }

  # 2. The image suite (testinfra): a failing check fails the build, so no AMI is made.
  provisioner "shell-local" {
    only = ["amazon-ebs.aws"]
    inline = concat(local.open_builder_key, [
      chomp(build.SSHPrivateKey),
      "PRIVATE_KEY",
      "'${var.python}' -m pytest packer/image_suite -p no:cacheprovider --image-host 'ssh://${build.User}@${build.Host}:${build.Port}' --image-ssh-key \"$key\" ${var.image_suite_args}",
    ])
  }

  # 3. Cleanup: host keys, machine-id, builder keys, caches and logs; last, before the snapshot.
  provisioner "shell-local" {
    only = ["docker.local"]
    inline = [
      "cd '${path.root}/..'",
      "'${var.pyinfra}' --yes --group-data deploy/group_data @docker/${build.ID} deploy/cleanup.py",
    ]
  }

  provisioner "shell-local" {
    only = ["amazon-ebs.aws"]
    inline = concat(local.open_builder_key, [
      chomp(build.SSHPrivateKey),
      "PRIVATE_KEY",
      "${local.pyinfra_aws} --ssh-user '${build.User}' --ssh-port '${build.Port}' '${build.Host}' deploy/cleanup.py",
    ])
  }

  # 4. skip_create_ami: stop here, checked and cleaned, before the AMI is made. Packer 1.6.6
  # has no skip_create_ami option (newer amazon plugins do), so the stop fails the build.
  provisioner "shell-local" {
    only   = ["amazon-ebs.aws"]
    inline = [var.skip_create_ami ? "echo 'skip_create_ami: stopping before the AMI is created' >&2; exit 1" : "true"]
  }

  post-processor "docker-tag" {
    only       = ["docker.local"]
    repository = var.image_repository
    tags       = [var.image_tag]
  }

  # What was built: the AMI id per region, with the inputs that made it.
  post-processor "manifest" {
    only       = ["amazon-ebs.aws"]
    output     = local.manifest_path
    strip_path = true
    custom_data = {
      git_commit = var.git_commit
      version    = var.version
      base_os    = var.base_os
      base_ami   = build.SourceAMI
      build_date = local.build_date
    }
  }
}
