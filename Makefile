# The two commands of the README, and the pieces they are made of.
.PHONY: demo test sanity unit integration lint bench clean

demo:  ## run the demo playbook (against the local emulator unless TELENOR_CLIENT_ID/SECRET are set)
	@scripts/demo.sh

test:  ## the whole test suite, as CI runs it
	@scripts/test.sh

bench:  ## print the cache benchmark figures
	@scripts/bootstrap.sh core219 && .venv/core219/bin/python scripts/bench.py

clean:
	rm -rf build .venv tests/output
