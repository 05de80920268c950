# The two commands: `make demo` (bake, start the local instance, deploy the example)
# and `make test` (every test tier). Both install what they need first.
VENV := .venv
PYTEST_ARGS ?=

.PHONY: demo test bootstrap lint clean

bootstrap:
	bash scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/onehost demo

# pytest's exit code 5 (no tests collected) is a failure, as any non-zero code is.
test: bootstrap
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	$(VENV)/bin/onehost instance reset --yes || true
