// swift-tools-version:6.2
import PackageDescription

// Compute modules are built with unchecked arithmetic/exclusivity and a real CPU target so that
// SIMD code and auto-vectorised loops use AVX2/FMA (see ../shared/reference/swift-engine.md §6).
// The -O/-Ounchecked flags only apply to release builds; `make test` builds in release mode.
#if arch(x86_64)
let cpuFlags = ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
let computeFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .unsafeFlags(cpuFlags),
]

let package = Package(
    name: "Fovea",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fovea", targets: ["fovea"]),
        .library(name: "FoveaONNX", targets: ["FoveaONNX"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // libjpeg/libpng behind a C shim whose setjmp/longjmp error handling turns a corrupt file into an error
        .target(name: "CImageShim", dependencies: ["CJPEG", "CPNG"], cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "FoveaTensor", dependencies: ["CBLAS"], swiftSettings: computeFlags),
        .target(name: "FoveaImage", dependencies: ["CImageShim", "FoveaTensor"], swiftSettings: computeFlags),
        .target(name: "FoveaONNX",
                dependencies: ["FoveaTensor", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: computeFlags),
        .target(name: "FoveaModel",
                dependencies: ["FoveaONNX", "FoveaImage", "FoveaTensor", .product(name: "Yams", package: "Yams")],
                swiftSettings: computeFlags),
        .target(name: "FoveaExplain",
                dependencies: ["FoveaModel", "FoveaImage", "FoveaONNX", "FoveaTensor"],
                swiftSettings: computeFlags),
        .target(name: "FoveaServer",
                dependencies: ["FoveaModel", "FoveaExplain", "FoveaImage", "FoveaTensor", .product(name: "Yams", package: "Yams"),
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "AsyncHTTPClient", package: "async-http-client"),
                               .product(name: "Prometheus", package: "swift-prometheus")]),
        // batch jobs: inputs, worker processes, resumable parts, outputs and metrics; they reuse the online handlers
        .target(name: "FoveaBatch",
                dependencies: ["FoveaModel", "FoveaExplain", "FoveaImage", "FoveaTensor", "FoveaServer",
                               .product(name: "Yams", package: "Yams"),
                               .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .executableTarget(name: "fovea",
                          dependencies: ["FoveaONNX", "FoveaTensor", "FoveaImage", "FoveaModel", "FoveaServer", "FoveaExplain", "FoveaBatch", .product(name: "Yams", package: "Yams"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "AsyncHTTPClient", package: "async-http-client")],
                          swiftSettings: computeFlags),
        .testTarget(name: "FoveaTensorTests", dependencies: ["FoveaTensor"]),
        .testTarget(name: "FoveaONNXTests", dependencies: ["FoveaONNX", "FoveaTensor"]),
        .testTarget(name: "CLITests", dependencies: ["fovea"]),
        .testTarget(name: "FoveaImageTests", dependencies: ["FoveaImage", "FoveaTensor"]),
        .testTarget(name: "FoveaServerTests", dependencies: ["FoveaServer", "FoveaModel", .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .testTarget(name: "FoveaExplainTests", dependencies: ["FoveaExplain", "FoveaModel", "FoveaImage", "FoveaONNX", "FoveaTensor"]),
        .testTarget(name: "FoveaBatchTests", dependencies: ["FoveaBatch", "FoveaModel"]),
        .testTarget(name: "FoveaModelTests", dependencies: ["FoveaModel", "FoveaImage", "FoveaONNX", "FoveaTensor"]),
    ],
    swiftLanguageModes: [.v5]
)
