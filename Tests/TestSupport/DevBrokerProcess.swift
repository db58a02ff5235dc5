import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Drives a dev broker through its HTTP control API (`dev-broker`'s `DEV_BROKER_CONTROL` URL): take brokers down and
/// up, inject request errors, create topics. Works against the shared broker (`TestEnvironment.brokerControlURL()`)
/// or a private one (``DevBrokerProcess``).
///
/// Requests go through `HTTPClient.shared`. Stateless and `Sendable`. Each method throws
/// ``DevBrokerControl/RequestError`` when the broker answers with a non-2xx status.
package struct DevBrokerControl: Sendable {
    /// A non-2xx answer of the control API.
    package struct RequestError: Error, CustomStringConvertible {
        package let status: Int
        package let body: String
        package var description: String { "dev broker control API answered \(self.status): \(self.body)" }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    package let controlURL: String

    /// - Parameter controlURL: The `DEV_BROKER_CONTROL` base URL.
    package init(controlURL: String) {
        self.controlURL = controlURL.hasSuffix("/") ? String(controlURL.dropLast()) : controlURL
    }

    /// Takes broker `broker` (1...N) down; if `seconds` is given the dev broker brings it back up after that long.
    package func setDown(broker: Int, seconds: Int? = nil) async throws {
        let query = seconds.map { "?seconds=\($0)" } ?? ""
        try await self.post("/brokers/\(broker)/down\(query)", body: nil)
    }

    /// Brings broker `broker` back up.
    package func setUp(broker: Int) async throws {
        try await self.post("/brokers/\(broker)/up", body: nil)
    }

    /// Makes the next `count` requests of `api` (`produce`, `fetch`, `offsetcommit`, `joingroup`, ...) fail with the
    /// librdkafka error named `error` (e.g. `NOT_LEADER_FOR_PARTITION`).
    package func pushErrors(api: String, error: String, count: Int) async throws {
        struct Body: Encodable {
            let api: String
            let error: String
            let count: Int
        }
        try await self.post("/errors", body: try JSONEncoder().encode(Body(api: api, error: error, count: count)))
    }

    /// Creates `name` with `partitions` partitions (replication 1); creating an existing topic is not an error.
    /// - Parameter timeout: How long to wait for the answer (a broker under load takes its time).
    package func createTopic(_ name: String, partitions: Int, timeout: Duration = .seconds(10)) async throws {
        struct Body: Encodable {
            let name: String
            let partitions: Int
        }
        try await self.post(
            "/topics",
            body: try JSONEncoder().encode(Body(name: name, partitions: partitions)),
            timeout: timeout
        )
    }

    @discardableResult
    private func post(_ path: String, body: Data?, timeout: Duration = .seconds(10)) async throws -> String {
        var request = HTTPClientRequest(url: self.controlURL + path)
        request.method = .POST
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClient.shared.execute(
            request,
            timeout: .nanoseconds(Int64(timeout / .nanoseconds(1)))
        )
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard (200..<300).contains(Int(response.status.code)) else {
            throw RequestError(status: Int(response.status.code), body: text)
        }
        return text
    }
}

/// A private dev broker for one test (fault injection that must not disturb other tests): starts
/// `TestEnvironment.devBrokerExecutable()` with a bootstrap file in the temporary directory, waits for that file, and
/// exposes the broker's addresses and control methods.
///
/// Always stop it: prefer ``DevBrokerProcess/with(brokers:partitions:topics:_:)``, which does; otherwise call
/// ``stop()`` on every path. Thread-safe (immutable; `ChildProcess` is safe for the calls used).
package final class DevBrokerProcess: Sendable {
    /// `KAFKA_BROKERS` of this broker.
    package let bootstrap: String
    /// `DEV_BROKER_CONTROL` of this broker.
    package let controlURL: String
    /// The control API client.
    package let control: DevBrokerControl
    /// The process (its log file helps explain failures).
    package let process: ChildProcess

    private init(bootstrap: String, controlURL: String, process: ChildProcess) {
        self.bootstrap = bootstrap
        self.controlURL = controlURL
        self.control = DevBrokerControl(controlURL: controlURL)
        self.process = process
    }

    /// Starts a private dev broker and waits (up to 30 s) until it wrote its bootstrap file.
    /// - Parameters:
    ///   - brokers: `--brokers`.
    ///   - partitions: `--partitions` of the standard topics and of `topics`.
    ///   - topics: Extra `--topic`s.
    /// - Throws: `TestEnvironment.MissingVariable` without `STOREFRONT_DEV_BROKER`, or `ChildProcess.StartupError`
    ///   (with the log tail) when it does not come up.
    package static func start(
        brokers: Int = 1,
        partitions: Int = 3,
        topics: [String] = []
    ) async throws
        -> DevBrokerProcess
    {
        let executable = try TestEnvironment.devBrokerExecutable()
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("storefront-\(TestEnvironment.uniqueName("dev-broker")).env").path
        var arguments = ["--brokers", "\(brokers)", "--partitions", "\(partitions)", "--bootstrap-file", file]
        for topic in topics {
            arguments += ["--topic", topic]
        }
        let process = try ChildProcess(name: "dev-broker", executable: executable, arguments: arguments)
        defer { try? FileManager.default.removeItem(atPath: file) }
        var values: [String: String] = [:]
        do {
            try await process.wait(for: "ready") {
                // The file appears complete (it is renamed into place), so one read is enough.
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
                values = Self.parse(text)
                return values["KAFKA_BROKERS"] != nil && values["DEV_BROKER_CONTROL"] != nil
            }
        } catch {
            await process.stop()
            throw error
        }
        return DevBrokerProcess(
            bootstrap: values["KAFKA_BROKERS"]!,
            controlURL: values["DEV_BROKER_CONTROL"]!,
            process: process
        )
    }

    /// Starts a private dev broker, runs `body` with it and stops it afterwards, also when `body` throws.
    package static func with<T>(
        brokers: Int = 1,
        partitions: Int = 3,
        topics: [String] = [],
        _ body: (DevBrokerProcess) async throws -> T
    ) async throws -> T {
        let broker = try await self.start(brokers: brokers, partitions: partitions, topics: topics)
        do {
            let result = try await body(broker)
            await broker.stop()
            return result
        } catch {
            await broker.stop()
            throw error
        }
    }

    /// See ``DevBrokerControl/setDown(broker:seconds:)``.
    package func setDown(broker: Int, seconds: Int? = nil) async throws {
        try await self.control.setDown(broker: broker, seconds: seconds)
    }

    /// See ``DevBrokerControl/setUp(broker:)``.
    package func setUp(broker: Int) async throws {
        try await self.control.setUp(broker: broker)
    }

    /// See ``DevBrokerControl/pushErrors(api:error:count:)``.
    package func pushErrors(api: String, error: String, count: Int) async throws {
        try await self.control.pushErrors(api: api, error: error, count: count)
    }

    /// See ``DevBrokerControl/createTopic(_:partitions:)``.
    package func createTopic(_ name: String, partitions: Int) async throws {
        try await self.control.createTopic(name, partitions: partitions)
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 10 s). Idempotent.
    package func stop() async {
        await self.process.stop()
    }

    /// Parses `NAME=value` lines.
    private static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }
}
