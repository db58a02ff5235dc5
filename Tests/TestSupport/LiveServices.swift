import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
package import ServiceKit
import Synchronization

/// One service to run on a live port for a test: which service, its own configuration overrides, and how to build its
/// application from a runtime (the test target knows the service's `buildApplication`).
package struct LiveService: Sendable {
    package let service: StorefrontService
    package let overrides: [String: String]
    /// The port to listen on; a free one when `nil`. Set it to start a service again where its peers expect it.
    package let port: Int?
    /// Builds the application and returns how to run it (`{ try await app.runService() }`).
    package let build: @Sendable (ServiceRuntime) async throws -> @Sendable () async throws -> Void

    package init(
        _ service: StorefrontService,
        overrides: [String: String] = [:],
        port: Int? = nil,
        build: @escaping @Sendable (ServiceRuntime) async throws -> @Sendable () async throws -> Void
    ) {
        self.service = service
        self.overrides = overrides
        self.port = port
        self.build = build
    }
}

/// Several services running together on live ports, each with its own fresh database, all on the test's topics, and
/// each configured with every other one's URL: what ``withLiveServices(_:peers:_:)`` hands its body.
package struct LiveServices: Sendable {
    package let runtimes: [StorefrontService: ServiceRuntime]
    package let urls: [StorefrontService: String]

    /// The runtime of a started service.
    package func runtime(_ service: StorefrontService) -> ServiceRuntime {
        guard let runtime = self.runtimes[service] else { preconditionFailure("\(service) was not started") }
        return runtime
    }

    /// The base URL of a started service or of a peer given to the launcher.
    package func url(_ service: StorefrontService) -> String {
        guard let url = self.urls[service] else { preconditionFailure("no URL for \(service)") }
        return url
    }
}

/// Starts `services` side by side (not nested in one another), runs `body` once every one answers `/health`, then
/// stops them all, also when `body` throws.
///
/// Each service gets a free port chosen up front, so that every service knows every other's URL before any starts
/// (the order and payment services call each other). `peers` adds URLs of peers that are not started here: a stub
/// that misbehaves on purpose, or an address where nothing listens.
package func withLiveServices<T: Sendable>(
    _ services: [LiveService],
    peers: [StorefrontService: String] = [:],
    _ body: (LiveServices) async throws -> T
) async throws -> T {
    var ports: [StorefrontService: Int] = [:]
    for live in services { ports[live.service] = try live.port ?? FreePort.find() }
    let urls = ports.mapValues { "http://127.0.0.1:\($0)" }.merging(peers) { own, _ in own }
    let peerURLs = Dictionary(uniqueKeysWithValues: urls.map { ($0.key.urlKey, $0.value) })
    var runtimes: [StorefrontService: ServiceRuntime] = [:]
    var runs: [@Sendable () async throws -> Void] = []
    /// A service whose run ended before the test did (it could not bind its port, say), and why.
    let ended = Mutex<(StorefrontService, String)?>(nil)
    for live in services {
        let values = peerURLs.merging([live.service.portKey: String(ports[live.service]!)]) { $1 }
            .merging(live.overrides) { $1 }
        let runtime = try await TestRuntimes.make(live.service, overrides: values)
        runtimes[live.service] = runtime
        let run = try await live.build(runtime)
        runs.append {
            do {
                try await run()
                ended.withLock { $0 = $0 ?? (live.service, "stopped") }
            } catch {
                ended.withLock { $0 = $0 ?? (live.service, "\(error)") }
                throw error
            }
        }
    }
    return try await withRunning(runs) {
        for (service, port) in ports {
            let healthy = await eventually(.seconds(60)) {
                if ended.withLock({ $0 }) != nil { return true }
                return await answersHealth(port: port)
            }
            if let (service, reason) = ended.withLock({ $0 }) { throw NotStarted(service: service, reason: reason) }
            guard healthy else { throw NotStarted(service: service, reason: "no answer to /health within 60 s") }
        }
        return try await body(LiveServices(runtimes: runtimes, urls: urls))
    }
}

/// Whether a service on loopback `port` answers `GET /health` with 200 (within 5 s).
package func answersHealth(port: Int) async -> Bool {
    let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
    return (try? await HTTPClient.shared.execute(request, timeout: .seconds(5)).status.code) == 200
}

/// A service of ``withLiveServices(_:peers:_:)`` did not start: it stopped (e.g. its port was taken) or did
/// not answer `/health` within a minute.
package struct NotStarted: Error, CustomStringConvertible {
    package let service: StorefrontService
    package let reason: String
    package var description: String { "\(self.service.executableName) did not start: \(self.reason)" }
}
