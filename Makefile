# Evently — the local stack and the test suite, no Docker needed.
# `make up` then `make test` is the whole quick start.

SHELL := /bin/bash
STACK := scripts/stack.sh
TOPIC ?= booking.create

.PHONY: up down status logs infra test tail console-consumer bench fmt lint check-deploy check-stack

## Build release binaries and start PostgreSQL, Apache Kafka, FerretDB, Mailpit, Jaeger and all six services (with demo data).
up:
	@$(STACK) up

## Stop exactly what `make up` started.
down:
	@$(STACK) down

## What runs and what is down.
status:
	@$(STACK) status

## Follow every service's log.
logs:
	@tail -n 20 -F .evently/logs/*.log

## Only the infrastructure tests need: PostgreSQL, Apache Kafka, FerretDB (MongoDB), Mailpit (mail), Jaeger (traces).
infra:
	@$(STACK) infra

## Run the whole test suite against real PostgreSQL, Kafka and FerretDB (started if needed).
test: infra
	@$(STACK) drop-test-topics
	@source .evently/env && cargo test --workspace --no-fail-fast; status=$$?; $(STACK) drop-test-topics; exit $$status

## Print every message of a topic as it arrives: make tail TOPIC=booking.events
## (the release binary `make up` built; a debug build only when there is none)
tail:
	@args="$(TOPIC) $(if $(FROM_BEGINNING),--from-beginning,)"; \
	if [ -x target/release/evently-tail ]; then exec target/release/evently-tail $$args; \
	else exec cargo run --quiet -p kafka-bus --bin evently-tail -- $$args; fi

## The same topic through Kafka's own console consumer (from the fetched jars): make console-consumer TOPIC=booking.create
console-consumer:
	@demo-scripts/tail-topics.sh --console $(if $(FROM_BEGINNING),--from-beginning,) $(TOPIC)

## The standard flash sale (10,000 users, 5,000 seats) and a multi-event run against `make up`.
bench:
	@scripts/bench.sh

fmt:
	@cargo fmt --all

lint:
	@cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings

## Validate docker-compose.yml, the k8s manifests, the demo scripts, the Mermaid diagrams and the database doc (no Docker engine needed).
check-deploy:
	@tests-deploy/check-compose.sh
	@tests-deploy/check-k8s.sh
	@tests-deploy/check-demo-scripts.sh
	@tests-deploy/check-mermaid.sh
	@python3 tests-deploy/check-db-doc.py

## Against `make up`: the Postman collection in newman, tailing a sale with kcat and Kafka's console consumer, the monitor page and Mailpit in headless Chromium, a booking's mail in Mailpit and its trace in Jaeger.
check-stack:
	@REQUIRE_STACK=1 tests-deploy/check-postman.sh
	@tests-deploy/check-tail.sh
	@tests-browser/run.sh
	@tests-deploy/check-observability.sh
