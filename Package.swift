// swift-tools-version:6.0
//
// Reckon: a batch pipeline that turns LLM/SaaS usage exports and supplier invoices into
// FOCUS 1.3 cost datasets and reconciles the two. See README.md for the data flow.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Reckon",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "reckon-extract", targets: ["ReckonExtractJob"]),
        .executable(name: "reckon-transform", targets: ["ReckonTransformJob"]),
        .executable(name: "reckon-reconcile", targets: ["ReckonReconcileJob"]),
        .executable(name: "reckon-load", targets: ["ReckonLoadJob"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries from the system (apt: libxml2-dev, zlib1g-dev; found through pkg-config).
        .systemLibrary(name: "CReckonLibXML2", path: "Sources/CReckonLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]),
        .systemLibrary(name: "CReckonZlib", path: "Sources/CReckonZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // One inline function: a cache prefetch hint for the hash tables on the pricing path.
        .target(name: "CReckonPrefetch", path: "Sources/CReckonPrefetch"),
        // One inline function: the CSV reader finds where fields stop 64 bytes at a time (SSE2).
        .target(name: "CReckonScan", path: "Sources/CReckonScan"),

        // Libraries: all logic lives here, in data-flow order.
        .target(name: "ReckonCore", dependencies: ["CReckonZlib", "CReckonScan"], path: "Sources/Core",
                swiftSettings: strict),
        .target(name: "ReckonExtract", dependencies: [
                    "ReckonCore", "CReckonLibXML2",
                    .product(name: "Logging", package: "swift-log"),
                ], path: "Sources/Extract", swiftSettings: strict),
        .target(name: "ReckonPricing", dependencies: ["ReckonCore"], path: "Sources/Pricing",
                swiftSettings: strict),
        .target(name: "ReckonFocus", dependencies: ["ReckonCore"], path: "Sources/Focus",
                swiftSettings: strict),
        .target(name: "ReckonTransform", dependencies: [
                    "ReckonCore", "ReckonExtract", "ReckonPricing", "ReckonFocus", "CReckonPrefetch",
                    .product(name: "Logging", package: "swift-log"),
                ], path: "Sources/Transform", swiftSettings: strict),
        .target(name: "ReckonReconcile", dependencies: [
                    "ReckonCore", "ReckonFocus",
                    .product(name: "Logging", package: "swift-log"),
                ], path: "Sources/Reconcile", swiftSettings: strict),
        .target(name: "ReckonLoad", dependencies: [
                    "ReckonCore", "ReckonFocus",
                    .product(name: "Logging", package: "swift-log"),
                ], path: "Sources/Load", swiftSettings: strict),
        .target(name: "ReckonJobSupport", dependencies: [
                    "ReckonCore",
                    .product(name: "ArgumentParser", package: "swift-argument-parser"),
                    .product(name: "Logging", package: "swift-log"),
                ], path: "Sources/JobSupport", swiftSettings: strict),

        // One thin executable per stage.
        .executableTarget(name: "ReckonExtractJob", dependencies: ["ReckonJobSupport", "ReckonExtract"],
                          path: "Jobs/Extract", swiftSettings: strict),
        .executableTarget(name: "ReckonTransformJob", dependencies: ["ReckonJobSupport", "ReckonTransform"],
                          path: "Jobs/Transform", swiftSettings: strict),
        .executableTarget(name: "ReckonReconcileJob", dependencies: ["ReckonJobSupport", "ReckonReconcile"],
                          path: "Jobs/Reconcile", swiftSettings: strict),
        .executableTarget(name: "ReckonLoadJob", dependencies: ["ReckonJobSupport", "ReckonLoad"],
                          path: "Jobs/Load", swiftSettings: strict),

        // Tests.
        .testTarget(name: "CoreTests", dependencies: ["ReckonCore"], path: "Tests/CoreTests", exclude: ["Fixtures"]),
        .testTarget(name: "ExtractTests", dependencies: ["ReckonExtract", "ReckonCore"],
                    path: "Tests/ExtractTests", exclude: ["Fixtures"]),
        .testTarget(name: "PricingTests", dependencies: ["ReckonCore", "ReckonExtract", "ReckonPricing", "ReckonFocus", "ReckonTransform"],
                    path: "Tests/PricingTests", exclude: ["Fixtures"]),
        .testTarget(name: "PipelineTests", dependencies: [
                        "ReckonCore", "ReckonExtract", "ReckonPricing", "ReckonFocus", "ReckonTransform",
                        "ReckonReconcile", "ReckonLoad",
                        "ReckonExtractJob", "ReckonTransformJob", "ReckonReconcileJob", "ReckonLoadJob",
                    ], path: "Tests/PipelineTests"),
    ],
    swiftLanguageModes: [.v6]
)
