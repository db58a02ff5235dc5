package import Foundation

/// A process a test starts and must stop: a private dev store or dev broker, or a service.
///
/// Output goes to a log file (never to the test's own output) so a failing test can show its tail.
/// `stop()` is idempotent; call it in a `defer` or at the end of the test. Thread-safe through `Process`'s own locking
/// for the calls used here; the class holds no other mutable state.
package final class ChildProcess: @unchecked Sendable {
    package let name: String
    package let logFile: URL
    private let process: Process

    /// Starts `executable` with `arguments`, inheriting the environment plus `environment`.
    /// - Throws: when the executable cannot be launched.
    package init(name: String, executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        self.name = name
        self.logFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("storefront-\(TestEnvironment.uniqueName(name)).log")
        _ = FileManager.default.createFile(atPath: self.logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: self.logFile)
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: executable)
        self.process.arguments = arguments
        self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.process.standardOutput = log
        self.process.standardError = log
        self.process.standardInput = FileHandle.nullDevice
        try self.process.run()
    }

    /// The process id while it runs.
    package var pid: Int32 { self.process.processIdentifier }

    /// Whether the process is still running.
    package var isRunning: Bool { self.process.isRunning }

    /// Sends SIGTERM and waits for the process to exit; sends SIGKILL if it has not exited after `grace`.
    package func stop(grace: Duration = .seconds(10)) async {
        guard self.process.isRunning else { return }
        self.process.terminate()
        let deadline = ContinuousClock.now + grace
        while self.process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if self.process.isRunning {
            Foundation.kill(self.process.processIdentifier, SIGKILL)
            while self.process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    package func kill() async {
        guard self.process.isRunning else { return }
        Foundation.kill(self.process.processIdentifier, SIGKILL)
        while self.process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Waits until the process has exited (polling, so no thread blocks) and returns its exit status.
    package func exitStatus() async -> Int32 {
        while self.process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return self.process.terminationStatus
    }

    /// The last `lines` lines of the process's output, for failure messages.
    package func logTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOf: self.logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until `condition` holds, polling every 50 ms; throws with the log tail if it does not within `timeout`
    /// or the process exits first.
    package func wait(
        for what: String,
        timeout: Duration = .seconds(30),
        until condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StartupError(description: "\(self.name) did not become \(what) in time. Log tail:\n\(self.logTail())")
    }

    package struct StartupError: Error, CustomStringConvertible {
        package let description: String
    }
}
