# Fovea — the two set-up commands are `make test` and (later) `make serve`; both bootstrap first.
SWIFT ?= swift
CONFIG ?= release

.PHONY: bootstrap build test bench fixtures proto clean

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	$(SWIFT) build -c $(CONFIG)

# Tests run in release mode: whole-network checks are 10-100x slower in debug builds.
test: build
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build

bench: build
	python3 scripts/bench_engine.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_images.py --fovea .build/$(CONFIG)/fovea

# Regenerate the engine fixtures (committed) from scripts/gen_fixtures.py with onnxruntime.
fixtures: bootstrap
	rm -rf Tests/Fixtures/onnx && python3 scripts/gen_fixtures.py

# Regenerate Sources/FoveaONNX/Proto/onnx.pb.swift (committed) from scripts/proto/onnx.proto.
proto:
	bash scripts/gen-onnx-proto.sh

clean:
	rm -rf .build
