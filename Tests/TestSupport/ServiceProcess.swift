import AsyncHTTPClient
package import Foundation
import NIOCore
import NIOHTTP1
package import ServiceKit

/// A service executable of this build in a process of its own, configured like a test runtime (``TestRuntimes``):
/// for tests that must kill a service the way a crash does (SIGKILL) and start it again.
package enum ServiceProcess {
    /// Starts `service`'s executable (beside the dev broker's) with `values` (dotted keys, as
    /// ``TestRuntimes/values(_:overrides:)`` gives them) as environment variables, and waits until it answers
    /// `/health` on `port`.
    /// - Throws: when it cannot be launched, or stops or does not answer within a minute (its log is in the error).
    package static func start(
        _ service: StorefrontService,
        port: Int,
        values: [String: String]
    ) async throws
        -> ChildProcess
    {
        let directory = URL(fileURLWithPath: try TestEnvironment.devBrokerExecutable()).deletingLastPathComponent()
        var environment: [String: String] = [:]
        for (key, value) in values.merging([service.portKey: String(port)], uniquingKeysWith: { $1 }) {
            environment[key.uppercased().replacingOccurrences(of: ".", with: "_")] = value
        }
        let process = try ChildProcess(
            name: service.executableName,
            executable: directory.appendingPathComponent(service.executableName).path,
            arguments: [],
            environment: environment
        )
        let healthy = await eventually(.seconds(60)) {
            guard process.isRunning else { return true }
            return await answersHealth(port: port)
        }
        guard healthy, process.isRunning else {
            let log = (try? String(contentsOf: process.logFile, encoding: .utf8)) ?? ""
            await process.stop()
            throw NotStarted(service: service, reason: "no answer to /health; log: \(log.suffix(2000))")
        }
        return process
    }
}
