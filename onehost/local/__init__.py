"""This machine: shell and Docker calls, base images, the bake, the local instance, app images,
`onehost init` and the load generator."""
