package import Configuration
import Foundation
package import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Whether the process runs for real or on a developer's machine.
package enum AppEnvironment: String, Sendable {
    case production
    case development
}

/// How log lines are written.
package enum LogFormat: String, Sendable {
    /// One JSON object per line, for log collectors.
    case json
    /// swift-log's plain text, for reading in a terminal.
    case text
}

/// What every service reads at startup, typed and validated once.
///
/// Keys (root scope; environment variable in brackets):
/// - `app.env` (`APP_ENV`): `production` (default) or `development`.
/// - `log.level` (`LOG_LEVEL`): trace … critical; default `info`. `log.format` (`LOG_FORMAT`): `json` (default) or `text`.
/// - `http.host` (`HTTP_HOST`): bind address; default `127.0.0.1`.
/// - `<service>.port` (`USER_PORT`, `CART_PORT`, …): this service's port; default the original's (8080, 9000, …).
/// - `<service>.url` (`USER_URL`, …): where to reach each peer; default `http://127.0.0.1:<its port>`.
/// - `http.client.timeout.ms` (`HTTP_CLIENT_TIMEOUT_MS`): limit of every outgoing REST call; default 5000.
/// - `ready.timeout.ms` (`READY_TIMEOUT_MS`): limit of each `/ready` check; default 2000.
/// - `instance.id` (`INSTANCE_ID`): this process among the replicas of its service, in every log line (`instance.id`)
///   and every response (`X-Instance-ID`); default `<host name>-<pid>`.
///
/// The store, broker and token settings have their own types (``MongoStoreConfiguration``, ``KafkaBusConfiguration``,
/// ``AuthConfiguration``), read by ``ServiceRuntime``.
package struct ServiceConfiguration: Sendable {
    package var service: StorefrontService
    package var environment: AppEnvironment
    package var logLevel: Logger.Level
    package var logFormat: LogFormat
    package var host: String
    package var port: Int
    package var httpClientTimeout: Duration
    package var readyTimeout: Duration
    /// How long a service keeps serving after SIGTERM, answering `/ready` with 503, before it closes its listener
    /// (`SHUTDOWN_DRAIN_MS`, default 5000; 0 skips the drain): time for a load balancer to stop sending to it.
    package var shutdownDrain: Duration
    package var peerURLs: [StorefrontService: String]
    /// Which replica of the service this process is (`INSTANCE_ID`), so logs and responses show who answered.
    package var instanceID: String

    /// - Throws: ``ConfigurationError`` naming the key whose value is malformed.
    package init(service: StorefrontService, reader: ConfigReader) throws {
        self.service = service
        self.environment = try Self.parse(reader, "app.env", default: .production, AppEnvironment.init(rawValue:))
        self.logLevel = try Self.parse(reader, "log.level", default: .info, Logger.Level.init(rawValue:))
        self.logFormat = try Self.parse(reader, "log.format", default: .json, LogFormat.init(rawValue:))
        self.host = reader.string(forKey: "http.host", default: "127.0.0.1")
        self.port = try Self.parse(reader, ConfigKey(service.portKey), default: service.defaultPort) { text in
            Int(text).flatMap { (0...65535).contains($0) ? $0 : nil }
        }
        self.httpClientTimeout = .milliseconds(
            try Self.parse(reader, "http.client.timeout.ms", default: 5000, Self.positive)
        )
        self.readyTimeout = .milliseconds(try Self.parse(reader, "ready.timeout.ms", default: 2000, Self.positive))
        self.shutdownDrain = .milliseconds(
            try Self.parse(reader, "shutdown.drain.ms", default: 5000) { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        )
        var peers: [StorefrontService: String] = [:]
        for peer in StorefrontService.allCases {
            let url = reader.string(forKey: ConfigKey(peer.urlKey), default: peer.defaultURL)
            guard URL(string: url)?.host != nil else {
                throw ConfigurationError(key: peer.urlKey, value: url, expected: "an http(s) URL")
            }
            peers[peer] = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        self.peerURLs = peers
        self.instanceID = reader.string(forKey: "instance.id") ?? Self.defaultInstanceID()
    }

    /// `<host name>-<pid>`: unique among the replicas whether they share a machine (local stack) or not (containers).
    private static func defaultInstanceID() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let status = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) }
        }
        let host = status == 0 ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : "localhost"
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    package var isDevelopment: Bool { self.environment == .development }

    private static func positive(_ text: String) -> Int? {
        Int(text).flatMap { $0 > 0 ? $0 : nil }
    }

    private static func parse<Value>(
        _ reader: ConfigReader,
        _ key: ConfigKey,
        default defaultValue: Value,
        _ convert: (String) -> Value?
    ) throws -> Value {
        guard let text = reader.string(forKey: key) else { return defaultValue }
        guard let value = convert(text.lowercased() == text ? text : text.lowercased()) ?? convert(text) else {
            throw ConfigurationError(key: "\(key)", value: text, expected: "\(Value.self)")
        }
        return value
    }
}

/// A configuration value is present but unusable; the service refuses to start and says which key.
package struct ConfigurationError: Error, CustomStringConvertible {
    package let key: String
    package let value: String
    package let expected: String

    package init(key: String, value: String, expected: String) {
        self.key = key
        self.value = value
        self.expected = expected
    }

    package var description: String {
        "configuration key '\(self.key)' has the value '\(self.value)'; expected \(self.expected)"
    }
}

extension ConfigReader {
    /// The reader every service builds once in its `main`: explicit overrides (tests), then the environment,
    /// where `mongo.uri` is `MONGO_URI`, `user.port` is `USER_PORT` and so on.
    /// - Parameter environment: the variables to read; the process environment by default.
    package static func storefront(
        overrides: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ConfigReader {
        var providers: [any ConfigProvider] = []
        if !overrides.isEmpty {
            let values = overrides.map { key, value in
                (AbsoluteConfigKey(stringLiteral: key), ConfigValue(.string(value), isSecret: false))
            }
            providers.append(InMemoryProvider(values: Dictionary(uniqueKeysWithValues: values)))
        }
        providers.append(
            EnvironmentVariablesProvider(
                environmentVariables: environment,
                secretsSpecifier: .specific(["JWT_SECRET", "MONGO_URI", "SMTP_PASSWORD", "ADMIN_PASSWORD"])
            )
        )
        return ConfigReader(providers: providers)
    }
}
