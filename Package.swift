// swift-tools-version:6.1
import PackageDescription

/// Compiler settings applied to every Swift target in the loop at the bottom, so no target can drift.
let sharedSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// A service's executable target: what every service is built from, plus `extra` for what only it needs.
func service(_ name: String, path: String, extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "KafkaBus",
            "MongoStore",
            "ServiceAuth",
            "ServiceKit",
            "StorefrontContracts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ] + extra,
        path: "Services/\(path)",
        // The service's OpenAPI document, compiled into the binary and served at `GET /openapi.json`.
        resources: [.embedInCode("openapi.json")]
    )
}

/// A service's test target: the services it runs in-process (itself first, then real peers), on the test support,
/// plus `extra` for what only it needs.
func serviceTests(_ name: String, testing services: [String], extra: [Target.Dependency] = []) -> Target {
    .testTarget(
        name: name,
        dependencies: services.map { .target(name: $0) } + [
            "StorefrontContracts",
            "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ] + extra,
        path: "Tests/\(name)"
    )
}

let package = Package(
    name: "storefront",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dev-broker", targets: ["DevBroker"]),
        .executable(name: "bench-ceiling", targets: ["BenchCeiling"]),
        .executable(name: "storefront-admin", targets: ["StorefrontAdmin"]),
        .executable(name: "user-service", targets: ["UserService"]),
        .executable(name: "cart-service", targets: ["CartService"]),
        .executable(name: "product-service", targets: ["ProductService"]),
        .executable(name: "inventory-service", targets: ["InventoryService"]),
        .executable(name: "order-service", targets: ["OrderService"]),
        .executable(name: "payment-service", targets: ["PaymentService"]),
        .executable(name: "notification-service", targets: ["NotificationService"]),
    ],
    dependencies: [
        // Exact versions, so that a build next month (compose/Dockerfile, CI) resolves the same graph: Package.resolved
        // is not committed. The packages these bring in are pinned by them within their own ranges.
        // Hummingbird's default traits (swift-configuration integration, full Foundation) are not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", exact: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", exact: "1.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        // Already in the graph through jwt-kit; the SMTP tests make their certificates with them.
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter (and its dependencies) is not built.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
    ],
    targets: [
        // C libraries, linked from the system through pkg-config. Only their wrappers import them.
        .systemLibrary(
            name: "CMongoC",
            path: "Shared/CMongoC",
            pkgConfig: "libmongoc-1.0",
            providers: [.apt(["libmongoc-dev", "libbson-dev"])]
        ),
        .systemLibrary(
            name: "CRdKafka",
            path: "Shared/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),

        // Shared libraries.
        .target(
            name: "MongoStore",
            dependencies: [
                "CMongoC",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/MongoStore",
            exclude: ["README.md"]
        ),
        .target(
            name: "KafkaBus",
            dependencies: [
                "CRdKafka",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/KafkaBus",
            exclude: ["README.md"]
        ),
        .target(
            name: "ServiceAuth",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/ServiceAuth",
            exclude: ["README.md"]
        ),
        .target(
            name: "ServiceKit",
            dependencies: [
                "MongoStore",
                "KafkaBus",
                "ServiceAuth",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/ServiceKit",
            exclude: ["README.md"]
        ),

        .target(
            name: "StorefrontContracts",
            dependencies: [
                "KafkaBus",
                "MongoStore",
                "ServiceKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/StorefrontContracts",
            exclude: ["README.md"]
        ),

        // Services: one executable each, all built on ServiceKit (see Services/README.md).
        service(
            "UserService",
            path: "Users",
            extra: [.product(name: "HummingbirdBcrypt", package: "hummingbird-auth")]
        ),
        service("ProductService", path: "Products"),
        service("InventoryService", path: "Inventory"),
        service("CartService", path: "Carts"),
        service(
            "OrderService",
            path: "Orders",
            // StorefrontAdminKit: the dead letters' counts of GET /dead-letters, read as storefront-admin reads them.
            extra: [.product(name: "Crypto", package: "swift-crypto"), "StorefrontAdminKit"]
        ),
        service("PaymentService", path: "Payments"),
        service(
            "NotificationService",
            path: "Notifications",
            extra: [.product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),

        // Development tools.
        .executableTarget(
            name: "DevBroker",
            dependencies: [
                "KafkaBus",
                "ServiceKit",
                "StorefrontContracts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/DevBroker"
        ),

        // The ceiling that scripts/bench measures the services against: one bare Hummingbird route.
        .executableTarget(
            name: "BenchCeiling",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/BenchCeiling"
        ),

        // Operating the event log: the logic (tested) and the thin `storefront-admin` command line over it.
        .target(
            name: "StorefrontAdminKit",
            dependencies: [
                "KafkaBus",
                "ServiceKit",
                "StorefrontContracts",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/StorefrontAdminKit"
        ),
        .executableTarget(
            name: "StorefrontAdmin",
            dependencies: [
                "KafkaBus",
                "ServiceKit",
                "StorefrontAdminKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/StorefrontAdmin"
        ),

        // Tests: one suite per shared library, plus the support code they share.
        .target(
            name: "TestSupport",
            dependencies: [
                "KafkaBus",
                "MongoStore",
                "ServiceKit",
                "StorefrontContracts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "MongoStoreTests",
            dependencies: [
                "MongoStore",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/MongoStoreTests"
        ),
        .testTarget(name: "KafkaBusTests", dependencies: ["KafkaBus", "TestSupport"], path: "Tests/KafkaBusTests"),
        .testTarget(
            name: "ServiceAuthTests",
            dependencies: ["ServiceAuth", "TestSupport", .product(name: "HummingbirdTesting", package: "hummingbird")],
            path: "Tests/ServiceAuthTests"
        ),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: [
                "KafkaBus",
                "MongoStore",
                "ServiceAuth",
                "ServiceKit",
                "StorefrontContracts",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/ServiceKitTests"
        ),
        serviceTests("UserServiceTests", testing: ["UserService"]),
        serviceTests(
            "CartServiceTests",
            testing: ["CartService", "UserService", "ProductService", "InventoryService"]
        ),
        serviceTests("ProductServiceTests", testing: ["ProductService", "InventoryService"]),
        serviceTests("InventoryServiceTests", testing: ["InventoryService"]),
        serviceTests(
            "OrderServiceTests",
            testing: [
                "OrderService", "PaymentService", "InventoryService", "ProductService", "CartService", "UserService",
            ],
            extra: ["KafkaBus", "StorefrontAdminKit"]
        ),
        serviceTests("PaymentServiceTests", testing: ["PaymentService"]),
        serviceTests(
            "NotificationServiceTests",
            testing: ["NotificationService", "UserService"],
            extra: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        serviceTests(
            "StorefrontAdminTests",
            testing: [
                "CartService", "UserService", "ProductService", "InventoryService", "OrderService", "PaymentService",
                "NotificationService",
            ],
            extra: ["KafkaBus", "MongoStore", "StorefrontAdminKit"]
        ),
        // The seven services as real processes, started by scripts/stack; linked to none of them.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ServiceKit",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/EndToEndTests"
        ),
    ]
)

for target in package.targets where [.regular, .executable, .test].contains(target.type) {
    target.swiftSettings = (target.swiftSettings ?? []) + sharedSwiftSettings
}
