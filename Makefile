# The two commands of the README, and the pieces they are made of.
.PHONY: demo test bench docs clean

demo:  ## run the demo playbook (against the local emulator unless TELENOR_CLIENT_ID/SECRET are set)
	@scripts/demo.sh

test:  ## the whole test suite, as CI runs it
	@scripts/test.sh

bench:  ## print the cache benchmark figures
	@scripts/bootstrap.sh core219 && .venv/core219/bin/python scripts/bench.py

docs:  ## build the HTML docs site (reference and user guide) into docs/build/html
	@scripts/build-docs.sh

clean:
	rm -rf build .venv tests/output docs/build
