# Fovea — the two set-up commands are `make test` and `make serve`; both bootstrap first.
SWIFT ?= swift
CONFIG ?= release

.PHONY: bootstrap build serve test bench fixtures proto clean

# Serves endpoint.yml + deployment.yml (the default classifier, all traffic) and deployment-detection.yml (the demo
# detector, reached with the header azureml-model-deployment: detector) on http://127.0.0.1:$(PORT)/score; state in .fovea/.
PORT ?= 8080

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	$(SWIFT) build -c $(CONFIG)

serve: build
	.build/$(CONFIG)/fovea serve --port $(PORT) --state-dir .fovea --endpoint-file endpoint.yml --deployment-file deployment.yml --deployment-file deployment-detection.yml

# Tests run in release mode: whole-network checks are 10-100x slower in debug builds.
test: build
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build

bench: build
	python3 scripts/bench_engine.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_images.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_server.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_explain.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_batch.py --fovea .build/$(CONFIG)/fovea
	python3 scripts/bench_detection.py --fovea .build/$(CONFIG)/fovea

# Regenerate the engine fixtures (committed) from scripts/gen_fixtures.py with onnxruntime.
fixtures: bootstrap
	rm -rf Tests/Fixtures/onnx && python3 scripts/gen_fixtures.py

# Regenerate Sources/FoveaONNX/Proto/onnx.pb.swift (committed) from scripts/proto/onnx.proto.
proto:
	bash scripts/gen-onnx-proto.sh

clean:
	rm -rf .build
