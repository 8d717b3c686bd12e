#!/usr/bin/env bash
# Regenerates Sources/FoveaONNX/Proto/onnx.pb.swift from scripts/proto/onnx.proto (onnx 1.23.2,
# Apache-2.0) with Debian's protoc (3.21) and protoc-gen-swift from swift-protobuf 1.39.0.
# The generated file is committed, so normal builds never need protoc or the plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/dummy"
cat > "$work/Package.swift" <<'PKG'
// swift-tools-version:6.0
import PackageDescription
let package = Package(name: "pgs",
  dependencies: [.package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0")],
  targets: [.executableTarget(name: "dummy", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")])])
PKG
echo 'print(1)' > "$work/Sources/dummy/main.swift"
(cd "$work" && swift build -c release --product protoc-gen-swift)
protoc --plugin=protoc-gen-swift="$work/.build/release/protoc-gen-swift" \
  --swift_out=Sources/FoveaONNX/Proto --swift_opt=Visibility=Public -I scripts/proto scripts/proto/onnx.proto
echo "wrote Sources/FoveaONNX/Proto/onnx.pb.swift"
