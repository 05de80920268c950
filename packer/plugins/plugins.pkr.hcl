# The plugins current Packer needs for ../onehost.pkr.hcl: `packer init packer/plugins/`.
#
# This file sits in a folder of its own because Debian's Packer 1.6.6, which builds the local
# image here, reads every *.pkr.hcl of the folder it is given and rejects a required_plugins
# block (that block arrived in Packer 1.7). Its amazon-ebs and docker builders are built in.
#
# Packer 1.14 or newer: HashiCorp now publishes its official plugins on its own release site,
# not GitHub, and from 1.14.0 on Packer installs `github.com/hashicorp/*` sources from there
# (hashicorp/packer-plugin-amazon issues 583, 586 and 596: earlier Packers fail on the missing
# GitHub SHA256SUMS of amazon 1.3.10 and later).
packer {
  required_version = ">= 1.14.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "~> 1.8"
    }
    docker = {
      source  = "github.com/hashicorp/docker"
      version = "~> 1.1"
    }
  }
}
